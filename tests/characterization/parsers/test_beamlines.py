"""Beamline text files (shared/data/xas/beamlines/) against larch.io.read_ascii.

Independent reader: ``larch.io.read_ascii`` (xraylarch) on the same file. For every file our
reader accepts, the energy column and the columns μ is formed from are taken from larch's
table at the same positions, converted the way the file states (keV → eV, KEK-PF angles with
the stated ``Mono D=``, downward scans reversed) and μ is recomputed from them with numpy:
ln(I0/It) for transmission, If/I0 for fluorescence (SSRL: the sum of the SCA windows).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from characterization.parsers.registry import detect_format, parse_file
from labdb.lib.errors import ParseError

from ._files import XAS

BEAMLINES = XAS / "beamlines"
HC_EV_A = 12398.419843

ACCEPTED = {  # file: (format, points, mode, measured_at or None)
    "APS10BM_2019.dat": ("xas_ascii", 3464, "transmission", None),
    "APS12BM_2019.dat": ("xas_ascii", 492, "given", "2019-07-09T14:44:45"),
    "APS13ID_2008.dat": ("xas_ascii", 469, "transmission", None),
    "APS13ID_2019.dat": ("xdi", 221, "transmission", "2019-07-09T11:02:47"),
    "APS20BM_2001.dat": ("xas_ascii", 412, "transmission", None),
    "APS20ID_2022.dat": ("xas_ascii", 259, "transmission", None),
    "APS9BM_2006.dat": ("xas_ascii", 258, "fluorescence", "2006-04-13T10:28:46"),
    "APS9BM_2019.dat": ("xas_ascii", 442, "transmission", None),
    "ESRF_BM08_LISA_2021.dat": ("xas_ascii", 198, "given", None),
    "NSLS6BM_2019.dat": ("xdi", 352, "given", "2019-03-21T08:45:01"),
    "NSLS8ID_2019.dat": ("xas_ascii", 647, "fluorescence", None),
    "NSLS_XDAC_2011.dat": ("xas_ascii", 422, "transmission", None),
    "PF9A_2022.dat": ("xas_ascii", 1426, "fluorescence", None),
    "PFBL12C_2005.dat": ("xas_ascii", 818, "transmission", None),
    "SSRLmicro_2008.dat": ("xas_ascii", 296, "fluorescence", "2008-08-09T11:58:07"),
}
REJECTED = {  # file: words of the reason
    "APS20ID_2018.dat": "μ = ln(I0/It) needs positive I0 and It",
    "CLSHXMA.dat": "no μ column and no I0 with It or If",
    "ESRF_SNBL_2013.dat": "no μ column and no I0 with It or If",
    "SLS_PHOENIX_2023.dat": "μ = ln(I0/It) needs positive I0 and It",
    "generic_columns_no_header.dat": "no μ column and no I0 with It or If",
    "FDMNES_2022_Mo2C_out.dat": "not a recognised instrument file",
    "FDMNES_2022_Mo2C_out_conv.dat": "not a recognised instrument file",
}


def test_every_beamline_file_is_listed():
    assert sorted([*ACCEPTED, *REJECTED]) == sorted(p.name for p in BEAMLINES.iterdir())


@pytest.fixture(scope="module")
def read_ascii():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from larch.io import read_ascii
    return read_ascii


def _expected(parsed, table: np.ndarray):
    """(energy in eV, μ) rebuilt from larch's columns as the parser says it formed them."""
    m = parsed.metadata
    names = m["columns"]
    if m["energy_from_angle"]:
        energy = HC_EV_A / (2 * m["mono_d_spacing_a"] * np.sin(np.radians(table[1])))
    else:
        energy = table[m["energy_column_index"]] * (1000.0 if m["energy_converted_from_kev"] else 1)
    cols = {n: table[i] for i, n in enumerate(names)}
    if m["fluorescence_channels_summed"]:
        cols["if"] = np.sum([cols[c] for c in m["fluorescence_channels_summed"]], axis=0)
    if m["energy_from_angle"] and m["mu_columns"] == ["i0", "it"]:
        cols.update(i0=table[3], it=table[4])
    if m["energy_from_angle"] and m["mu_columns"] == ["i0", "if"]:
        cols.update(i0=table[3], **{"if": table[4]})
    a = cols[m["mu_columns"][0]]
    if m["mu_mode"] == "transmission":
        mu = np.log(a / cols[m["mu_columns"][1]])
    elif m["mu_mode"] == "fluorescence":
        mu = cols[m["mu_columns"][1]] / a
    else:
        mu = a
    if m["rows_reversed"]:
        energy, mu = energy[::-1], mu[::-1]
    return energy, mu


