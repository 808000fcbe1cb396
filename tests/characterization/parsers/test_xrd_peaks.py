"""Reflections from real patterns, against peak lists established by inspection.

Each pattern was plotted (log intensity, background and found peaks) and looked at; the lists
below are the reflections visible by eye, and for Cu₃Au they are also the indexed reflections
of the L1₂ (ordered, Cu3Au-2) and fcc (disordered, Cu3Au-1) cells with a = 3.748 Å:
2θ = 2·asin(λ·√(h²+k²+l²) / (2a)), λ = 1.5406 Å. 27.12° in both Cu₃Au files is a sharp
non-Cu₃Au line (holder/impurity) that is real in the data, so it is kept.
"""

from __future__ import annotations

import numpy as np
import pytest

from characterization.parsers.registry import parse_file
from characterization.parsers.xrd_peaks import find_reflections

from ._files import INSTRUMENTS, SHARED_DATA

RAW = SHARED_DATA / "lab_exports" / "bruker_raw"
A_CU3AU = 3.748


def _bragg(hkl: tuple[int, int, int], lam: float = 1.5406) -> float:
    return float(np.degrees(2 * np.arcsin(lam * np.sqrt(sum(i * i for i in hkl)) / (2 * A_CU3AU))))


def _positions(path) -> list[float]:
    return parse_file(path.read_bytes(), filename=path.name).key_numbers["peak_positions_deg"]


def test_disordered_cu3au_gives_its_five_fcc_reflections_not_noise():
    """1–140 counts: the old 5 %-prominence rule stored 20 noise peaks here."""
    found = _positions(RAW / "Cu3Au-1.raw")
    assert found == [27.12, 37.96, 41.48, 48.34, 70.94, 85.78]
    for hkl, tt in zip([(1, 1, 1), (2, 0, 0), (2, 2, 0), (3, 1, 1)], [41.48, 48.34, 70.94, 85.78]):
        assert abs(_bragg(hkl) - tt) < 0.25


def test_ordered_cu3au_superlattice_reflections_are_found():
    found = _positions(RAW / "Cu3Au-2.raw")
    assert found == [23.64, 27.12, 33.72, 41.64, 48.42, 54.66, 60.32, 71.02, 85.84, 90.64]
    indexed = [(1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 0, 0), (2, 1, 0), (2, 1, 1), (2, 2, 0)]
    for hkl, tt in zip(indexed, [23.64, 33.72, 41.64, 48.42, 54.66, 60.32, 71.02]):
        assert abs(_bragg(hkl) - tt) < 0.15


def test_reflection_has_height_fwhm_and_d_spacing():
    parsed = parse_file((RAW / "Cu3Au-2.raw").read_bytes(), filename="Cu3Au-2.raw")
    r111 = next(r for r in parsed.key_numbers["reflections"] if r["twotheta_deg"] == 41.64)
    assert r111["d_a"] == pytest.approx(1.5406 / (2 * np.sin(np.radians(41.64 / 2))), abs=1e-5)
    assert r111["d_a"] == pytest.approx(A_CU3AU / np.sqrt(3), abs=0.01)  # (111) of Cu₃Au
    assert (r111["height_counts"] > 300, 0.2 < r111["fwhm_deg"] < 0.35) == (True, True)


def test_kalpha2_twin_is_paired_not_counted():
    path = INSTRUMENTS / "xrdml" / "CG20396_jdb12-1.xrdml"
    parsed = parse_file(path.read_bytes(), filename=path.name)
    refl = {r["twotheta_deg"]: r for r in parsed.key_numbers["reflections"]}
    parent = refl[41.6729]
    expected = np.degrees(2 * np.arcsin(1.544426 / 1.540598 * np.sin(np.radians(41.6729 / 2))))
    assert parent["kalpha2_twotheta_deg"] == pytest.approx(expected, abs=0.02)
    assert 41.7731 not in refl


def test_film_shoulder_beside_substrate_is_kept():
    path = INSTRUMENTS / "brml" / "23-012-AG_2thomegascan_long.brml"
    parsed = parse_file(path.read_bytes(), filename=path.name)
    film = next(r for r in parsed.key_numbers["reflections"] if r["twotheta_deg"] == 45.898)
    assert film["kalpha2_twotheta_deg"] is None
    assert film["height_counts"] == pytest.approx(0.054 * 467250.12, rel=0.01)


def test_flat_noise_has_no_reflections():
    rng = np.random.default_rng(7)
    tt = np.arange(20.0, 80.0, 0.02)
    assert find_reflections(tt, rng.poisson(50.0, tt.size), wavelength_a=1.5406) == []
