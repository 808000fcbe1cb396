"""Round trip on every single-path published fit of seed 000 (Tables 1, 4, 5, 9, S4, S5).

χ(k) is SIMULATED from the published path (labelled simulated), noise is added, and the fit
recovers R within 0.01 Å and N within the published error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.engines.feff import DirectoryFeffCache
from analysis.engines.simulation import roundtrip_single_path

pytestmark = pytest.mark.slow
SEED000 = Path(__file__).resolve().parents[2] / "synthesis" / "demo_data" / "seed000.json"
TABLES = {"Table 1", "Table 4", "Table 5", "Table 9", "Table S4", "Table S5"}


def single_path_fits() -> list[tuple[str, dict]]:
    fits = json.loads(SEED000.read_text())["characterization"]["xas_fits"]
    out = []
    for fit in fits:
        if fit["citation"] in TABLES and len(fit["paths"]) == 1:
            path = fit["paths"][0]
            if None not in (path["n"], path["r_a"], path["sigma2_a2"], path["n_err"]):
                keep = (
                    "absorber",
                    "scatterer",
                    "n",
                    "n_err",
                    "r_a",
                    "r_err_a",
                    "sigma2_a2",
                    "delta_e0_ev",
                )
                values = {k: path[k] for k in keep if path.get(k) is not None}
                out.append(
                    (
                        f"{fit['citation']}:{fit['sample']}:{path['absorber']}-{path['scatterer']}",
                        {**values, "source": fit["citation"]},
                    )
                )
    return out


CASES = single_path_fits()


def test_every_listed_table_has_single_path_fits():
    assert {case_id.split(":")[0] for case_id, _ in CASES} == TABLES


@pytest.fixture(scope="module")
def feff_cache(tmp_path_factory):
    return DirectoryFeffCache(tmp_path_factory.mktemp("feff"))


@pytest.mark.parametrize("published", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_roundtrip_recovers_published_path(published, feff_cache):
    out = roundtrip_single_path(published, feff_cache=feff_cache, noise_frac=0.01, seed=7)
    assert out["label"].startswith("SIMULATED")
    assert abs(out["delta_r_a"]) < 0.01, out["recovered"]
    assert abs(out["delta_n"]) <= published["n_err"], out["recovered"]
