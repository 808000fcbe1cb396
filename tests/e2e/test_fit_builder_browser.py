"""The fit builder in a real browser, from a fresh spectrum to a stored fit.

Against ``app_server`` (``make run``): a new sample gets the real ZnSe Zn K spectrum
(../shared/data/xas/xdi/zn_znse_rt.xdi); the demo member opens it from the sample page, picks the
ZnSe zinc-blende lattice, runs FEFF, ticks the first path (Zn–Se), sets the k window, sees the
live plots, gets a refusal beside the field for an unknown parameter, runs the fit (in the
server's background pool) and finds the Zn–Se distance on the stored fit's page.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser
ZNSE = SHARED_DATA / "xas" / "xdi" / "zn_znse_rt.xdi"
FIT_TIMEOUT_S = 240

MAKE_SPECTRUM = """
import time
from pathlib import Path
from characterization.models import XASSpectrum
from characterization.services import attach_data_file
from synthesis import services
code = {code!r}
sample = services.create_sample(data={{"code": code, "name": code, "material": "ZnSe",
                                      "morphology": "bulk"}}, layers=[], parents=[])
path = Path({path!r})
data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name, sample=sample)
for _ in range(600):  # the parse job runs in this process's background pool
    data_file.refresh_from_db()
    if data_file.parse_status not in ("pending", "parsing"):
        break
    time.sleep(0.2)
