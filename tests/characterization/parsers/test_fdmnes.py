"""FDMNES outputs and FEFF xmu.dat as SIMULATED spectra, against numpy.loadtxt of the same files.

Independent reader: ``numpy.loadtxt`` on the data rows (FDMNES: the rows after the 'Energy'
label line; FEFF: the rows after the '#  omega e k mu mu0 chi' line). Absolute energies are
E_edge (the FDMNES header, 20000.000 eV for Mo K, = xraydb's Mo K edge) + ΔE.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from characterization.parsers.fdmnes import parse_fdmnes
from characterization.parsers.feff_xmu import parse_feff_xmu
from characterization.parsers.registry import detect_format, parse_file
from labdb.lib.errors import ParseError

from ._files import XAS

RAW = XAS / "beamlines" / "FDMNES_2022_Mo2C_out.dat"
CONV = XAS / "beamlines" / "FDMNES_2022_Mo2C_out_conv.dat"
FEFF_DIR = Path(__file__).parent / "data" / "feff8l_cds"
XMU = FEFF_DIR / "xmu.dat"


def _loadtxt_after(path: Path, marker: str) -> np.ndarray:
    """The numeric rows after the line starting with ``marker`` (numpy, not our reader)."""
    lines = path.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().startswith(marker))
    return np.loadtxt(lines[start + 1 :])


@pytest.mark.parametrize(("path", "n_points"), [(RAW, 559), (CONV, 589)])
def test_fdmnes_energies_are_e_edge_plus_delta_e_and_mu_the_xanes_column(path, n_points):
    table = _loadtxt_after(path, "Energy")
    parsed = parse_file(path.read_bytes(), filename=path.name)
    (series,) = parsed.series
    assert (parsed.format, series.x.size, series.x_unit) == ("fdmnes", n_points, "eV")
    np.testing.assert_array_equal(series.x, 20000.0 + table[:, 0])
    np.testing.assert_array_equal(series.y, table[:, 1])
    k = parsed.key_numbers
    assert (k["element"], k["edge"], k["e0_ev"], k["simulated"]) == ("Mo", "K", 20000.0, True)
    assert (k["energy_min_ev"], k["energy_max_ev"]) == (20000.0 + table[0, 0], 20119.8)


def test_fdmnes_raw_and_convoluted_outputs_are_told_apart_by_the_header():
    raw = parse_fdmnes(RAW.read_bytes(), filename="renamed_conv.dat").metadata
    conv = parse_fdmnes(CONV.read_bytes(), filename="renamed.dat").metadata
    assert (raw["convoluted"], raw["output_kind"], raw["convolution"]) == (
        False, "raw (unconvoluted cross-section)", None)
    assert (conv["convoluted"], conv["output_kind"]) == (True, "convoluted")
    # '#  20000.0  1.25  15.0  0.0 = E_edge, Gamma_hole, Gamma_max, E_cut' and '0.69430 = Shift'
    assert conv["convolution"] == {"gamma_hole_ev": 1.25, "gamma_max_ev": 15.0,
                                   "e_cut_ev": 0.0, "shift_ev": 0.6943}
    assert (raw["simulation_code"], raw["simulation_code_version"]) == (
        "FDMNES", "Revision 20th of January 2022")
    assert (raw["computed_at"], conv["computed_at"]) == (
        "2022-01-21T10:48:13", "2022-01-21T10:48:59")
    assert "measured_at" not in raw  # a simulation has no measurement time (no sample age)


def test_fdmnes_energy_reference_and_absorber_are_recorded():
    raw = parse_fdmnes(RAW.read_bytes(), filename="out.dat").metadata
    conv = parse_fdmnes(CONV.read_bytes(), filename="conv.dat").metadata
    assert raw["energy_reference"] == {
        "stored": "absolute energy in eV = E_edge + ΔE (the file's Energy column is ΔE)",
        "e_edge_ev": 20000.0, "e_edge_source": "FDMNES header (E_edge)",
        "tabulated_edge_ev": 20000.0, "tabulated_source": "xraydb edge table",
        "header_minus_tabulated_ev": 0.0,
    }
    assert (raw["header_values"]["Z"], raw["fermi_level_ev"]) == (42.0, -5.01332)
    assert raw["absorber_source"] == (
        "header Z; edge with the tabulated energy nearest E_edge (xraydb)")
    assert conv["absorber_source"] == "the one tabulated edge within 1 eV of E_edge (xraydb)"
    assert raw["structure"]["stated"] is False


def test_fdmnes_series_and_preview_say_simulated():
    parsed = parse_fdmnes(CONV.read_bytes(), filename="conv.dat")
    assert (parsed.series[0].name, parsed.series[0].y_label) == (
        "μ(E) SIMULATED (FDMNES, convoluted)", "μ(E) (SIMULATED)")


def _fdmnes_error(data: bytes, name: str = "Mo2C_out_conv.dat") -> str:
    with pytest.raises(ParseError) as err:
        parse_fdmnes(data, filename=name)
    assert err.value.message.startswith(f"{name}: FDMNES simulation output: ")
    return err.value.message


def test_fdmnes_truncated_in_a_number_is_refused():
    data = CONV.read_bytes().rstrip(b"\n")
    cut = data[: data.rindex(b"E-0") - 3]  # the last row stops inside its mantissa
    assert "the file looks truncated" in _fdmnes_error(cut)


def test_fdmnes_truncated_after_the_header_is_refused():
    data = CONV.read_bytes()
    head = data[: data.index(b"<xanes>") + len(b"<xanes>")] + b"\n"
    assert "only 0 data rows follow the column labels" in _fdmnes_error(head)


def test_fdmnes_flipped_column_labels_are_refused():
    data = CONV.read_bytes().replace(b"    Energy    <xanes>", b"    <xanes>    Energy", 1)
    assert "no column-label line starting with 'Energy'" in _fdmnes_error(data)


def test_fdmnes_flipped_columns_are_refused():
    """Cross-section written first, ΔE second: the first column no longer increases."""
    lines = CONV.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.split()[:1] == ["Energy"]) + 1
    swapped = [" ".join(ln.split()[::-1]) for ln in lines[start:]]
    data = "\n".join(lines[:start] + swapped).encode() + b"\n"
    message = _fdmnes_error(data)
    assert "the Energy column looks shifted or the header flipped" in message


def test_fdmnes_without_e_edge_line_is_refused():
    data = CONV.read_bytes().replace(b"= E_edge,", b"= Edge,", 1)
    assert "no '… = E_edge, …' line" in _fdmnes_error(data)


def test_fdmnes_ragged_and_non_numeric_rows_are_refused():
    data = CONV.read_bytes()
    ragged = data.replace(b"   -39.500  1.7532836E-03", b"   -39.500", 1)
    assert "data row 2 (line 8) has 1 values but the column labels name 2" in _fdmnes_error(ragged)
    text = data.replace(b"   -39.500  1.7532836E-03", b"   -39.500  n/a", 1)
    assert "data row 2 (line 8) is not numeric" in _fdmnes_error(text)


def test_a_measured_beamline_file_is_not_read_as_fdmnes():
    data = (XAS / "beamlines" / "APS13ID_2008.dat").read_bytes()
    assert detect_format(data, "FDMNES_out.dat") == "xas_ascii"
    assert "the first line must be FDMNES' banner" in _fdmnes_error(data, "x.dat")


# --- FEFF xmu.dat --------------------------------------------------------------------------


def test_feff_xmu_energy_is_omega_and_mu_the_mu_column():
    table = _loadtxt_after(XMU, "#  omega")
    parsed = parse_file(XMU.read_bytes(), filename="xmu.dat")
    (series,) = parsed.series
    assert (parsed.format, detect_format(XMU.read_bytes(), "a.txt"), series.x.size) == (
        "feff_xmu", "feff_xmu", 400)
    np.testing.assert_array_equal(series.x, table[:, 0])
    np.testing.assert_array_equal(series.y, table[:, 3])
    m, k = parsed.metadata, parsed.key_numbers
    assert (k["element"], k["edge"], k["simulated"]) == ("Cd", "K", True)
    assert k["e0_ev"] == pytest.approx(float(np.mean(table[:, 0] - table[:, 1])), abs=5e-4)
    assert (m["simulation_code_version"], m["calculation"], m["paths_used"]) == (
        "Feff8L (EXAFS) 0.1", "EXAFS", [5, 5])
    assert m["structure"] == {"stated": True, "title": "CdS zincblende a=5.818, Cd K",
                              "path_rmax_a": 5.0}
    assert (m["edge_step_norm"], series.name) == (7.5094e-05, "μ(E) SIMULATED (FEFF EXAFS)")


def _feff_error(data: bytes) -> str:
    with pytest.raises(ParseError) as err:
        parse_feff_xmu(data, filename="xmu.dat")
    assert err.value.message.startswith("xmu.dat: FEFF xmu.dat: ")
    return err.value.message


def test_feff_xmu_truncated_or_shifted_is_refused():
    data = XMU.read_bytes()
    assert "the file looks truncated" in _feff_error(data.rstrip(b"\n")[:-4])
    assert "no '#  omega" in _feff_error(data.replace(b"#  omega", b"#  energy", 1))
    lines = data.decode().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("#  omega")) + 1
    shifted = [" ".join([ln.split()[1], ln.split()[0], *ln.split()[2:]]) for ln in lines[start:]]
    message = _feff_error("\n".join(lines[:start] + shifted).encode() + b"\n")
    assert "energy column needs at least 5 finite positive values" in message


def test_feff_xmu_fixture_is_what_feff8l_computes_now(tmp_path):
    """The committed xmu.dat is feff8l's own output for the committed feff.inp (recomputed)."""
    from analysis.engines.feff import FEFF8_MODULES, feff_executable

    shutil.copy(FEFF_DIR / "feff.inp", tmp_path / "feff.inp")
    for module in FEFF8_MODULES:
        subprocess.run([str(feff_executable(f"feff8l_{module}"))], cwd=tmp_path, check=True,
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    fresh = parse_feff_xmu((tmp_path / "xmu.dat").read_bytes(), filename="xmu.dat")
    stored = parse_feff_xmu(XMU.read_bytes(), filename="xmu.dat")
    np.testing.assert_allclose(fresh.series[0].x, stored.series[0].x, rtol=0, atol=1e-3)
    np.testing.assert_allclose(fresh.series[0].y, stored.series[0].y, rtol=1e-5)
