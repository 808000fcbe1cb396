/* What every analysis kind's start form and result page share: read a json_script block,
 * fetch every page of an API list, and POST a run to /api/analysis-runs/ — on success go to
 * the run's page, on a 400 show each field's message ("parameters.x: …") in the error box.
 * Load it before the kind's own script (defer keeps the order). No inline scripts (CSP). */
(function () {
  "use strict";

  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  /* Every row of a paginated API list (follows "next"). */
  function getAll(url, acc) {
    acc = acc || [];
    return fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (body) {
        acc = acc.concat(Array.isArray(body) ? body : (body.results || []));
        return body.next ? getAll(body.next, acc) : acc;
      });
  }

  /* An error body as lines "field.sub: message". */
  function flatten(errors, prefix) {
    if (typeof errors === "string") return [prefix ? prefix + ": " + errors : errors];
    if (Array.isArray(errors)) return [].concat.apply([], errors.map(function (e) { return flatten(e, prefix); }));
    return [].concat.apply([], Object.keys(errors || {}).map(function (k) {
      return flatten(errors[k], prefix ? prefix + "." + k : k);
    }));
  }

  /* POST body ({kind, inputs, parameters}) to form's data-api with its CSRF token. */
  function postRun(form, body, errorNode) {
    var token = form.querySelector("input[name=csrfmiddlewaretoken]");
    if (errorNode) errorNode.hidden = true;
    return fetch(form.getAttribute("data-api"), {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", Accept: "application/json",
                "X-CSRFToken": token ? token.value : ""}
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) {
          var lines = answer.message ? [answer.message] : flatten(answer.errors || answer, "");
          throw new Error(lines.join("\n"));
        }
        window.location.assign("/analysis-runs/" + answer.id + "/");
      });
    }).catch(function (exc) {
      if (!errorNode) return;
      errorNode.textContent = exc.message;
      errorNode.hidden = false;
    });
  }

  window.labdbRuns = {readJSON: readJSON, getAll: getAll, flatten: flatten, postRun: postRun};
})();
