"""Formats without a licensed real sample: NanoLog exports, TEM size tables and composition
tables. Every fixture below is SYNTHETIC, written by the test following FORMATS.md §3.7/§3.11.
"""

from __future__ import annotations

import io
import math

import numpy as np
import openpyxl
import pytest

from characterization.parsers.composition_table import parse_composition_table
from characterization.parsers.edinst import parse_edinst
from characterization.parsers.registry import detect_format, parse_file
from characterization.parsers.size_table import parse_size_table
from labdb.lib.errors import ParseError

SIGMA_TO_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


def _band(x, center, sigma, height):
    return height * np.exp(-0.5 * ((x - center) / sigma) ** 2)


def synthetic_fluoressence_xy() -> bytes:
    """SYNTHETIC FluorEssence 'ASCII XY' export: 3 header rows + x/y column pairs."""
    x = np.arange(550.0, 700.0, 0.5)
    ratio, s1, r1 = _band(x, 620.0, 10.0, 1e4) + 20, _band(x, 622.0, 12.0, 5e5), 3.2 + 0 * x
    rows = [
        "A\tS1cR1c\tB\tS1\tC\tR1",
        "Wavelength\tS1c / R1c\tWavelength\tS1\tWavelength\tR1",
        "nm\tCPS / MicroAmps\tnm\tCPS\tnm\tMicroAmps",
    ]
    rows += [
        f"{a:.2f}\t{b:.4f}\t{a:.2f}\t{c:.4f}\t{a:.2f}\t{d:.4f}"
        for a, b, c, d in zip(x, ratio, s1, r1)
    ]
    return ("\r\n".join(rows) + "\r\n").encode()


def synthetic_fluoressence_csv() -> bytes:
    """SYNTHETIC Edinburgh-style CSV export with a key/value header block (Start/Stop/Step
    describe the 1050 rows that follow)."""
    x = np.arange(600.0, 1650.0, 1.0)
    y = _band(x, 1100.0, 40.0, 2e4) + 50
    head = [
        "Labels,0,",
        "Type,Emission Scan,",
        "Start,600.00,",
        "Stop,1649.00,",
        "Step,1.00,",
        "Fixed/Offset,455.00,",
        "Xaxis,Wavelength,",
        "Yaxis,Counts,",
    ]
    return ("\n".join(head + [f"{a:.2f},{b:.3f}," for a, b in zip(x, y)]) + "\n").encode()


def test_nanolog_xy_layout_defaults_to_corrected_ratio():
    parsed = parse_file(synthetic_fluoressence_xy(), filename="qd_pl.txt")
    k = parsed.key_numbers
    assert (parsed.format, parsed.technique, k["signal"]) == ("nanolog", "pl", "S1c / R1c")
    assert [s.name for s in parsed.series] == ["S1c / R1c", "S1", "R1"]
    assert k["peak_nm"] == 620.0
    assert k["fwhm_nm"] == pytest.approx(10.0 * SIGMA_TO_FWHM, rel=1e-3)
    half = k["fwhm_nm"] / 2
    assert k["fwhm_mev"] == pytest.approx(
        (1239.841984 / (620 - half) - 1239.841984 / (620 + half)) * 1000, rel=1e-3
    )


def test_edinst_key_value_layout_reads_header_and_band():
    parsed = parse_file(synthetic_fluoressence_csv(), filename="pbs_nir.csv")
    k, m = parsed.key_numbers, parsed.metadata
    assert (parsed.format, m["scan_type"], m["fixed_wavelength_nm"]) == (
        "edinst",
        "Emission Scan",
        455.0,
    )
    assert (k["peak_nm"], k["n_points"]) == (1100.0, 1050)
    assert k["fwhm_nm"] == pytest.approx(40.0 * SIGMA_TO_FWHM, rel=2e-3)


def test_edinst_ragged_data_row_raises():
    data = synthetic_fluoressence_csv().replace(b"\n700.00,", b"\n700.00,1,2,3\n701.5,", 1)
    with pytest.raises(ParseError) as err:
        parse_edinst(data, filename="bad.csv")
    assert err.value.format == "edinst"
    assert err.value.message == (
        "bad.csv: Edinburgh Instruments F980/Fluoracle: an export with 2 columns (x and 1 scan) "
        "was expected, but data row 101 (line 110) has 4 values"
    )


IMAGEJ_RESULTS = (  # SYNTHETIC ImageJ/Fiji "Results" table (first header cell is a space)
    b" ,Area,Mean,Min,Max,Feret,FeretX,FeretY,FeretAngle,MinFeret\n"
    b"1,19.635,120.5,80,200,5.000,10,12,45.0,4.8\n"
    b"2,28.274,118.0,75,210,6.000,30,40,10.0,5.9\n"
    b"3,38.485,121.2,70,205,7.000,50,60,90.0,6.8\n"
)


def test_size_table_imagej_results_uses_feret_without_unit():
    parsed = parse_file(IMAGEJ_RESULTS, filename="Results.csv")
    k = parsed.key_numbers
    assert (parsed.format, parsed.metadata["layout"], k["size_column"], k["size_unit"]) == (
        "size_table",
        "imagej_results",
        "Feret",
        None,
    )
    assert (k["n_particles"], k["mean_size"], k["std_size"], k["median_size"]) == (
        3,
        pytest.approx(6.0),
        pytest.approx(1.0),
        6.0,
    )
    assert (k["mean_size_nm"], k["std_size_nm"]) == (None, None)