@pytest.mark.parametrize("name", sorted(n for n, v in ACCEPTED.items() if v[0] == "xas_ascii"))
def test_beamline_file_matches_larch(name, read_ascii):
    fmt, n_points, mode, measured_at = ACCEPTED[name]
    data = (BEAMLINES / name).read_bytes()
    parsed = parse_file(data, filename=name)
    group = read_ascii(str(BEAMLINES / name))
    energy, mu = _expected(parsed, np.asarray(group.data, dtype=float))
    (series,) = parsed.series
    assert (parsed.format, detect_format(data, name), series.x.size) == (fmt, fmt, n_points)
    assert (parsed.metadata["mu_mode"], parsed.metadata.get("measured_at")) == (mode, measured_at)
    np.testing.assert_allclose(series.x, energy, rtol=1e-12)
    np.testing.assert_allclose(series.y, mu, rtol=1e-12)
    assert parsed.key_numbers["element_stated"] is False


@pytest.mark.parametrize("name", sorted(n for n, v in ACCEPTED.items() if v[0] == "xdi"))
def test_beamline_xdi_file_matches_larch(name, read_ascii):
    fmt, n_points, mode, measured_at = ACCEPTED[name]
    parsed = parse_file((BEAMLINES / name).read_bytes(), filename=name)
    group = read_ascii(str(BEAMLINES / name))
    table = np.asarray(group.data, dtype=float)
    assert (parsed.format, parsed.series[0].x.size) == (fmt, n_points)
    assert (parsed.metadata["mu_mode"], parsed.metadata["measured_at"]) == (mode, measured_at)
    np.testing.assert_allclose(parsed.series[0].x, table[0], rtol=1e-12)


def test_ssrl_header_states_points_and_channels():
    parsed = parse_file((BEAMLINES / "SSRLmicro_2008.dat").read_bytes(), filename="s.dat")
    m = parsed.metadata
    assert (m["energy_column"], m["mu_columns"], len(m["fluorescence_channels_summed"])) == (
        "requested_energy",
        ["i0", "if"],
        32,  # Ge32_CLS_xmap.det: one SCA1 window per element of the 32-element Ge detector
    )
    assert (m["facility"], m["measured_at_timezone"]) == ("SSRL", "lab-local")


def test_ssrl_cut_in_half_is_refused_with_the_stated_point_count():
    data = (BEAMLINES / "SSRLmicro_2008.dat").read_bytes()
    cut = data[: data.rindex(b"\n", 0, len(data) // 2) + 1]
    with pytest.raises(ParseError) as err:
        parse_file(cut, filename="SSRLmicro_2008.dat")
    assert err.value.message.startswith("SSRLmicro_2008.dat: Beamline XAS text file: the header")
    assert "says 296 points but" in err.value.message


def test_kek_pf_angles_become_energies_with_the_stated_d_spacing():
    parsed = parse_file((BEAMLINES / "PF9A_2022.dat").read_bytes(), filename="pf.dat")
    m = parsed.metadata
    assert (m["facility"], m["beamline_name"], m["mono_d_spacing_a"], m["mode"]) == (
        "KEK-PF",
        "BL9A",
        3.13551,
        "fluorescence",
    )
    # first row's read-back angle 17.41440° → 12398.419843 / (2·3.13551 Å·sin 17.41440°)
    assert (parsed.series[0].x[0], m["rows_reversed"]) == (
        pytest.approx(6606.167377356347, rel=1e-12),
        False,
    )


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_beamline_file_without_a_usable_mu_is_refused_with_its_reason(name):
    with pytest.raises(ParseError) as err:
        parse_file((BEAMLINES / name).read_bytes(), filename=name)
    assert err.value.message.startswith(f"{name}: ")
    assert REJECTED[name] in err.value.message
