"""Fits A, B, E, F of docs/XAS.md §3 reproduced through the engine, to every printed digit.

References: Larch docs doc_feffit1.out (A) and doc_feffit2.out (B) (copies in
larch_examples/reference_outputs/), the stored output of the notebook
feffit_basic_znse_wxmplot.ipynb (E) and the docs' "Table of ZnSe Results" (F, doc_feffit6.py).
"""

from __future__ import annotations

import pytest
from xas_helpers import cu_model, guesses, read_columns, sig, znse_mu

from analysis.engines.fitting import run_fit
from analysis.engines.xas_processing import mu_from_columns

pytestmark = pytest.mark.slow  # real larch fits / FEFF runs

def _cu_data(xas_data):
    g = read_columns(xas_data / "larch_examples" / "cu_metal_rt.xdi")
    return {"cu_rt": {"energy_ev": g.energy, "mu": g.mutrans}}


def _text(path):
    return path.read_text()


def test_fit_a_cu_one_path_matches_doc_feffit1(xas_data):
    model = cu_model(rbkg=1.0, rmax=3.0, parameters=guesses(amp=1.0, del_e0=0.0, sig2=0.0,
                                                            del_r=0.0),
                     paths=[{"label": "Cu1", "path_file": "feffcu01", "s02": "amp",
                             "e0": "del_e0", "sigma2": "sig2", "deltar": "del_r"}])
    files = {"feffcu01": _text(xas_data / "larch_examples" / "feff_cu" / "feffcu01.dat")}
    res = run_fit(_cu_data(xas_data), model, files)
    p, st = res.parameters, res.statistics
    assert round(p["amp"]["value"], 7) == 0.9305631
    assert round(p["amp"]["stderr"], 7) == 0.0391214
    assert round(p["del_e0"]["value"], 7) == 4.3577673
    assert round(p["del_e0"]["stderr"], 7) == 0.5113492
    assert round(p["sig2"]["value"], 7) == 0.0086697
    assert sig(p["sig2"]["stderr"], 5) == 3.0785e-4
    assert round(p["del_r"]["value"], 7) == -0.0060167
    assert round(p["del_r"]["stderr"], 7) == 0.0026133
    assert st["nfev"] == 36
    assert st["nvarys"] == 4
    assert st["ndata"] == 104
    assert round(st["n_independent"], 7) == 15.2602829
    assert round(st["chi_square"], 6) == 112.744159
    assert round(st["chi2_reduced"], 7) == 10.0125512
    assert round(st["rfactor"], 8) == 0.00272181
    assert round(st["aic"], 7) == 38.5185454
    assert round(st["bic"], 7) == 41.4195597
    path = res.paths[0]
    assert round(path["reff_a"], 7) == 2.5478
    assert path["n"] == 12.0
    assert round(path["r_a"], 7) == 2.5417833
    assert round(path["r_err_a"], 7) == 0.0026133
    assert (path["absorber"], path["scatterers"]) == ("Cu", ["Cu"])
    assert round(res.correlations["amp,sig2"], 3) == 0.928
    assert round(res.correlations["del_e0,del_r"], 3) == 0.920


def test_fit_b_cu_three_paths_matches_doc_feffit2(xas_data):
    params = guesses(amp=1, del_e0=3, c3_1=0.002, sig2_1=0.002, sig2_2=0.002, sig2_3=0.002,
                     alpha=0)
    common = {"s02": "amp", "e0": "del_e0", "deltar": "alpha*reff"}
    model = cu_model(rbkg=1.1, rmax=3.5, parameters=params, paths=[
        {"label": "p1", "path_file": "feff0001", "sigma2": "sig2_1", "third": "c3_1", **common},
        {"label": "p2", "path_file": "feff0002", "sigma2": "sig2_2", **common},
        {"label": "p3", "path_file": "feff0003", "sigma2": "sig2_3", **common}])
    files = {f"feff000{i}": _text(xas_data / "larch_examples" / "feff_cu" / f"feff000{i}.dat")
             for i in (1, 2, 3)}
    res = run_fit(_cu_data(xas_data), model, files)
    p, st = res.parameters, res.statistics
    expected = {  # name: (value, printed stderr)
        "amp": (0.9352796, 0.0361711), "del_e0": (5.7042622, 0.8197287),
        "sig2_1": (0.0086805, 2.8390e-4), "sig2_2": (0.0131046, 0.0011358),
        "sig2_3": (0.0063292, 0.0030901), "alpha": (0.0028114, 0.0029801)}
    for name, (value, stderr) in expected.items():
        assert round(p[name]["value"], 7) == value, name
        assert sig(p[name]["stderr"], 5) == sig(stderr, 5), name
    assert sig(p["c3_1"]["value"], 5) == 1.4440e-4
    assert sig(p["c3_1"]["stderr"], 5) == 8.2197e-5
    assert st["nfev"] == 107
    assert round(st["n_independent"], 7) == 19.7166213
    assert round(st["chi_square"], 7) == 12.8831987
    assert round(st["chi2_reduced"], 8) == 1.01309919
    assert round(st["rfactor"], 8) == 0.00251320
    r = {path["label"]: (round(path["r_a"], 7), round(path["r_err_a"], 7)) for path in res.paths}
    assert r == {"p1": (2.5549629, 0.0075926), "p2": (3.6133300, 0.0107377),
                 "p3": (3.8325446, 0.0113892)}
    assert sig(res.paths[0]["c3_a3"], 5) == 1.4440e-4


