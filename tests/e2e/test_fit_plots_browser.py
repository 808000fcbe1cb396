"""Fit plots in a real browser: drawn with plotly from the cached plot data, PNG downloads.

Against ``app_server`` (``make run`` with the demo, whose reference spectra are fitted with the
real fit service). Reads only: the demo's computed fits are shared by every browser test.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_sample_page_draws_the_three_fit_plots_of_each_computed_fit(member_page, app_server):
    page = member_page
    listing = page.request.get(f"{app_server.url}/api/xas-fits/?source=computed&page_size=100")
    assert listing.ok
    fit = listing.json()["results"][0]
    page.goto(f"{app_server.url}/samples/{fit['sample']}/#fits")
    box = page.locator(f'[data-fit-plots="/api/xas-fits/{fit["id"]}/plot-data.json"]')
    box.wait_for(state="attached")
    page.wait_for_function(
        "box => box.hasAttribute('data-plotted') || box.hasAttribute('data-plot-error')",
        arg=box.element_handle(), timeout=30_000,
    )
    assert box.get_attribute("data-plot-error") is None, box.inner_text()
    plotted = box.locator(".fit-plot.plotted")
    assert [plotted.nth(i).get_attribute("data-kind") for i in range(3)] == ["mu", "chik", "chir"]
    assert box.locator(".fit-plot.plotted .main-svg").count() >= 3
    axis_titles = box.locator(".fit-plot[data-kind=chir] .xtitle").text_content()
    assert axis_titles == "R (Å)"
    png = page.request.get(f"{app_server.url}/api/xas-fits/{fit['id']}/plot.png?kind=chik")
    assert (png.status, png.headers["content-type"], png.body()[:4]) == (
        200, "image/png", b"\x89PNG")


def test_published_fits_have_no_plot_area(member_page, app_server):
    page = member_page
    listing = page.request.get(f"{app_server.url}/api/xas-fits/?source=published&page_size=100")
    fit = listing.json()["results"][0]
    page.goto(f"{app_server.url}/samples/{fit['sample']}/#fits")
    article = page.locator("article.fit", has=page.locator(f"#fit-{fit['id']}"))
    assert article.locator("table.paths tbody tr").count() >= 1
    assert article.locator("[data-fit-plots]").count() == 0