def test_size_table_semicolon_decimal_comma_in_nm():
    data = "Particle;Diameter (nm);Comment\n1;4,5;ok\n2;5,5;ok\n".encode("cp1252")
    parsed = parse_size_table(data, filename="sizes.csv")
    k = parsed.key_numbers
    assert (k["size_unit"], k["mean_size_nm"], k["std_size_nm"]) == (
        "nm",
        pytest.approx(5.0),
        pytest.approx(math.sqrt(0.5)),
    )
    assert parsed.metadata["decimal_comma"] is True


def test_size_table_area_becomes_equivalent_circle_diameter():
    data = f"Area (nm²)\n{math.pi * 4:.6f}\n{math.pi * 9:.6f}\n".encode()
    k = parse_size_table(data, filename="areas.csv").key_numbers
    assert (k["size_kind"], k["mean_size_nm"]) == (
        "equivalent_circle_diameter",
        pytest.approx(5.0, rel=1e-6),
    )


def _xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_size_table_xlsx_in_micrometres_converts_to_nm():
    data = _xlsx([["ID", "Feret (µm)"], [1, 0.004], [2, 0.006]])
    parsed = parse_file(data, filename="sizes.xlsx")
    assert (parsed.format, parsed.metadata["source"]) == ("size_table", "xlsx")
    assert parsed.key_numbers["mean_size_nm"] == pytest.approx(5.0)


def test_size_table_text_in_size_column_raises_naming_the_row():
    with pytest.raises(ParseError) as err:
        parse_size_table(b"Diameter (nm)\n4.5\nfive\n", filename="s.csv")
    assert err.value.message == "s.csv: TEM size table: row 3: 'five' is not a number"


EDS_WIDE = (  # SYNTHETIC EDS quantification, European Excel export (';' + decimal comma)
    "Sample;Cd L wt%;Se K wt%;S K wt%\nQD-1;45,2;54,8;<LOD\nQD-2;44,8;55,2;0,5\n"
).encode("cp1252")


def test_composition_wide_decimal_comma_and_lod():
    parsed = parse_file(EDS_WIDE, filename="eds.csv")
    k = parsed.key_numbers
    assert (parsed.format, k["layout"], k["elements"], k["units"], k["n_rows"]) == (
        "composition_table",
        "wide",
        ["Cd", "Se", "S"],
        ["wt%"],
        2,
    )
    assert k["mean_by_quantity"] == {
        "Cd wt%": pytest.approx(45.0),
        "S wt%": 0.5,
        "Se wt%": pytest.approx(55.0),
    }
    assert (k["below_lod_count"], parsed.tables[0]["below_lod"]) == (1, ["S"])
    assert parsed.tables[0]["sample"] == "QD-1"


def test_composition_unknown_element_symbol_raises():
    with pytest.raises(ParseError) as err:
        parse_composition_table(b"Sample,Xx K wt%\nA,1.0\n", filename="eds.csv")
    assert "'Xx', which is not a chemical element symbol" in err.value.message


def test_composition_wrong_case_symbol_suggests_the_element():
    with pytest.raises(ParseError) as err:
        parse_composition_table(b"Sample,CD ppm\nA,1.0\n", filename="icp.csv")
    assert "(did you mean 'Cd'?)" in err.value.message


def test_composition_long_layout_skips_total_row():
    data = b"Element,Line,Wt%,At%\nCd,L,45.0,37.0\nSe,K,55.0,63.0\nTotal,,100.0,100.0\n"
    parsed = parse_composition_table(data, filename="spot1.csv")
    k = parsed.key_numbers
    assert (k["layout"], k["elements"], k["units"]) == ("long", ["Cd", "Se"], ["at%", "wt%"])
    assert k["mean_by_quantity"]["Se at%"] == 63.0


def test_composition_icp_xlsx_with_wavelength_columns():
    data = _xlsx(
        [
            ["Sample ID", "Cd 228.802 (mg/L)", "Zn (mg/L)"],
            ["ICP-1", 1.25, "<LOD"],
            ["ICP-2", 1.75, 0.4],
        ]
    )
    parsed = parse_file(data, filename="icp.xlsx")
    k = parsed.key_numbers
    assert (parsed.format, k["elements"], k["units"]) == (
        "composition_table",
        ["Cd", "Zn"],
        ["mg/L"],
    )
    assert k["mean_by_quantity"] == {"Cd mg/L": 1.5, "Zn mg/L": 0.4}


def test_composition_text_cell_raises_naming_row_and_column():
    with pytest.raises(ParseError) as err:
        parse_composition_table(b"Sample,Cd wt%\nA,about 40\n", filename="eds.csv")
    assert err.value.message == (
        "eds.csv: Composition table: row 2, column 'Cd wt%': "
        "'about 40' is not a number (use a number, '<LOD' or leave it "
        "empty)"
    )


def test_detect_format_of_synthetic_exports():
    assert [
        detect_format(d, n)
        for d, n in [
            (synthetic_fluoressence_xy(), "x.txt"),
            (synthetic_fluoressence_csv(), "x.csv"),
            (IMAGEJ_RESULTS, "x.csv"),
            (EDS_WIDE, "x.csv"),
        ]
    ] == ["nanolog", "edinst", "size_table", "composition_table"]
