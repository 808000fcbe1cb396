"""Content-Security-Policy in a real browser: no page violates it, every HTML page carries it.

Against ``app_server`` (``make run``'s server, demo data): crawl every same-origin page
reachable from the dashboard, as the demo member and as the curator (bounded, logout and
downloads skipped), plus the admin (index and a change form) and the API docs (Swagger UI,
Redoc). A listener added before any page script records every ``securitypolicyviolation``
event; the page fixtures record console errors and uncaught exceptions.
"""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urlparse

import pytest

pytestmark = pytest.mark.browser

MAX_PAGES = 60
# Not pages: leaving the session, files and data endpoints (downloads, plots, JSON, exports).
SKIP = re.compile(
    r"^/(accounts/logout|admin/|api/|static/|media/|csp-report/)"
    r"|/(download|preview\.png|series\.json|status\.json|structures\.json|export)"
    r"|\.(png|json|csv|xlsx|zip|txt|cif|inp|dat)$"
)
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(
    `${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} in ${e.sourceFile || '?'}` +
    `:${e.lineNumber} ${e.sample || ''}`.trim());
});
"""
# getAttribute, not .href: an <a> inside an SVG (plotly's mode bar) has no string .href.
LINKS = """() => Array.from(document.querySelectorAll('a[href]'),
  a => new URL(a.getAttribute('href'), document.baseURI).href)"""


class Watch:
    """Violations and HTML responses without the CSP header, collected across navigations."""

    def __init__(self, page, base_url: str):
        self.page, self.base = page, base_url
        self.violations: list[str] = []
        self.without_header: list[str] = []
        self.failed: list[str] = []
        self.html_pages = 0
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("response", self._on_response)

    def _on_response(self, response):
        if response.request.resource_type != "document":
            return
        if response.status >= 500:
            self.failed.append(f"{response.status} {response.url}")
        if response.headers.get("content-type", "").startswith("text/html"):
            self.html_pages += 1
            policy = response.headers.get("content-security-policy", "")
            if "script-src 'self'" not in policy:
                self.without_header.append(response.url)

    def visit(self, url: str, *, ready: str | None = None) -> None:
        """Open ``url``, wait for it (and for ``ready``, a selector), collect its violations."""
        self.page.goto(url, wait_until="load")
        if ready:
            self.page.wait_for_selector(ready, timeout=30_000)
        self.page.wait_for_timeout(300)  # deferred scripts, plots and fetches settle
        found = self.page.evaluate("() => window.__cspViolations || []")
        self.violations += [f"{urlparse(url).path}: {v}" for v in found]

    def crawl(self, start: str = "/") -> list[str]:
        """Breadth-first over same-origin links from ``start``; returns the paths visited."""
        queue, seen = [self.base + start], set()
        visited: list[str] = []
        while queue and len(visited) < MAX_PAGES:
            url = queue.pop(0)
            path = urlparse(url).path + (f"?{urlparse(url).query}" if urlparse(url).query else "")
            if path in seen:
                continue
            seen.add(path)
            self.visit(url)
            visited.append(path)
            for href in self.page.evaluate(LINKS):
                href = urldefrag(href)[0]
                parsed = urlparse(href)
                if not href.startswith(self.base) or SKIP.search(parsed.path):
                    continue
                if "page=" in parsed.query:  # one page of each list is enough
                    continue
                queue.append(href)
        return visited


def _check(watch: Watch, page) -> None:
    assert watch.violations == [], "CSP violations:\n" + "\n".join(watch.violations)
    assert watch.without_header == [], f"HTML without the CSP header: {watch.without_header}"
    assert watch.failed == [], f"pages that failed: {watch.failed}"
    assert page.js_errors == [], f"console errors: {page.js_errors}"


def test_member_pages_pass_the_csp(member_page, app_server):
    watch = Watch(member_page, app_server.url)
    visited = watch.crawl()
    print(f"member: {len(visited)} pages crawled, {watch.html_pages} HTML responses")
    assert len(visited) >= 15  # dashboard, lists, a sample, a run, a recipe, explorer …
    assert {"/", "/samples/", "/runs/", "/explore/", "/flags/"} <= set(visited)
    _check(watch, member_page)


def test_curator_pages_admin_and_api_docs_pass_the_csp(curator_page, app_server):
    watch = Watch(curator_page, app_server.url)
    visited = watch.crawl()
    base = app_server.url
    watch.visit(f"{base}/admin/", ready="#content-main")
    watch.visit(f"{base}/admin/synthesis/sample/", ready="#result_list")
    change = curator_page.locator("#result_list tbody tr th a").first.get_attribute("href")
    watch.visit(base + change, ready="form#sample_form")
    watch.visit(f"{base}/api/docs/", ready=".swagger-ui .information-container")
    watch.visit(f"{base}/api/redoc/", ready="[role=search], .api-content")
    watch.visit(f"{base}/api/", ready="body")
    print(f"curator: {len(visited)} pages crawled + admin, change form, Swagger, Redoc, API "
          f"root; {watch.html_pages} HTML responses")
    assert len(visited) >= 15
    _check(watch, curator_page)
