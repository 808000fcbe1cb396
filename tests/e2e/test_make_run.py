"""The UI as ``make run`` serves it (DEBUG off, collectstatic, WhiteNoise): styles apply, plotly
draws, the drop zone's script is attached, static files have hashed names and long caching."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.browser

HASHED_STATIC = re.compile(
    r"/static/(css/labdb|js/labdb|vendor/plotly\.min)\.[0-9a-f]{12}\.(css|js)$")
TEN_YEARS_IMMUTABLE = "max-age=315360000, public, immutable"  # WhiteNoise, hashed names


def _static_responses(page) -> dict[str, dict]:
    """Record every /static/ response of ``page`` as url → headers."""
    seen: dict[str, dict] = {}
    page.on("response", lambda r: seen.__setitem__(r.url, {"status": r.status, **r.headers})
            if "/static/" in r.url else None)
    return seen


def test_stylesheet_applies_when_served_like_make_run(member_page, app_server):
    page = member_page
    page.goto(f"{app_server.url}/")
    header = page.locator("header.site-header")
    # labdb.css: .site-header { display: flex; background: #17324d }
    assert header.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(23, 50, 77)"
    assert header.evaluate("el => getComputedStyle(el).display") == "flex"
    # the skip link is moved off-screen by the stylesheet
    assert page.locator(".skip-link").evaluate("el => getComputedStyle(el).left") == "-999px"


def test_plotly_draws_the_explorer_plot(member_page, app_server):
    page = member_page
    page.goto(f"{app_server.url}/explore/?x=core_ml&y=qy_pct&group=architecture")
    svg = page.locator("#explore-plot svg.main-svg").first
    svg.wait_for()
    assert page.locator("#explore-plot .scatterlayer .point").count() >= 1
    assert page.evaluate("typeof window.Plotly.newPlot") == "function"


def test_drop_zone_script_is_attached(member_page, app_server):
    page = member_page
    page.goto(f"{app_server.url}/samples/")
    page.get_by_role("link", name="NPL-CdSe-3.5ML", exact=True).click()
    zone = page.locator("[data-dropzone]")
    zone.wait_for(state="visible")  # hidden by CSS until the script marks the form js-upload
    assert page.locator("form.upload.js-upload").count() == 1
    zone.dispatch_event("dragover", {"dataTransfer": page.evaluate_handle("new DataTransfer()")})
    assert "dragging" in zone.get_attribute("class").split()
    assert zone.evaluate("el => getComputedStyle(el).borderTopStyle") == "solid"
    zone.dispatch_event("dragleave")
    assert "dragging" not in zone.get_attribute("class").split()


def test_static_files_hashed_compressed_and_cached_for_years(member_page, app_server):
    page = member_page
    responses = _static_responses(page)
    page.goto(f"{app_server.url}/explore/?x=core_ml&y=qy_pct&group=architecture")
    page.locator("#explore-plot svg.main-svg").first.wait_for()
    ours = {url: headers for url, headers in responses.items() if HASHED_STATIC.search(url)}
    assert sorted(HASHED_STATIC.search(url).group(1) for url in ours) == [
        "css/labdb", "js/labdb", "vendor/plotly.min"]
    for url, headers in ours.items():
        assert headers["status"] == 200, url
        assert headers["cache-control"] == TEN_YEARS_IMMUTABLE, url
    # every static response of the page came through the hashed names
    assert all(HASHED_STATIC.search(url) for url in responses), sorted(responses)
    css_url = next(url for url in ours if url.endswith(".css"))
    request = urllib.request.Request(css_url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Encoding"] == "gzip"
    # the unhashed name is served too (WhiteNoise), but only for a short time
    plain = css_url.split("/static/")[0] + "/static/css/labdb.css"
    with urllib.request.urlopen(plain) as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "max-age=60, public"


def test_debug_is_off_and_unknown_pages_get_the_plain_404(app_server):
    request = urllib.request.Request(f"{app_server.url}/no-such-page/")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request)
    assert error.value.code == 404
    assert b"URLconf" not in error.value.read()  # DEBUG's technical 404 page lists the URLconf
