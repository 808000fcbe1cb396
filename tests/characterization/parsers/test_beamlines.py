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
from characterization.parsers.xas_ascii import DeclarationError, with_declared_columns
from labdb.lib.errors import ParseError

from ._files import XAS

BEAMLINES = XAS / "beamlines"
HC_EV_A = 12398.419843

ACCEPTED = {  # file: (format, points, mode, measured_at or None; LabVIEW dates M/D/Y, US)
    "APS10BM_2019.dat": ("xas_ascii", 3464, "transmission", None),
    "APS12BM_2019.dat": ("xas_ascii", 492, "given", "2019-07-09T14:44:45"),
    "APS13ID_2008.dat": ("xas_ascii", 469, "transmission", None),
    "APS13ID_2019.dat": ("xdi", 221, "transmission", "2019-07-09T11:02:47"),
    "APS20BM_2001.dat": ("xas_ascii", 412, "transmission", "2001-08-10T11:10:00"),
    "APS20ID_2018.dat": ("xas_ascii", 379, "fluorescence", "2018-06-15T20:14:19"),
    "APS20ID_2022.dat": ("xas_ascii", 259, "transmission", "2022-07-07T14:33:33"),
    "APS9BM_2006.dat": ("xas_ascii", 258, "fluorescence", "2006-04-13T10:28:46"),
    "APS9BM_2019.dat": ("xas_ascii", 442, "transmission", "2019-07-09T13:00:29"),
    "ESRF_BM08_LISA_2021.dat": ("xas_ascii", 198, "given", None),
    "NSLS6BM_2019.dat": ("xdi", 352, "given", "2019-03-21T08:45:01"),
    "NSLS8ID_2019.dat": ("xas_ascii", 647, "fluorescence", None),
    "NSLS_XDAC_2011.dat": ("xas_ascii", 422, "transmission", None),
    "PF9A_2022.dat": ("xas_ascii", 1426, "fluorescence", None),
    "PFBL12C_2005.dat": ("xas_ascii", 818, "transmission", None),
    "SLS_PHOENIX_2023.dat": ("xas_ascii", 301, "fluorescence", None),
    "SSRLmicro_2008.dat": ("xas_ascii", 296, "fluorescence", "2008-08-09T11:58:07"),
}
MULTI_SCAN = {"ESRF_SNBL_2013.dat": (456, 906)}  # SPEC #S scans: points per scan
COLUMN_TABLES = {  # μ not formed (no column named μ, I0, It, If): (rows, columns)
    "CLSHXMA.dat": (414, 11),
    "generic_columns_no_header.dat": (198, 7),
}
SIMULATED = {  # FDMNES XANES simulations (read by the FDMNES reader: test_fdmnes.py): points
    "FDMNES_2022_Mo2C_out.dat": ("fdmnes", 559),
    "FDMNES_2022_Mo2C_out_conv.dat": ("fdmnes", 589),
}
REJECTED: dict[str, str] = {}  # file: words of the reason (every beamline file is read now)


def test_every_beamline_file_is_listed():
    listed = [*ACCEPTED, *MULTI_SCAN, *COLUMN_TABLES, *SIMULATED, *REJECTED]
    assert sorted(listed) == sorted(p.name for p in BEAMLINES.iterdir())


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


@pytest.mark.parametrize("name", sorted(SIMULATED))
def test_fdmnes_beamline_file_is_read_as_a_simulation(name):
    data = (BEAMLINES / name).read_bytes()
    parsed = parse_file(data, filename=name)
    fmt, n_points = SIMULATED[name]
    assert (parsed.format, detect_format(data, name), parsed.series[0].x.size) == (
        fmt, fmt, n_points
    )
    assert parsed.metadata["simulated"] is True


