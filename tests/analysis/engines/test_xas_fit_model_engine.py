"""Fit-model validation and run_fit refusals: clear EngineErrors, never a partial result."""

from __future__ import annotations

import copy
import json
import re

import pytest
from xas_helpers import REPO_ROOT, cu_model, guesses, read_columns  # noqa: I001

from analysis.engines.feffit_model import parse_fit_model
from analysis.engines.fitting import run_fit
from labdb.lib.errors import EngineError


def _model() -> dict:
    return cu_model(rbkg=1.0, rmax=3.0, parameters=guesses(amp=1.0, del_e0=0.0, sig2=0.0,
                                                           del_r=0.0),
                    paths=[{"label": "Cu1", "path_file": "feffcu01", "s02": "amp",
                            "e0": "del_e0", "sigma2": "sig2", "deltar": "del_r"}])


@pytest.fixture(scope="module")
def cu(xas_data):
    g = read_columns(xas_data / "larch_examples" / "cu_metal_rt.xdi")
    files = {"feffcu01": (xas_data / "larch_examples" / "feff_cu" / "feffcu01.dat").read_text()}
    return {"cu_rt": {"energy_ev": g.energy, "mu": g.mutrans}}, files


def _error(fn, *args) -> EngineError:
    with pytest.raises(EngineError) as err:
        fn(*args)
    return err.value


def test_docs_example_model_is_valid():
    text = (REPO_ROOT / "docs" / "fit-model.md").read_text()
    block = re.search(r"```json\n(.*?)```", text, re.S).group(1)
    model = parse_fit_model(json.loads(block))
    assert model.parameter_names == ("s02", "n1", "de0", "dr1", "ss2_1", "dr2", "ss2_2", "t_k",
                                     "theta_k", "c3_1")
    assert parse_fit_model(model.to_json()).to_json() == model.to_json()


def test_unknown_path_file_is_rejected(cu):
    data, files = cu
    model = _model()
    model["datasets"][0]["paths"][0]["path_file"] = "feff0099"
    err = _error(run_fit, data, model, files)
    assert err.field == "datasets[0].paths[0].path_file"
    assert err.message == "path 'Cu1' names unknown path file 'feff0099' (known: feffcu01)"


def test_unknown_parameter_in_path_expression_is_rejected(cu):
    data, files = cu
    model = _model()
    model["datasets"][0]["paths"][0]["sigma2"] = "sig2 + sig_extra"
    err = _error(run_fit, data, model, files)
    assert err.field == "datasets[0].paths[0].sigma2"
    assert err.message == ("path 'Cu1': sigma2 expression 'sig2 + sig_extra' uses unknown "
                           "parameter(s) sig_extra")


def test_unknown_name_in_def_expression_and_cycles_are_rejected():
    model = _model()
    model["parameters"]["alpha"] = {"kind": "def", "expr": "beta * 2"}
    assert _error(parse_fit_model, model).field == "parameters.alpha.expr"
    model["parameters"]["beta"] = {"kind": "def", "expr": "alpha / 2"}
    err = _error(parse_fit_model, model)
    assert err.message == "circular parameter definitions: alpha → beta → alpha"


def test_selector_matching_no_path_is_rejected(cu):
    data, files = cu
    model = _model()
    model["datasets"][0]["paths"][0] = {"label": "CuO", "select": {
        "absorber": "Cu", "scatterer": "O", "r_min_a": 1.8, "r_max_a": 2.1}, "s02": "amp"}
    err = _error(run_fit, data, model, files)
    assert err.field == "datasets[0].paths[0].select"
    assert err.message.startswith("path 'CuO': no FEFF path Cu-O with reff between 1.8 and 2.1")


def test_k_range_outside_data_is_rejected(cu):
    data, files = cu
    model = _model()
    model["datasets"][0]["transform"]["kmax"] = 19.0
    err = _error(run_fit, data, model, files)
    assert err.field == "datasets[0].transform.kmax"
    assert err.message == ("datasets[0].transform.kmax = 19.0 Å⁻¹ is outside the data, which "
                           "end at k = 17.45 Å⁻¹")


def test_invalid_model_shapes_name_the_field():
    cases = [
        (("parameters", "amp", "kind"), "vary", "parameters.amp.kind"),
        (("datasets", 0, "transform", "kweight"), [2, 7], "datasets[0].transform.kweight"),
        (("datasets", 0, "transform", "window"), "box", "datasets[0].transform.window"),
        (("datasets", 0, "paths", 0, "degen"), -1, "datasets[0].paths[0].degen"),
        (("datasets", 0, "paths", 0, "e0"), "del_e0 +", "datasets[0].paths[0].e0"),
        (("datasets", 0, "paths", 0, "sigma2"), "__import__('os')", "datasets[0].paths[0].sigma2"),
        (("datasets", 0, "paths", 0, "bogus"), 1, "datasets[0].paths[0].bogus"),
    ]
    for keys, value, field in cases:
        model = copy.deepcopy(_model())
        target = model
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
        assert _error(parse_fit_model, model).field == field, keys


def test_dataset_ids_must_match_model(cu):
    data, files = cu
    err = _error(run_fit, {"other": data["cu_rt"]}, _model(), files)
    assert err.field == "datasets"


def test_fit_result_json_and_multi_kweight(cu):
    data, files = cu
    model = _model()
    model["datasets"][0]["transform"]["kweight"] = [1, 2, 3]
    res = run_fit(data, model, files)
    out = res.to_json()
    json.dumps(out)  # fully serializable
    assert out["model"]["datasets"][0]["transform"]["kweight"] == [1, 2, 3]
    assert out["model"]["datasets"][0]["resolved_paths"][0]["path_file"] == "feffcu01"
    assert out["model"]["datasets"][0]["processing_resolved"]["autobk"]["kweight"] == 2
    assert set(out["versions"]) >= {"xraylarch", "lmfit", "numpy", "scipy", "python"}
    assert out["statistics"]["success"] is True
    arrays = out["datasets"][0]["arrays"]
    assert len(arrays["k_inv_a"]) == len(arrays["chi_data"]) == len(arrays["chi_model"])
    assert len(arrays["r_a"]) == len(arrays["chir_mag_data"]) == len(arrays["chir_mag_model"])
