"""FEFF engine: lattice clusters, feff6l/feff8l subprocesses, failure detection, cache."""

from __future__ import annotations

import math

import pytest

from analysis.engines.feff import (
    DirectoryFeffCache,
    LatticeStructure,
    amcsd_cif,
    compute_feff_paths,
    feff8_to_feff6,
    feff_cache_key,
    feff_inp_from_cif,
    feff_run_counts,
    lattice_atoms,
    run_feff,
)
from labdb.lib.errors import EngineError

pytestmark = pytest.mark.slow  # real larch fits / FEFF runs

CDSE_ZB = LatticeStructure("zincblende", 6.05, "Cd", "Se")


def test_zincblende_cluster_distances_match_geometry():
    atoms = lattice_atoms(CDSE_ZB, "Cd", 4.5)
    dist = sorted({round(math.dist((0, 0, 0), a[1:]), 4) for a in atoms[1:]})
    assert dist == [round(6.05 * math.sqrt(3) / 4, 4), round(6.05 / math.sqrt(2), 4)]
    assert [a[0] for a in atoms[:5]] == ["Cd", "Se", "Se", "Se", "Se"]


def test_feff6l_zincblende_cdse_paths(feff_cache):
    run = compute_feff_paths(CDSE_ZB, absorber="Cd", cluster_radius_a=6.0, feff_version=6,
                             cache=feff_cache)
    first, second = run.paths[0], run.paths[1]
    assert (first.absorber, first.scatterers, first.degen, first.nleg) == ("Cd", ("Se",), 4.0, 2)
    assert first.reff_a == 2.6197
    assert (second.scatterers, second.degen, second.reff_a) == (("Cd",), 12.0, 4.278)
    assert len(run.paths) == 8
    assert run.files_dat.count("feff0") == 8


def test_feff8l_six_modules_run_as_subprocesses():
    before = feff_run_counts()
    inp = feff_inp_from_cif(amcsd_cif(["Zn", "Se"], amcsd_id=11535).cif_text, absorber="Zn",
                            cluster_radius_a=5.0, feff_version=8)
    run = run_feff(inp, feff_version=8)
    after = feff_run_counts()
    assert after["subprocesses"] - before["subprocesses"] == 6
    assert run.paths[0].label == "Zn-Se 2.4541 (4)"  # a·√3/4 for a = 5.6676 Å


def test_feff8_input_is_converted_for_feff6():
    cif = amcsd_cif(["Cd", "S"], mineral="Greenockite").cif_text
    text = feff_inp_from_cif(cif, absorber="Cd", cluster_radius_a=5.0, feff_version=6)
    cards = {line.split()[0] for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("*")
             and line.split()[0][0] not in "-0123456789."}
    assert {"HOLE", "CONTROL", "PRINT", "RMAX", "POTENTIALS", "ATOMS", "END"} <= cards
    assert not cards & {"EDGE", "S02", "RPATH", "EXAFS"}
    assert "HOLE      1   1.0" in text


def test_broken_feff_inp_is_detected_although_feff_exits_0():
    bad = "TITLE broken\nEDGE K\nPOTENTIALS\n 0 29 Cu\nATOMS\n 0 0 0 0\nEND\n"  # Feff8 card
    with pytest.raises(EngineError) as err:
        run_feff(bad, feff_version=6)
    assert err.value.field == "feff_inp"
    assert err.value.message == "FEFF failed in feff6l: Fatal Error: at RDINP."
    assert "exit status 0" in err.value.detail


def test_feff8_to_feff6_rejects_cards_without_equivalent():
    with pytest.raises(EngineError) as err:
        feff8_to_feff6("EDGE K\nSCF 5.0\nPOTENTIALS\n 0 29 Cu\nATOMS\n 0 0 0 0\n")
    assert err.value.message == "Feff8 card SCF has no Feff6 equivalent; use feff_version=8"


def test_cache_hit_runs_no_feff(tmp_path):
    cache = DirectoryFeffCache(tmp_path)
    structure = LatticeStructure("wurtzite", 4.137, "Cd", "S", c_a=6.7144, u=0.3775)
    before = feff_run_counts()
    miss = compute_feff_paths(structure, absorber="Cd", cluster_radius_a=4.5, cache=cache)
    middle = feff_run_counts()
    hit = compute_feff_paths(structure, absorber="Cd", cluster_radius_a=4.5, cache=cache)
    after = feff_run_counts()
    assert middle["calculations"] - before["calculations"] == 1
    assert after == middle  # the second, identical request started no FEFF process
    assert (miss.from_cache, hit.from_cache) == (False, True)
    assert hit.path_files() == miss.path_files()
    assert hit.cache_key == miss.cache_key == feff_cache_key(
        structure.canonical_text(), "Cd", "K", 4.5, 6)


def test_cache_key_changes_with_every_input():
    base = ("CIF", "Cd", "K", 6.0, 6)
    keys = {feff_cache_key(*base), feff_cache_key("CIF2", *base[1:]),
            feff_cache_key(base[0], "S", *base[2:]), feff_cache_key(*base[:2], "L3", *base[3:]),
            feff_cache_key(*base[:3], 6.5, 6), feff_cache_key(*base[:4], 8)}
    assert len(keys) == 6
    assert feff_cache_key("CIF\r\n", "Cd", "K", 6, 6) == feff_cache_key(*base)


def test_bad_structure_inputs_raise_engine_error():
    with pytest.raises(EngineError) as err:
        compute_feff_paths("not a cif", absorber="Cd")
    assert err.value.field == "cif_text"
    with pytest.raises(EngineError) as err:
        compute_feff_paths(CDSE_ZB, absorber="Zn")
    assert err.value.field == "absorber"
    with pytest.raises(EngineError) as err:
        compute_feff_paths(CDSE_ZB, absorber="Cd", feff_version=7)
    assert err.value.field == "feff_version"