@pytest.mark.parametrize(
    ("name", "i0", "window", "line"),
    [
        ("APS20ID_2018.dat", "xmap4_dt_corr_i0", "xmap4_aska_sum", "As Kα"),
        ("SLS_PHOENIX_2023.dat", "i0_keithley1_c4", "alka_sum_cps_c3", "Al Kα"),
    ],
)
def test_emission_line_window_of_the_edge_element_is_the_fluorescence(
    name, i0, window, line, read_ascii
):
    """APS 20-ID's IT (≈ 0, amplifier offset) and SLS PHOENIX's I1 (negative) carry no
    transmission; the XMAP/SDD window of the one element whose K edge lies in the scan (As K
    11867 eV in 11717–12246 eV; Al K 1559.6 eV in 1480–1840 eV, Mg K 1303 eV outside) over the
    (dead-time-corrected) I0 is μ. Checked against larch's columns fetched by larch's labels."""
    parsed = parse_file((BEAMLINES / name).read_bytes(), filename=name)
    group = read_ascii(str(BEAMLINES / name))
    m = parsed.metadata
    assert (m["mu_columns"], m["fluorescence_line"], m["mode"]) == (
        [i0, window],
        line,
        "fluorescence",
    )
    np.testing.assert_allclose(
        parsed.series[0].y, getattr(group, window) / getattr(group, i0), rtol=1e-12
    )


def _spec_scan_table(path, number: int) -> np.ndarray:
    """Numeric rows of SPEC scan ``#S number`` read with numpy (independent of our reader)."""
    text = path.read_text(encoding="latin-1").split("\n#S ")[number]
    rows = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(("#", " #"))][1:]
    return np.loadtxt(rows)


def test_snbl_both_scans_are_transmission_from_mon_and_ion1(read_ascii):
    """ESRF SNBL zap scans: Mon (incident monitor, flat) and Ion1 (halves across the Ge K
    edge): μ = ln(Mon/Ion1), energy ZapEnergy in keV. Scan 2 is what larch.io.read_ascii reads
    (the file's last table); scan 1 is read with numpy.loadtxt from its own lines."""
    path = BEAMLINES / "ESRF_SNBL_2013.dat"
    parsed = parse_file(path.read_bytes(), filename=path.name)
    assert [s.x.size for s in parsed.series] == list(MULTI_SCAN[path.name])
    assert [(s["label"], s["started"]) for s in parsed.metadata["scans"]] == [
        ("μ(E) scan 1", "2013-06-28T13:44:15"),  # each scan's own #D line
        ("μ(E) scan 2", "2013-06-28T13:49:09"),
    ]
    assert (parsed.metadata["mu_columns"], parsed.metadata["mode"]) == (
        ["mon", "ion1"],
        "transmission",
    )
    group = read_ascii(str(path))
    scan1 = _spec_scan_table(path, 1)
    for series, (energy_kev, mon, ion1) in zip(
        parsed.series,
        [(scan1[:, 15], scan1[:, 0], scan1[:, 7]), (group.zapenergy, group.mon, group.ion1)],
    ):
        np.testing.assert_allclose(series.x, energy_kev * 1000.0, rtol=1e-12)
        np.testing.assert_allclose(series.y, np.log(mon / ion1), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(COLUMN_TABLES))
def test_column_table_keeps_every_column_and_forms_no_mu(name, read_ascii):
    """No column is named μ, I0, It or If (CLS '$(Detector1)…', a bare table): every column
    is kept as read (compared with larch.io.read_ascii's table) and μ is not invented."""
    parsed = parse_file((BEAMLINES / name).read_bytes(), filename=name)
    table = np.asarray(read_ascii(str(BEAMLINES / name)).data, dtype=float)
    rows, n_columns = COLUMN_TABLES[name]
    assert (parsed.format, parsed.technique, table.shape) == ("xas_ascii", "xas", (n_columns, rows))
    assert (parsed.key_numbers["mu_formed"], parsed.metadata["mu_mode"]) == (False, "not formed")
    assert [s.name for s in parsed.series] == [f"column {i + 1}" for i in range(n_columns)]
    for i, series in enumerate(parsed.series):
        np.testing.assert_array_equal(series.y, table[i])
        np.testing.assert_array_equal(series.x, np.arange(1, rows + 1))


def test_bare_table_states_which_columns_are_logarithms_of_others():
    """In generic_columns_no_header.dat column 4 is ln(col2/col3) and column 7 ln(col5/col6)
    (columns 3 and 5 are the same numbers): a hint shown to the chemist, not used by itself."""
    name = "generic_columns_no_header.dat"
    parsed = parse_file((BEAMLINES / name).read_bytes(), filename=name)
    assert parsed.metadata["column_relations"] == [
        "column 4 = ln(column 2 / column 3)",
        "column 4 = ln(column 2 / column 5)",
        "column 7 = ln(column 3 / column 6)",
        "column 7 = ln(column 5 / column 6)",
    ]


