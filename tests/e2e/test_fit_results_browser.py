"""Fit results in a real browser against ``app_server`` (``make run`` with the demo fits).

The demo's computed CdS (Cd K) fit: its page redraws χ(k)/χ(R)/χ(q) when the k-weight changes,
takes an overlay of a second computed fit of the same edge (made here by POSTing the first
fit's provenance request back with a wider R range), shows a printed fit's path table beside it
with the differences, and copies its provenance as JSON that parses.
"""

from __future__ import annotations

import base64
import copy
import json
import time

import pytest

pytestmark = pytest.mark.browser

CHIK = ".fit-plot[data-kind=chik]"


def _token(page, app_server) -> str:
    basic = base64.b64encode(b"demo:demo-labdb").decode()
    response = page.request.post(f"{app_server.url}/api/auth/login/",
                                 headers={"Authorization": f"Basic {basic}"})
    assert response.ok, response.text()
    return response.json()["token"]


def _cds_fit(page, app_server) -> dict:
    listing = page.request.get(f"{app_server.url}/api/xas-fits/?source=computed&page_size=100")
    assert listing.ok
    (fit,) = [f for f in listing.json()["results"] if f["edge"] == "Cd K"][:1]
    return fit


def _second_fit(page, app_server, fit_id: int) -> int:
    """A new computed Cd K fit: the stored provenance request with rmax 3.0 Å, through the API."""
    headers = {"Authorization": f"Token {_token(page, app_server)}"}
    document = page.request.get(f"{app_server.url}/api/xas-fits/{fit_id}/provenance.json").json()
    request = copy.deepcopy(document["fit_run_request"])
    request["model"]["datasets"][0]["transform"]["rmax"] = 3.0
    created = page.request.post(f"{app_server.url}/api/fit-runs/", data=request, headers=headers)
    assert created.status in (201, 202), created.text()
    run = created.json()
    deadline = time.monotonic() + 180
    while run["status"] in ("queued", "running") or run.get("result") is None:
        assert time.monotonic() < deadline, run
        assert run["status"] not in ("failed",), run
        time.sleep(1)
        run = page.request.get(f"{app_server.url}/api/fit-runs/{run['id']}/",
                               headers=headers).json()
    assert run["status"] == "succeeded", run["error"]
    return run["result"]


def _chik_y(page) -> list[float]:
    return page.evaluate(f"document.querySelector('{CHIK}').data[0].y.slice(0, 400)")


def _wait_drawn(page, kweight: int, traces: int | None = None) -> None:
    # a function, not an expression: Playwright evaluates expressions with eval (CSP forbids)
    condition = (f"() => {{ const el = document.querySelector('{CHIK}');"
                 f" const box = el.closest('[data-fit-results]');"
                 f" return box.getAttribute('data-plotted') === '{kweight}'"
                 f" && el.getAttribute('data-kweight') === '{kweight}'"
                 + (f" && el.getAttribute('data-traces') === '{traces}'" if traces else "")
                 + " || box.hasAttribute('data-plot-error'); }")
    page.wait_for_function(condition, timeout=60_000)
    error = page.locator("[data-fit-results]").get_attribute("data-plot-error")
    assert error is None, error


def test_kweight_switch_redraws_with_the_served_arrays(member_page, app_server):
    page = member_page
    fit = _cds_fit(page, app_server)
    page.goto(f"{app_server.url}/fits/{fit['id']}/")
    _wait_drawn(page, 2)
    at_2 = _chik_y(page)
    page.get_by_role("radio", name="3").check()
    _wait_drawn(page, 3)
    at_3 = _chik_y(page)
    served = page.request.get(
        f"{app_server.url}/api/xas-fits/{fit['id']}/arrays/?space=k&kweight=3").json()
    assert at_3 == served["arrays"]["data"][:400]
    assert at_3 != at_2
    assert page.locator(f"{CHIK} .main-svg").count() >= 1
    assert page.locator(".fit-plot[data-kind=chiq]").get_attribute("data-kweight") == "3"
    # Re and Im of χ(R) next to the magnitude: two more traces (data and fit) each
    page.get_by_label("Re", exact=True).check()
    page.get_by_label("Im", exact=True).check()
    page.wait_for_function(
        "() => document.querySelector('.fit-plot[data-kind=chir]')"
        ".getAttribute('data-traces') === '6'",
        timeout=30_000)
    names = page.evaluate(
        "document.querySelector('.fit-plot[data-kind=chir]').data.map(t => t.name)")
    assert names == ["|χ(R)| data", "|χ(R)| fit", "Re χ(R) data", "Re χ(R) fit",
                     "Im χ(R) data", "Im χ(R) fit"]
    assert page.locator("table.fit-parameters tbody tr").count() >= 4
    assert page.locator("table.fit-statistics tr.total").count() == 1


def test_overlay_of_a_second_fit_and_of_a_printed_fit(member_page, app_server):
    page = member_page
    fit = _cds_fit(page, app_server)
    second = _second_fit(page, app_server, fit["id"])
    page.goto(f"{app_server.url}/fits/{fit['id']}/")
    _wait_drawn(page, 2, traces=3)
    page.locator("#overlay-fit").select_option(str(second))
    page.get_by_role("button", name="Add to the comparison").click()
    _wait_drawn(page, 2, traces=5)
    names = page.evaluate(f"document.querySelector('{CHIK}').data.map(t => t.name)")
    assert names == ["data", "fit", "residual", f"fit {second} data", f"fit {second} fit"]
    table = page.locator(f'[data-overlay-table="{second}"] table.comparison')
    table.wait_for(timeout=30_000)
    assert table.locator("tbody tr").count() >= 3
    # a printed fit of the same edge has no arrays: its path table goes beside this one
    printed = page.locator("#overlay-fit option[data-source=published]").first
    printed_id = printed.get_attribute("value")
    page.locator("#overlay-fit").select_option(printed_id)
    page.get_by_role("button", name="Add to the comparison").click()
    page.locator(f'[data-overlay-table="{printed_id}"] table.comparison').wait_for(timeout=30_000)
    assert page.evaluate(f"document.querySelector('{CHIK}').data.length") == 5


def test_copy_provenance_gives_json_that_parses(member_page, app_server):
    page = member_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_server.url)
    fit = _cds_fit(page, app_server)
    page.goto(f"{app_server.url}/fits/{fit['id']}/")
    page.get_by_role("button", name="Copy JSON").click()
    page.locator("[data-copy-status]").filter(has_text="Copied.").wait_for(timeout=10_000)
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert (copied["fit"], copied["source"]) == (fit["id"], "computed")
    assert copied["fit_run_request"]["spectrum"] == fit["spectrum"]
    download = page.request.get(f"{app_server.url}/api/xas-fits/{fit['id']}/provenance.json")
    assert json.loads(download.text()) == copied
