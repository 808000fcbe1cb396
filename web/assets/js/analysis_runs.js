/* Analysis run page: follow status, progress and log by polling the run's status.json
 * (reload once it finishes so the kind's result renders); copy the provenance JSON.
 * No inline scripts (CSP). */
(function () {
  "use strict";
  var POLL_MS = 1500;

  function follow(card) {
    var url = card.dataset.runStatusUrl;
    var bar = document.getElementById("run-progress");
    var text = card.querySelector("[data-run-progress-text]");
    var log = document.getElementById("run-log");
    function poll() {
      fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (s) {
          if (bar) bar.value = s.finished ? 100 : s.progress_pct;
          if (text) text.textContent = s.status + " · " + s.progress_pct + " %";
          if (log) log.textContent = s.log;
          if (s.finished) { window.location.reload(); return; }
          window.setTimeout(poll, POLL_MS);
        })
        .catch(function () { window.setTimeout(poll, POLL_MS * 4); });
    }
    window.setTimeout(poll, POLL_MS);
  }

  function copyButton(button) {
    button.addEventListener("click", function () {
      var node = document.getElementById(button.dataset.copyTarget);
      if (!node || !navigator.clipboard) return;
      navigator.clipboard.writeText(node.textContent).then(function () {
        button.textContent = "Copied";
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var card = document.getElementById("analysis-run");
    if (card && (card.dataset.status === "queued" || card.dataset.status === "running")) follow(card);
    document.querySelectorAll("[data-copy-target]").forEach(copyButton);
  });
})();