def test_declared_columns_form_mu_as_larch_columns_give_it(read_ascii):
    """Declared: energy column 1 (eV), transmission, I0 = column 2, It = column 3. μ must be
    ln(col2/col3) of larch's table, and agrees with the file's own column 4 to 1e-9."""
    name = "generic_columns_no_header.dat"
    parsed = parse_file((BEAMLINES / name).read_bytes(), filename=name)
    table = np.asarray(read_ascii(str(BEAMLINES / name)).data, dtype=float)
    declared = with_declared_columns(
        parsed,
        {"energy_column": "1", "energy_unit": "eV", "mode": "transmission",
         "numerator": 2, "denominator": "col3"},
    )
    (series,) = declared.series
    np.testing.assert_array_equal(series.x, table[0])
    np.testing.assert_allclose(series.y, np.log(table[1] / table[2]), rtol=1e-12)
    np.testing.assert_allclose(series.y, table[3], rtol=1e-9)
    assert declared.metadata["mu_declared"] == {
        "energy_column": 1, "energy_unit": "eV", "mode": "transmission",
        "numerator": 2, "denominator": 3,
    }
    assert (declared.key_numbers["mu_formed"], declared.key_numbers["n_points"]) == (True, 198)
    assert (declared.key_numbers["energy_min_ev"], declared.key_numbers["energy_max_ev"]) == (
        table[0].min(), table[0].max()
    )


def test_declared_fluorescence_on_the_cls_table(read_ascii):
    """CLS HXMA: the energy feedback column (3) in eV, fluorescence detector1 over detector2
    (names and unit spelled as a chemist types them): μ = col5/col6 of larch's table."""
    name = "CLSHXMA.dat"
    parsed = parse_file((BEAMLINES / name).read_bytes(), filename=name)
    table = np.asarray(read_ascii(str(BEAMLINES / name)).data, dtype=float)
    declared = with_declared_columns(
        parsed,
        {"energy_column": "energyfeedback", "energy_unit": "ev", "mode": "Fluorescence",
         "numerator": "detector1", "denominator": "detector2"},
    )
    np.testing.assert_array_equal(declared.series[0].x, table[2])
    np.testing.assert_allclose(declared.series[0].y, table[4] / table[5], rtol=1e-12)
    assert declared.metadata["mu_columns"] == ["detector1", "detector2"]


@pytest.mark.parametrize(
    ("declaration", "field", "words"),
    [
        ({"energy_column": 9, "numerator": 2, "denominator": 3}, "energy_column",
         "is not a column of this file; expected a column number 1–7"),
        ({"energy_column": 1, "numerator": 2, "denominator": 2}, "denominator",
         "three different columns"),
        ({"energy_column": 1, "numerator": 2, "denominator": 3, "energy_unit": "nm"},
         "energy_unit", "expected eV or keV"),
        ({"energy_column": 1, "numerator": 2, "denominator": 3, "mode": "xanes"},
         "mode", "expected transmission or fluorescence"),
        ({"energy_column": 2, "numerator": 1, "denominator": 3}, "energy_column",
         "energies must increase"),
    ],
)
def test_declaration_that_cannot_form_mu_names_its_field(declaration, field, words):
    name = "generic_columns_no_header.dat"
    parsed = parse_file((BEAMLINES / name).read_bytes(), filename=name)
    full = {"energy_unit": "eV", "mode": "transmission", **declaration}
    with pytest.raises(DeclarationError) as err:
        with_declared_columns(parsed, full)
    assert (err.value.field, words in err.value.message) == (field, True)
    assert err.value.message.startswith(f"{field}: ")


def test_emission_line_scan_whose_amplifier_gain_changes_is_refused():
    """SLS PHOENIX writes each Keithley's gain beside its current; a scan where I0's gain
    changes mid-way cannot give If/I0 without rescaling the file does not document."""
    name = "SLS_PHOENIX_2023.dat"
    lines = (BEAMLINES / name).read_text(encoding="latin-1").splitlines(keepends=True)
    cells = lines[100].split()
    assert cells[4] == "7.000000000E+00"  # KEITHLEY1_GAIN_c5 of data row 99
    lines[100] = lines[100].replace(cells[4], "8.000000000E+00", 1)
    with pytest.raises(ParseError) as err:
        parse_file("".join(lines).encode("latin-1"), filename=name)
    assert err.value.message == (
        f"{name}: Beamline XAS text file: the amplifier gain column keithley1_gain_c5 changes "
        "during the scan; μ cannot be formed from currents measured at different gains"
    )
