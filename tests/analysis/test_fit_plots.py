"""Fit plots computed once per fit version and served from file storage (real Cu fit, slow)."""

from __future__ import annotations

import json

import matplotlib
import pytest

from analysis.services import fit_plots
from characterization.services import record_xas_fit
from labdb.lib.records import update_record
from tests.analysis.test_fit_runs import XAS, fit_a_model, run_now, spectrum_of
from tests.synthesis import builders

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
MPL = matplotlib.__version__


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def cu_fit(django_capture_on_commit_callbacks, member):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi", actor=member)
    run = run_now(
        django_capture_on_commit_callbacks, spectrum=spectrum, model=fit_a_model(), actor=member
    )
    assert run.status == "succeeded", run.error
    return run


def test_plot_data_computed_once_then_served_from_cache(api, cu_fit, django_assert_num_queries):
    fit_id = cu_fit.result_id
    first = api.get(f"/api/xas-fits/{fit_id}/plot-data.json")
    assert (first.status_code, first["X-Labdb-Plot-Cache"]) == (200, "miss")
    assert fit_plots.cached_plot_entries(fit_id) == ["v1-p1.json"]
    data = json.loads(first.content)
    stored_fit = cu_fit.result_data["fit"]["datasets"][0]
    stored_mu = cu_fit.result_data["spectrum"]
    assert data["fit"] == {"id": fit_id, "version": 1}
    assert (data["dataset"], data["simulated"], data["version"]) == ("cu_rt", False, "1")
    assert len(data["mu"]["energy_ev"]) == len(stored_mu["energy_ev"])
    assert data["mu"]["norm"][200] == float(f"{stored_mu['norm'][200]:.6g}")
    assert data["mu"]["e0_ev"] == stored_mu["e0_ev"]
    chik = data["chik"]
    assert (chik["kweight"], chik["kmin"], chik["kmax"]) == (2, 3, 17)
    assert len(chik["k_inv_a"]) == len(stored_fit["arrays"]["k_inv_a"])
    assert chik["chi_model"][100] == float(f"{stored_fit['arrays']['chi_model'][100]:.6g}")
    chir = data["chir"]
    assert (chir["rmin_a"], chir["rmax_a"]) == (1.4, 3.0)
    assert max(chir["r_a"]) <= 8.0 and len(chir["r_a"]) == len(chir["mag_data"])
    with django_assert_num_queries(1):  # the fit's version; no arrays read, nothing computed
        again = fit_plots.fit_plot_data(fit_id=fit_id)
    assert (again.computed, again.content) == (False, first.content)
    second = api.get(f"/api/xas-fits/{fit_id}/plot-data.json")
    assert (second["X-Labdb-Plot-Cache"], second.content) == ("hit", first.content)
    assert fit_plots.cached_plot_entries(fit_id) == ["v1-p1.json"]
    assert first["ETag"] == f'"fit-plots/{fit_id}/v1-p1.json"'
    revalidated = api.get(f"/api/xas-fits/{fit_id}/plot-data.json",
                          HTTP_IF_NONE_MATCH=first["ETag"])
    assert (revalidated.status_code, revalidated.content) == (304, b"")


def test_new_fit_version_gives_new_plot_data_and_drops_the_old(api, cu_fit, member):
    fit = cu_fit.result
    assert api.get(f"/api/xas-fits/{fit.pk}/plot-data.json")["X-Labdb-Plot-Cache"] == "miss"
    api.get(f"/api/xas-fits/{fit.pk}/plot.png?kind=mu")
    update_record(fit, changes={"notes": "checked by curator"}, expected_version=1, actor=member)
    old_etag = f'"fit-plots/{fit.pk}/v1-p1.json"'
    response = api.get(f"/api/xas-fits/{fit.pk}/plot-data.json", HTTP_IF_NONE_MATCH=old_etag)
    assert (response.status_code, response["X-Labdb-Plot-Cache"]) == (200, "miss")
    assert json.loads(response.content)["fit"] == {"id": fit.pk, "version": 2}
    assert fit_plots.cached_plot_entries(fit.pk) == ["v2-p1.json"]
    assert api.get(f"/api/xas-fits/{fit.pk}/plot-data.json")["X-Labdb-Plot-Cache"] == "hit"


def test_png_and_svg_downloads_rendered_once_per_kind_and_format(api, cu_fit):
    fit_id = cu_fit.result_id
    png = api.get(f"/api/xas-fits/{fit_id}/plot.png?kind=chik")
    assert (png.status_code, png["Content-Type"], png["X-Labdb-Plot-Cache"]) == (
        200, "image/png", "miss")
    assert png.content[:4] == b"\x89PNG"
    again = api.get(f"/api/xas-fits/{fit_id}/plot.png?kind=chik")
    assert (again["X-Labdb-Plot-Cache"], again.content) == ("hit", png.content)
    svg = api.get(f"/api/xas-fits/{fit_id}/plot.svg?kind=chir")
    assert (svg["Content-Type"], svg["X-Labdb-Plot-Cache"]) == ("image/svg+xml", "miss")
    assert b"<svg" in svg.content[:500]
    assert fit_plots.cached_plot_entries(fit_id) == [
        f"v1-p1-mpl{MPL}-chik.png",
        f"v1-p1-mpl{MPL}-chir.svg",
    ]


def test_bad_kind_is_refused_naming_the_choices(api, cu_fit):
    response = api.get(f"/api/xas-fits/{cu_fit.result_id}/plot.png?kind=xanes")
    assert response.status_code == 400
    assert response.json()["message"] == "kind: expected one of mu, chik, chir, got 'xanes'."
    assert fit_plots.cached_plot_entries(cu_fit.result_id) == []


def test_published_fit_has_no_plot_data_and_unknown_fit_is_404(api, member):
    sample = builders.sample("PUB-PLOT", actor=member)
    fit = record_xas_fit(
        sample=sample,
        actor=member,
        data={"absorber": "Cd", "edge_name": "K", "source": "published", "citation": "Table 2"},
        paths=[{"absorber": "Cd", "scatterer": "Se", "n": 3.2, "n_err": 0.4}],
    )
    response = api.get(f"/api/xas-fits/{fit.pk}/plot-data.json")
    assert (response.status_code, response.json()["message"]) == (
        400,
        f"fit {fit.pk}: only fits computed by labdb have spectra to plot; published fits are "
        "stored as printed (see their table).",
    )
    assert api.get(f"/api/xas-fits/{fit.pk}/plot.png?kind=mu").status_code == 400
    missing = api.get("/api/xas-fits/987654/plot-data.json")
    assert (missing.status_code, missing.json()["message"]) == (
        404, "fit: there is no XAS fit 987654.")
