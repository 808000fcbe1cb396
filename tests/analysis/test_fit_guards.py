"""Guards against wrong fits: absorber/edge of the paths vs the spectrum, k range inside the
data, models that cannot be fitted (400 naming the JSON path), and the warnings stored with a
fit and shown on its page (N_var vs N_idp, a parameter at a bound, R-factor, correlations)."""

from __future__ import annotations

import pytest

from analysis import services
from analysis.engines.fitting import fit_warnings
from analysis.models import FitRun
from characterization.models import XASSpectrum
from characterization.services import attach_data_file
from labdb.lib.errors import DomainError
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db
XAS = SHARED_DATA / "xas"
CU01 = XAS / "larch_examples" / "feff_cu" / "feffcu01.dat"
PROCESSING = {"pre_edge": {}, "autobk": {"rbkg": 1.0, "kweight": 2},
              "xftf": {"kmin": 3, "kmax": 14, "kweight": 2, "dk": 4}}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def spectrum_of(name, code):
    path = XAS / "xdi" / name
    sample = builders.sample(code, material="Cu", morphology="bulk")
    data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name, sample=sample)
    return XASSpectrum.objects.get(data_file=data_file)


def model_for(spectrum, paths, feff=None, parameters=None, kmax=14):
    return {
        "feff": feff or {"path_files": {"feffcu01": CU01.read_text()}},
        "parameters": parameters or {"amp": {"kind": "guess", "value": 1.0},
                                     "de0": {"kind": "guess", "value": 0.0}},
        "datasets": [{"id": "d", "spectrum": spectrum.pk, "processing": PROCESSING,
                      "transform": {"kmin": 3, "kmax": kmax, "rmin": 1.4, "rmax": 3.0},
                      "paths": paths}],
    }


def rejected(model, spectrum=None):
    with pytest.raises(DomainError) as err:
        services.request_fit_run(spectrum=spectrum, model=model)
    assert FitRun.objects.count() == 0
    return err.value.field, err.value.message


def test_fe_absorber_paths_on_a_zn_k_spectrum_are_rejected():
    zn = spectrum_of("zn_znse_rt.xdi", "G-ZnSe")
    fe_feff = {"structure": {"source": "lattice", "kind": "zincblende", "a_a": 5.42,
                             "cation": "Fe", "anion": "Se"}, "absorber": "Fe", "edge": "K"}
    ok = {"label": "Zn-Se", "s02": "amp", "e0": "de0",
          "select": {"absorber": "Zn", "scatterer": "Se", "r_min_a": 2.3, "r_max_a": 2.6}}
    paths = [ok, {**ok, "label": "b"}, {"label": "Fe1", "path_file": "feff0001", "s02": "amp"}]
    assert rejected(model_for(zn, paths, feff=fe_feff)) == (
        "model.datasets[0].paths[2]", "model.datasets[0].paths[2]: absorber Fe but the "
        "spectrum is Zn K.")  # the FEFF calculation's absorber: checked before FEFF runs
    assert rejected(model_for(zn, [{"label": "Cu1", "path_file": "feffcu01"}])) == (
        "model.datasets[0].paths[0]",
        "model.datasets[0].paths[0]: absorber Cu but the spectrum is Zn K.")
    selector = {**ok, "label": "Fe-Se", "select": {**ok["select"], "absorber": "Fe"}}
    field, message = rejected(model_for(zn, [ok, selector]))
    assert (field, message) == ("model.datasets[0].paths[1]",
                                "model.datasets[0].paths[1]: absorber Fe but the spectrum is Zn K.")