def test_fit_e_znse_notebook_matches_stored_output(xas_data):
    model = {
        "parameters": guesses(amp=1.0, del_e0=0.5, sig2=0.005, del_r=0.001),
        "datasets": [{
            "id": "znse",
            "processing": {"pre_edge": {}, "autobk": {"rbkg": 1.0, "kweight": 2},
                           "xftf": {"kmin": 3, "kmax": 12, "kweight": 2, "dk": 4,
                                    "window": "kaiser"}},
            "transform": {"kmin": 3, "kmax": 12, "kweight": 2, "dk": 4, "window": "kaiser",
                          "rmin": 1.0, "rmax": 3.0},
            "paths": [{"label": "Zn-Se", "path_file": "feff_znse", "s02": "amp",
                       "e0": "del_e0", "sigma2": "sig2", "deltar": "del_r"}]}]}
    files = {"feff_znse": _text(xas_data / "larch_examples" / "feff_znse" / "feff_znse.dat")}
    res = run_fit({"znse": znse_mu(xas_data)}, model, files)
    p, st = res.parameters, res.statistics
    assert (round(p["amp"]["value"], 7), round(p["amp"]["stderr"], 7)) == (0.9907808, 0.0545694)
    assert (round(p["del_e0"]["value"], 7), round(p["del_e0"]["stderr"], 7)) == \
        (5.8934099, 0.6999559)
    assert (round(p["del_r"]["value"], 7), round(p["del_r"]["stderr"], 7)) == \
        (-0.0012321, 0.0034249)
    assert round(p["sig2"]["value"], 7) == 0.0065432
    assert sig(p["sig2"]["stderr"], 5) == 4.1835e-4
    assert st["nfev"] == 26
    assert st["ndata"] == 130
    assert round(st["n_independent"], 7) == 12.4591559
    assert round(st["chi_square"], 6) == 246.372951
    assert round(st["chi2_reduced"], 7) == 29.1250042
    assert round(st["rfactor"], 8) == 0.00283002
    assert round(res.paths[0]["r_a"], 7) == 2.4528679


def test_fit_e_with_mu_from_columns_gives_the_same_printed_values(xas_data):
    g = read_columns(xas_data / "larch_examples" / "znse_zn_xafs.001",
                     ["energy", "time", "i0", "itrans"])
    mu = mu_from_columns({"i0": g.i0, "itrans": g.itrans}, "transmission")  # ln(I0/It)
    model = {
        "parameters": guesses(amp=1.0, del_e0=0.5, sig2=0.005, del_r=0.001),
        "datasets": [{
            "id": "znse",
            "processing": {"pre_edge": {}, "autobk": {"rbkg": 1.0, "kweight": 2}, "xftf": {}},
            "transform": {"kmin": 3, "kmax": 12, "kweight": 2, "dk": 4, "rmin": 1.0,
                          "rmax": 3.0},
            "paths": [{"path_file": "f", "s02": "amp", "e0": "del_e0", "sigma2": "sig2",
                       "deltar": "del_r"}]}]}
    files = {"f": _text(xas_data / "larch_examples" / "feff_znse" / "feff_znse.dat")}
    res = run_fit({"znse": {"energy_ev": g.energy, "mu": mu}}, model, files)
    assert round(res.parameters["amp"]["value"], 7) == 0.9907808
    assert round(res.statistics["chi2_reduced"], 7) == 29.1250042


def _fit_f(xas_data, path_name: str):
    model = {
        "parameters": {
            "amp": {"kind": "guess", "value": 1.0},
            "del_e0": {"kind": "guess", "value": 0.1, "min": -20, "max": 20},
            "sig2": {"kind": "guess", "value": 0.006, "min": 0},
            "del_r": {"kind": "guess", "value": 0.0}},
        "datasets": [{
            "id": "znse",
            "processing": {"pre_edge": {}, "autobk": {"e0": 9665.0, "rbkg": 1.21, "kweight": 2},
                           "xftf": {}},
            "transform": {"kmin": 3, "kmax": 13, "kweight": 2, "dk": 4, "window": "kaiser",
                          "rmin": 1.5, "rmax": 3.0},
            "paths": [{"label": "shell1", "path_file": "p", "degen": 4.0, "s02": "amp",
                       "e0": "del_e0", "sigma2": "sig2", "deltar": "del_r"}]}]}
    files = {"p": _text(xas_data / "larch_examples" / "feff_znse" / path_name)}
    res = run_fit({"znse": znse_mu(xas_data)}, model, files)
    p, path = res.parameters, res.paths[0]
    # formatted exactly like doc_feffit6.py's table
    return {"scatterer": path["scatterers"][0],
            "redchi": f"{res.statistics['chi2_reduced']:.2f}",
            "S02": f"{p['amp']['value']:.2f} ({p['amp']['stderr']:.2f})",
            "E0": f"{p['del_e0']['value']:+.2f} ({p['del_e0']['stderr']:.2f})",
            "sigma2": f"{p['sig2']['value']:.4f} ({p['sig2']['stderr']:.4f})",
            "R": f"{path['r_a']:.4f} ({p['del_r']['stderr']:.4f})"}


def test_fit_f_znse_table_row_se(xas_data):
    row = _fit_f(xas_data, "Feff_ZnSe_feff_znse.dat")
    assert row == {"scatterer": "Se", "redchi": "6.28", "S02": "0.89 (0.04)",
                   "E0": "+1.08 (0.58)", "sigma2": "0.0059 (0.0003)", "R": "2.4483 (0.0027)"}


def test_fit_f_znse_table_row_zn(xas_data):
    row = _fit_f(xas_data, "Feff_ZnSe_feff_znzn.dat")
    assert (row["scatterer"], row["redchi"], row["S02"], row["R"]) == \
        ("Zn", "30.17", "0.72 (0.07)", "2.4714 (0.0058)")