print(sample.pk, XASSpectrum.objects.get(data_file=data_file, sample=sample).pk)
"""


@pytest.fixture(scope="module")
def fresh_spectrum(app_server):
    """(sample id, spectrum id) of a new sample holding the Zn K spectrum of ZnSe."""
    code = f"E2E-FB-{uuid.uuid4().hex[:6]}"
    out = app_server.manage("shell", "-c", MAKE_SPECTRUM.format(code=code, path=str(ZNSE)))
    sample_id, spectrum_id = (int(v) for v in out.stdout.split()[-2:])
    return sample_id, spectrum_id


def open_builder(page, app_server, sample_id, spectrum_id):
    page.goto(f"{app_server.url}/samples/{sample_id}/#fits")
    page.locator(f'a[data-fit-builder][href$="spectra={spectrum_id}"]').click()
    page.wait_for_url(f"**/fit-builder/?spectra={spectrum_id}")
    page.wait_for_selector("#fit-builder[data-ready=true]")
    return page.locator(f'.fb-dataset[data-spectrum="{spectrum_id}"]')


def model_json(page) -> dict:
    return json.loads(page.locator("#fb-model-json").input_value())


def wait_plotted(page, dataset):
    page.wait_for_function(
        "el => ['done', 'error'].includes(el.getAttribute('data-preview'))",
        arg=dataset.element_handle(), timeout=60_000)
    assert dataset.get_attribute("data-preview") == "done", dataset.inner_text()[:2000]


def consume_expected_refusal(page, url: str) -> None:
    """The refused POST logs chromium's "Failed to load resource … 400" for ``url``; that one
    console error is the refusal under test (member_page fails on any other at teardown)."""
    for _ in range(50):
        expected = [e for e in page.js_errors if "status of 400" in e and url in e]
        if expected:
            break
        page.wait_for_timeout(100)
    assert len(expected) == 1, page.js_errors
    page.js_errors.remove(expected[0])


def test_builder_from_a_fresh_spectrum_to_a_stored_fit(member_page, app_server, fresh_spectrum):
    page = member_page
    sample_id, spectrum_id = fresh_spectrum
    dataset = open_builder(page, app_server, sample_id, spectrum_id)

    # live processing plots with the default settings
    wait_plotted(page, dataset)
    assert dataset.locator(".fb-plot.plotted").count() == 3
    assert dataset.locator(".fb-plot[data-plot=chir] .xtitle").text_content() == "R (Å)"
    e0 = float(dataset.get_attribute("data-e0-ev"))
    assert 9650 < e0 < 9670  # Zn K edge

    # structure: the ZnSe zinc-blende preset (chosen for a Zn spectrum), FEFF on a small cluster
    assert dataset.locator("[data-feff=source]").input_value() == "lattice"
    assert dataset.locator("[data-feff=a_a]").input_value() == "5.6676"
    assert (dataset.locator("[data-feff=cation]").input_value(),
            dataset.locator("[data-feff=anion]").input_value()) == ("Zn", "Se")
    dataset.locator("[data-feff=cluster_radius_a]").fill("4.5")
    dataset.get_by_role("button", name="Run FEFF").click()
    first = dataset.locator("[data-slot=feff-paths] tr").first
    first.locator("input[type=checkbox]").wait_for(timeout=120_000)
    cells = first.locator("td")
    assert [cells.nth(i).inner_text() for i in (1, 2, 3)] == ["1", "Zn-Se", "2"]
    assert abs(float(cells.nth(4).inner_text()) - 2.4542) < 0.001  # a√3/4
    assert float(cells.nth(5).inner_text()) == 4.0
    first.locator("input[type=checkbox]").check()

    # the path's parameters and the shared parameter table
    row = dataset.locator("[data-slot=paths] tr[data-entry='0']")
    assert row.locator("[data-pkey=sigma2]").input_value() == "ss1"
    assert page.locator("#fb-params [data-p=name]").evaluate_all(
        "els => els.map(e => e.value)") == ["amp", "de0", "dr1", "ss1"]
    dataset.locator("[data-key='transform.kmax']").fill("11")
    dataset.locator("[data-key='transform.rmin']").fill("1.6")
    wait_plotted(page, dataset)
    model = model_json(page)
    ds = model["datasets"][0]
    assert ds["spectrum"] == spectrum_id
    assert set(ds["feff"]) == {"calculation"}
    assert ds["paths"] == [{"path_file": "feff0001", "label": "Zn-Se 2.45", "s02": "amp",
                            "e0": "de0", "deltar": "dr1", "sigma2": "ss1"}]
    assert (ds["transform"]["kmax"], ds["transform"]["rmin"]) == (11, 1.6)
    assert model["parameters"]["ss1"] == {"kind": "guess", "value": 0.005, "min": 0}

    # an unknown parameter is refused beside its field, nothing is queued
    sigma2 = row.locator("[data-pkey=sigma2]")
    sigma2.fill("ss_unknown")
    page.get_by_role("button", name="Run fit").click()
    error = row.locator("[data-pkey=sigma2] + .field-error")
    error.wait_for(state="visible", timeout=30_000)
    assert "ss_unknown" in error.inner_text()
    assert sigma2.get_attribute("aria-invalid") == "true"
    assert "/fit-builder/" in page.url
    consume_expected_refusal(page, f"{app_server.url}/api/fit-runs/")

    # fixed: run, follow the run, read the stored fit
    sigma2.fill("ss1")
    page.get_by_role("button", name="Run fit").click()
    page.wait_for_url("**/fit-runs/?ids=*", timeout=60_000)
    run_id = int(page.url.rsplit("=", 1)[1])
    deadline = time.monotonic() + FIT_TIMEOUT_S
    while True:
        run = page.request.get(f"{app_server.url}/api/fit-runs/{run_id}/").json()
        if run["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert run["status"] == "succeeded", run.get("error") or run["status"]
    page.goto(f"{app_server.url}/fits/{run['result']}/")
    path_row = page.locator("article.fit table.paths tbody tr").first
    assert path_row.locator("th").inner_text().startswith("Zn–Se")
    distance = path_row.locator("td").nth(2).inner_text()
    assert distance.startswith("2.4"), distance


def test_fit_page_offers_fit_like_this_with_the_model_prefilled(member_page, app_server):
    page = member_page
    listing = page.request.get(f"{app_server.url}/api/xas-fits/?source=computed&page_size=100")
    fit = next(f for f in listing.json()["results"] if f["absorber"] == "Zn")
    page.goto(f"{app_server.url}/fits/{fit['id']}/")
    page.get_by_role("link", name="Fit like this").click()
    page.wait_for_url(f"**/fit-builder/?from_fit={fit['id']}")
    page.wait_for_selector("#fit-builder[data-ready=true]")
    model = model_json(page)
    stored = page.request.get(f"{app_server.url}/api/fit-runs/?result={fit['id']}").json()
    stored_model = stored["results"][0]["model"]
    assert model["parameters"] == stored_model["parameters"]
    ds = model["datasets"][0]
    assert ds["paths"] == stored_model["datasets"][0]["paths"]
    assert ds["feff"] == stored_model["feff"]
    assert ds["transform"]["kmax"] == stored_model["datasets"][0]["transform"]["kmax"]
    dataset = page.locator(".fb-dataset").first
    wait_plotted(page, dataset)
    # the stored model's structure is run again (cached) to show its paths
    dataset.locator("[data-slot=feff-paths] input[type=checkbox]").first.wait_for(
        timeout=120_000)


DEMO_ZNSE_SPECTRA = """
from characterization.models import XASSpectrum
rows = XASSpectrum.objects.filter(sample__code="REF-ZnSe-bulk", data_file__parse_status="ok")
print(*(rows.get(element=element).pk for element in ("Zn", "Se")))
"""


def test_builder_fits_the_zn_k_and_se_k_edges_together_with_one_distance(
        member_page, app_server):
    page = member_page
    zn_id, se_id = (int(v) for v in
                    app_server.manage("shell", "-c", DEMO_ZNSE_SPECTRA).stdout.split()[-2:])
    page.goto(f"{app_server.url}/fit-builder/?spectra={zn_id},{se_id}")
    page.wait_for_selector("#fit-builder[data-ready=true]")
    datasets = [page.locator(f'.fb-dataset[data-spectrum="{sid}"]') for sid in (zn_id, se_id)]
    for dataset, absorber, chain in zip(datasets, ("Zn", "Se"), ("Zn-Se", "Se-Zn"), strict=True):
        wait_plotted(page, dataset)
        assert dataset.locator("[data-feff=absorber]").input_value() == absorber
        dataset.locator("[data-feff=cluster_radius_a]").fill("4.5")
        dataset.get_by_role("button", name="Run FEFF").click()
        first = dataset.locator("[data-slot=feff-paths] tr").first
        first.locator("input[type=checkbox]").wait_for(timeout=120_000)
        assert first.locator("td").nth(2).inner_text() == chain
        first.locator("input[type=checkbox]").check()
        dataset.locator("[data-key='transform.kmax']").fill("11")
    model = model_json(page)
    zn, se = model["datasets"]
    assert (zn["id"], se["id"]) == ("zn_k", "se_k")
    assert (zn["paths"][0]["deltar"], se["paths"][0]["deltar"]) == ("dr1", "dr1")  # shared
    assert (zn["paths"][0]["s02"], se["paths"][0]["s02"]) == ("amp", "amp_2")  # per edge
    assert zn["feff"]["calculation"] != se["feff"]["calculation"]
    assert list(model["parameters"]) == ["amp", "de0", "dr1", "ss1", "amp_2", "de0_2"]
    page.get_by_role("button", name="Run fit").click()
    page.wait_for_url("**/fit-runs/?ids=*", timeout=60_000)
    run_id = int(page.url.rsplit("=", 1)[1])
    deadline = time.monotonic() + FIT_TIMEOUT_S
    while True:
        run = page.request.get(f"{app_server.url}/api/fit-runs/{run_id}/").json()
        if run["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert run["status"] == "succeeded", run.get("error") or run["status"]
    assert [(d["dataset_id"], d["spectrum"]) for d in run["datasets"]] == [
        ("zn_k", zn_id), ("se_k", se_id)]