def test_feff_for_another_edge_is_rejected():
    zn = spectrum_of("zn_znse_rt.xdi", "G-ZnSe-L3")
    feff = {"structure": {"source": "lattice", "kind": "zincblende", "a_a": 5.6676,
                          "cation": "Zn", "anion": "Se"}, "absorber": "Zn", "edge": "L3"}
    path = {"label": "Zn-Se", "select": {"absorber": "Zn", "scatterer": "Se", "r_min_a": 2.3,
                                         "r_max_a": 2.6}, "s02": "amp", "e0": "de0"}
    assert rejected(model_for(zn, [path], feff=feff)) == (
        "model.feff.edge", "model.feff.edge: FEFF paths for the L3 edge but the spectrum is "
        "Zn K.")


def test_k_range_beyond_the_data_of_the_second_spectrum_is_rejected():
    cu = spectrum_of("cu_metal_rt.xdi", "G-Cu-k")
    zn = spectrum_of("zn_znse_rt.xdi", "G-ZnSe-k")
    model = model_for(cu, [{"label": "Cu1", "path_file": "feffcu01", "s02": "amp", "e0": "de0"}])
    second = {**model["datasets"][0], "id": "e", "spectrum": cu.pk,
              "transform": {"kmin": 3, "kmax": 30, "rmin": 1.4, "rmax": 3.0}}
    model["datasets"].append(second)
    field, message = rejected(model)
    assert field == "model.datasets[1].transform.kmax"
    assert message.startswith("model.datasets[1].transform.kmax: 30 Å⁻¹ is beyond the data of "
                              "cu_metal_rt.xdi, which end at k ≈ ")
    model["datasets"][1]["spectrum"] = 999999
    assert rejected(model) == ("model.datasets[1].spectrum",
                               "model.datasets[1].spectrum: there is no XAS spectrum 999999.")
    del model["datasets"][1]["spectrum"]
    assert rejected(model, spectrum=zn) == (
        "model.datasets[1].spectrum",
        "model.datasets[1].spectrum: name the spectrum this dataset fits (an XAS spectrum id).")


def test_models_that_cannot_be_fitted_name_the_json_path():
    cu = spectrum_of("cu_metal_rt.xdi", "G-Cu-m")
    path = {"label": "Cu1", "path_file": "feffcu01", "s02": "amp", "e0": "de0"}
    unknown = model_for(cu, [{**path, "sigma2": "ss2 + nope"}])
    field, message = rejected(unknown)
    assert field == "model.datasets[0].paths[0].sigma2"
    assert "nope" in message and "ss2" in message
    circular = model_for(cu, [path], parameters={"amp": {"kind": "def", "expr": "b * 2"},
                                                 "b": {"kind": "def", "expr": "amp / 2"},
                                                 "de0": {"kind": "guess", "value": 0.0}})
    assert rejected(circular) == ("model.parameters.amp.expr",
                                  "model: circular parameter definitions: amp → b → amp")
    many = {f"v{i}": {"kind": "guess", "value": 0.0} for i in range(8)}
    narrow = model_for(cu, [{**path, "e0": "+".join(many)}], parameters={
        "amp": {"kind": "guess", "value": 1.0}, **many}, kmax=4)
    narrow["datasets"][0]["transform"].update(kmin=3, kmax=4, rmin=1.4, rmax=3.0)
    field, message = rejected(narrow)
    assert field == "model.parameters"
    assert message == ("model: the model varies 9 parameters (amp, v0, v1, v2, v3, v4, v5, v6, "
                       "v7) but the k and R ranges give only 2.02 independent points; fix some "
                       "parameters or widen the ranges")


def test_api_answers_400_naming_the_path(api):
    zn = spectrum_of("zn_znse_rt.xdi", "G-ZnSe-api")
    model = model_for(zn, [{"label": "Cu1", "path_file": "feffcu01"}])
    response = api.post("/api/fit-runs/", {"model": model}, format="json")
    assert response.status_code == 400, response.content
    assert "model.datasets[0].paths[0]: absorber Cu but the spectrum is Zn K." in (
        response.content.decode())
    assert FitRun.objects.count() == 0


