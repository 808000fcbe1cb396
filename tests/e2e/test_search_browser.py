"""The header search and the run list in a real browser, against the server ``make run``
starts (demo data loaded)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import shot

pytestmark = pytest.mark.browser

OLEIC_RECIPE = "CdS MSC / RQD synthesis in oleic acid (procedure not given)"


def test_header_search_with_a_typo_reaches_a_cdzns_sample(member_page, app_server):
    page = member_page
    page.goto(f"{app_server.url}/explore/")
    box = page.get_by_role("searchbox", name="Search samples, runs, recipes, chemicals, lots "
                                              "and files")
    box.fill("CdZnSS")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search/\?q=CdZnSS$"))
    samples = page.locator("section[aria-labelledby=h-sample]")
    assert samples.get_by_role("heading").inner_text().startswith("Samples")
    first = samples.get_by_role("link").first
    code = first.inner_text()
    assert "CdZnS" in code
    shot(page, "search-results")
    first.click()
    page.wait_for_url(re.compile(r"/samples/\d+/$"))
    assert page.locator("h1").inner_text().startswith(code)
    assert "CdZnS" in page.locator("dt:text-is('Material') + dd").inner_text()
    # the name's markup is rendered: Cd_xZn_{1-x}S → Cd<sub>x</sub>Zn<sub>1−x</sub>S
    assert page.locator("h1 small sub").all_inner_texts() == ["x", "1−x"]


def test_run_list_filtered_by_recipe(member_page, app_server):
    page = member_page
    page.goto(f"{app_server.url}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    page.wait_for_url(f"{app_server.url}/runs/")
    recipe = page.get_by_label("Recipe", exact=True)
    option = recipe.locator("option").filter(has_text=re.compile("^" + re.escape(OLEIC_RECIPE)))
    recipe.select_option(option.first.get_attribute("value"))
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"/runs/\?.*recipe=\d+"))
    rows = page.locator("table.runs tbody tr")
    codes = rows.locator("td:first-child").all_inner_texts()
    assert {"RUN-MSC-311", "RUN-MSC-322", "RUN-RQD-355"} <= set(codes)
    assert {t.split(" v")[0] for t in rows.locator("td:nth-child(2)").all_inner_texts()} == {
        OLEIC_RECIPE}
    shot(page, "run-list")
    page.get_by_role("link", name="RUN-MSC-311").click()
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    assert "RUN-MSC-311" in page.locator("h1").inner_text()
