"""The one list of analysis runs and a run's page in a real browser (CSP enforcing).

Against ``app_server`` (``make run`` with the demo, whose reference spectra are fitted with the
real fit service: those fit runs are analysis runs of kind ``exafs_fit``). Reads only.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_analysis_run_list_and_run_page_of_a_demo_fit(member_page, app_server):
    page = member_page
    listed = page.request.get(f"{app_server.url}/api/analysis-runs/?kind=exafs_fit").json()
    run = next(r for r in listed["results"] if r["status"] == "succeeded")
    page.goto(f"{app_server.url}/")
    page.get_by_role("link", name="Analyses").click()
    expect(page.get_by_role("heading", name="Analysis runs", exact=True)).to_be_visible()
    row = page.locator(f'#analysis-runs tr[data-run="{run["id"]}"]')
    expect(row).to_contain_text("EXAFS shell fit (feffit)")
    row.get_by_role("link", name=f"run {run['id']}").click()
    expect(page.get_by_role("heading", name=f"EXAFS shell fit (feffit) — run {run['id']}")
           ).to_be_visible()
    expect(page.locator("#run-progress")).to_have_attribute("value", "100")
    detail = page.request.get(f"{app_server.url}/api/analysis-runs/{run['id']}/").json()
    fit_link = page.get_by_role("link", name=f"XAS fit {detail['fit']}")
    expect(fit_link).to_be_visible()
    provenance = json.loads(page.locator("#run-provenance").text_content())
    assert provenance == detail["provenance"]
    page.get_by_role("link", name="← Analysis runs").click()
    page.get_by_label("Kind").select_option("exafs_fit")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{app_server.url}/analysis-runs/?kind=exafs_fit&status=")
    assert page.locator("#analysis-runs tbody tr").count() == min(listed["count"], 50)