def test_fit_warnings_name_what_to_check():
    parameters = {
        "amp": {"vary": True, "value": 0.8, "min": 0.8, "max": None},
        "ss2": {"vary": True, "value": 0.004, "min": 0.0, "max": 0.02},
        "fixed": {"vary": False, "value": 1.0, "min": 1.0, "max": None}}
    stats = {"nvarys": 7, "n_independent": 6.5, "rfactor": 0.14}
    assert fit_warnings(parameters, stats, {"amp,ss2": 0.97, "amp,de0": -0.951,
                                            "de0,dr": 0.94}) == [
        "7 varied parameters exceed the 6.50 independent points: the fit is undetermined",
        "parameter 'amp' = 0.8 sits at its minimum (0.8): the bound, not the data, sets it",
        "R-factor 0.1400 is above 0.05: the model does not describe the data well",
        "parameters 'amp' and 'ss2' are correlated by 0.970 (|r| > 0.95)",
        "parameters 'amp' and 'de0' are correlated by -0.951 (|r| > 0.95)"]
    assert fit_warnings(parameters, {"nvarys": 5, "n_independent": 7.0, "rfactor": 0.01}, {}
                        ) == ["5 varied parameters for 7.00 independent points (more than 2/3): "
                              "uncertainties are unreliable",
                              "parameter 'amp' = 0.8 sits at its minimum (0.8): the bound, not "
                              "the data, sets it"]
    parameters["amp"]["min"] = 0.5
    assert fit_warnings(parameters, {"nvarys": 4, "n_independent": 15.3, "rfactor": 0.0027},
                        {"amp,ss2": 0.928}) == []


@pytest.mark.slow
def test_warning_stored_with_the_fit_and_shown_on_its_page(
        django_capture_on_commit_callbacks, member, client):
    cu = spectrum_of("cu_metal_rt.xdi", "G-Cu-warn")
    model = model_for(cu, [{"label": "Cu1", "path_file": "feffcu01", "s02": "amp", "e0": "de0",
                            "sigma2": "ss2", "deltar": "dr"}],
                      parameters={"amp": {"kind": "guess", "value": 1.0},
                                  "de0": {"kind": "guess", "value": 0.0},
                                  "ss2": {"kind": "guess", "value": 0.003, "max": 0.005},
                                  "dr": {"kind": "guess", "value": 0.0}})
    with django_capture_on_commit_callbacks(execute=True):
        run = services.request_fit_run(model=model, actor=member)
    run.refresh_from_db()
    assert (run.status, run.error) == ("succeeded", "")
    fit = run.result
    assert "parameter 'ss2' = 0.005 sits at its maximum (0.005): the bound, not the data, " \
        "sets it" in fit.warnings
    assert fit.warnings == fit.provenance["warnings"]
    client.force_login(member)
    page = client.get(f"/fits/{fit.pk}/").content.decode()
    assert "Check this fit" in page
    assert "parameter &#x27;ss2&#x27; = 0.005 sits at its maximum" in page


def test_api_queues_a_two_spectrum_fit_and_lists_its_datasets(api):
    cold = spectrum_of("cu_metal_10K.xdi", "G-Cu-10K-api")
    warm = spectrum_of("cu_metal_rt.xdi", "G-Cu-RT-api")
    model = model_for(cold, [{"label": "Cu1", "path_file": "feffcu01", "s02": "amp", "e0": "de0"}])
    model["datasets"].append({**model["datasets"][0], "id": "rt", "spectrum": warm.pk})
    response = api.post("/api/fit-runs/", {"model": model}, format="json")  # queued, not run
    assert response.status_code == 201, response.content
    body = api.get(f"/api/fit-runs/{response.json()['id']}/").json()
    assert body["spectrum"] == cold.pk
    assert [(d["position"], d["dataset_id"], d["spectrum"], d["input_sha256"])
            for d in body["datasets"]] == [
        (0, "d", cold.pk, cold.data_file.sha256), (1, "rt", warm.pk, warm.data_file.sha256)]
