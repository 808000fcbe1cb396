"""Cd K edge of real CdS (greenockite, 10 K, SSRL 4-3, XASDataLibrary) with FEFF paths computed
offline from the bundled AMCSD greenockite CIF (id 15177).

Data: the mean of μ(E) = ln(I0/It) of the three repeat scans CdS_10K_01..03 (identical energy
grids). N and S0² are fully correlated, so S0² is not assumed: it is fitted simultaneously on
CdO (monteponite, same beamline, same day, same preparation, 10 K) whose first shell has N = 6
by crystallography, and shared with CdS, whose first-shell N is fitted.
"""

from __future__ import annotations

import numpy as np
import pytest
from xas_helpers import read_columns

from analysis.engines.feff import amcsd_cif, compute_feff_paths
from analysis.engines.fitting import run_fit
from analysis.engines.xas_processing import mu_from_columns

pytestmark = pytest.mark.slow  # real larch fits / FEFF runs

PROC = {"pre_edge": {}, "autobk": {"rbkg": 1.0, "kweight": 2}, "xftf": {"kmax": 14}}


def _mu(path):
    g = read_columns(path)
    return g.energy, mu_from_columns({"i0": g.i0, "itrans": g.itrans}, "transmission")


@pytest.fixture(scope="module")
def cds_fit(xas_data, feff_cache):
    lib = xas_data / "xasdatalibrary"
    scans = [_mu(lib / f"CdS_10K_0{i}.xdi") for i in (1, 2, 3)]
    assert all(np.array_equal(scans[0][0], s[0]) for s in scans)
    cds_mu = np.mean([s[1] for s in scans], axis=0)
    cdo_energy, cdo_mu = _mu(lib / "CdO_10K_01.xdi")
    cds_feff = compute_feff_paths(amcsd_cif(["Cd", "S"], amcsd_id=15177).cif_text,
                                  absorber="Cd", cluster_radius_a=5.0, cache=feff_cache)
    cdo_feff = compute_feff_paths(amcsd_cif(["Cd", "O"], amcsd_id=8253).cif_text,
                                  absorber="Cd", cluster_radius_a=5.0, cache=feff_cache)
    files = {**{f"cds_{k}": v for k, v in cds_feff.path_files().items()},
             **{f"cdo_{k}": v for k, v in cdo_feff.path_files().items()}}
    transform = {"kmin": 3, "kmax": 14, "kweight": 2, "dk": 2, "window": "hanning"}
    model = {
        "parameters": {
            "s02": {"kind": "guess", "value": 0.9, "min": 0.3, "max": 1.5},
            "n_cds": {"kind": "guess", "value": 3.0, "min": 0},
            **{name: {"kind": "guess", "value": 0.0} for name in
               ("de0_s", "dr_s", "de0_o", "dr_o", "dr_oc")},
            **{name: {"kind": "guess", "value": 0.003, "min": 0} for name in
               ("ss2_s", "ss2_o", "ss2_oc")}},
        "datasets": [
            {"id": "cds", "processing": PROC, "transform": {**transform, "rmin": 1.5, "rmax": 2.8},
             "paths": [{"label": "Cd-S", "n": "n_cds", "s02": "s02", "e0": "de0_s",
                        "deltar": "dr_s", "sigma2": "ss2_s",
                        "select": {"absorber": "Cd", "scatterer": "S", "r_min_a": 2.3,
                                   "r_max_a": 2.8}}]},
            {"id": "cdo", "processing": PROC, "transform": {**transform, "rmin": 1.2, "rmax": 3.6},
             "paths": [
                 {"label": "Cd-O", "s02": "s02", "e0": "de0_o", "deltar": "dr_o",
                  "sigma2": "ss2_o",
                  "select": {"absorber": "Cd", "scatterer": "O", "r_min_a": 2.0, "r_max_a": 2.6}},
                 {"label": "Cd-Cd", "s02": "s02", "e0": "de0_o", "deltar": "dr_oc",
                  "sigma2": "ss2_oc",
                  "select": {"absorber": "Cd", "scatterer": "Cd", "r_min_a": 3.0,
                             "r_max_a": 3.5}}]}]}
    result = run_fit({"cds": {"energy_ev": scans[0][0], "mu": cds_mu},
                      "cdo": {"energy_ev": cdo_energy, "mu": cdo_mu}}, model, files)
    return result, cds_feff


def test_cds_first_shell_distance_matches_crystallography(cds_fit):
    result, feff = cds_fit
    shell = [p for p in feff.paths if p.scatterers == ("S",) and p.reff_a < 2.8]
    assert [(p.reff_a, p.degen) for p in shell] == [(2.5179, 1.0), (2.5317, 3.0)]  # 3 + 1 split
    r_cryst = sum(p.reff_a * p.degen for p in shell) / sum(p.degen for p in shell)
    fitted = [p for p in result.paths if p["dataset"] == "cds"]
    r_fit = sum(p["r_a"] * p["n"] for p in fitted) / sum(p["n"] for p in fitted)
    assert abs(r_fit - r_cryst) < 0.02
    assert fitted[0]["r_err_a"] < 0.01


def test_cds_first_shell_coordination_is_four_within_error(cds_fit):
    result, _ = cds_fit
    n = result.parameters["n_cds"]
    assert abs(n["value"] - 4.0) <= n["stderr"]
    assert 0.1 < n["stderr"] < 1.0
    # the transferred S0² is physical and determined to better than 10 %
    s02 = result.parameters["s02"]
    assert 0.6 < s02["value"] < 1.0 and s02["stderr"] < 0.1 * s02["value"]
    shares = sorted(p["n"] / n["value"] for p in result.paths if p["dataset"] == "cds")
    assert [round(x, 6) for x in shares] == [0.25, 0.75]
    assert result.statistics["success"] is True
    assert result.warnings == []
