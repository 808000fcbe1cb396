"""Readers for the lab exports in shared/data/lab_exports/ and the FluorEssence fixtures.

Independent reference: each file's numeric block read with ``numpy.genfromtxt`` (no labdb
code), compared element by element with what the reader returns; scalar values (peaks, row
counts, ranges) were read off those numpy arrays and are written out here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from characterization.parsers.registry import detect_format, parse_file
from labdb.lib.errors import ParseError

from ._files import SHARED_DATA

LAB = SHARED_DATA / "lab_exports"
FIXTURES = Path(__file__).parent / "data"


def _numpy_block(path: Path, delimiter: str) -> np.ndarray:
    """The numeric rows after the header's blank line, read by numpy alone."""
    lines = path.read_text().splitlines()
    labels = next(i for i, ln in enumerate(lines) if ln.startswith("Labels"))
    blank = next(i for i in range(labels, len(lines)) if not lines[i].strip())
    table = np.genfromtxt(path, delimiter=delimiter, skip_header=blank + 1)
    return table[:, ~np.all(np.isnan(table), axis=0)]


@pytest.mark.parametrize(
    "name,technique,kind,n_scans,n_points,x_first,x_last,x_unit",
    [
        ("F980_EmScan.txt", "pl", "emission", 1, 146, 675.0, 820.0, "nm"),
        ("F980_IRF.txt", "pl", "irf", 1, 512, 0.0, 499.02344, "ns"),
        ("F980_IRF_multiple.txt", "pl", "decay", 44, 256, 0.0, 996.09375, "ns"),
        ("Fluoracle.csv", "pl", "emission", 1, 251, 600.0, 850.0, "nm"),
        ("Fluoracle_absorbance.txt", "uvvis", "absorbance", 1, 301, 450.0, 600.0, "nm"),
        ("Fluoracle_emission.txt", "pl", "emission", 1, 226, 375.0, 600.0, "nm"),
        ("Fluoracle_emission_multiple.txt", "pl", "emission", 5, 201, 500.0, 600.0, "nm"),
    ],
)
def test_edinst_export_matches_numpy(
    name, technique, kind, n_scans, n_points, x_first, x_last, x_unit
):
    path = LAB / "edinst" / name
    parsed = parse_file(path.read_bytes(), filename=name)
    table = _numpy_block(path, "," if name.endswith(".csv") else "\t")
    assert (parsed.format, parsed.technique, parsed.metadata["kind"]) == ("edinst", technique, kind)
    assert (len(parsed.series), table.shape) == (n_scans, (n_points, n_scans + 1))
    for j, s in enumerate(parsed.series):
        assert (s.x_unit, s.x[0], s.x[-1]) == (x_unit, x_first, x_last)
        np.testing.assert_array_equal(s.x, table[:, 0])
        np.testing.assert_array_equal(s.y, table[:, j + 1])
    scans = parsed.metadata["scans"]
    assert [(sc["index"], sc["label"]) for sc in scans] == [
        (j, s.name) for j, s in enumerate(parsed.series)
    ]


def test_edinst_emission_peak_and_decay_numbers():
    em = parse_file((LAB / "edinst/F980_EmScan.txt").read_bytes(), filename="F980_EmScan.txt")
    assert em.key_numbers["peak_nm"] == 782.0  # numpy: argmax of column 2 (22287.4453 counts)
    irf = parse_file((LAB / "edinst/F980_IRF.txt").read_bytes(), filename="F980_IRF.txt")
    k = irf.key_numbers
    assert (k["time_step_ns"], k["peak_time_ns"], k["peak_counts"]) == (0.9765625, 27.34375, 678.0)
    multi = parse_file(
        (LAB / "edinst/F980_IRF_multiple.txt").read_bytes(), filename="F980_IRF_multiple.txt"
    )
    assert [s.name for s in multi.series[:3]] == ["Decay1", "Decay2", "Decay3"]
    assert multi.metadata["title"] == ["S1-Multi-Scan Sample 1"]


def test_edinst_cut_in_half_is_refused_with_the_declared_point_count():
    data = (LAB / "edinst/Fluoracle_emission.txt").read_bytes()
    cut = data[: data.index(b"\n488.00") + 1]
    with pytest.raises(ParseError) as err:
        parse_file(cut, filename="Fluoracle_emission.txt")
    assert err.value.message == (
        "Fluoracle_emission.txt: Edinburgh Instruments F980/Fluoracle: the header states x "
        "375–600 nm in steps of 1 (226 points), but 113 data rows follow; the file looks "
        "truncated"
    )


def test_fluoressence_label_column_is_dropped_not_shifted():
    """Real export with the 'Short Name / Long Name / Units' column (see data/fluoressence).

    numpy: ``np.loadtxt(path, skiprows=3)`` gives 151 rows; column 1 is the wavelength
    700–850 nm and column 2 S1c/R1c with its maximum 2054.28094414968 at 773 nm.
    """
    path = FIXTURES / "fluoressence" / "Single_Measure.txt"
    table = np.loadtxt(path, skiprows=3)
    parsed = parse_file(path.read_bytes(), filename="Single_Measure.txt")
    assert (detect_format(path.read_bytes(), "x.txt"), parsed.metadata["label_column"]) == (
        "nanolog",
        True,
    )
    assert [s.name for s in parsed.series] == ["S1c / R1c", "S1", "R1"]
    ratio, s1, r1 = parsed.series
    np.testing.assert_array_equal(ratio.x, table[:, 1])
    np.testing.assert_array_equal(ratio.y, table[:, 2])
    np.testing.assert_array_equal(s1.y, table[:, 4])
    np.testing.assert_array_equal(r1.y, table[:, 6])
    assert (parsed.key_numbers["peak_nm"], parsed.key_numbers["n_points"]) == (773.0, 151)


def test_fluoressence_cut_in_half_is_refused():
    data = (FIXTURES / "fluoressence" / "Single_Measure.txt").read_bytes()
    cut = data[: len(data) // 2]
    with pytest.raises(ParseError) as err:
        parse_file(cut, filename="Single_Measure.txt")
    assert err.value.message.startswith("Single_Measure.txt: Horiba NanoLog export: ")
    assert "truncated" in err.value.message or "was expected" in err.value.message


def test_fluoressence_row_with_a_missing_value_names_the_row():
    data = (FIXTURES / "fluoressence" / "Single_Measure.txt").read_bytes()
    bad = data.replace(b"\n9\t708\t250.08877848544\t", b"\n9\t708\t", 1)
    with pytest.raises(ParseError) as err:
        parse_file(bad, filename="sample.txt")
    assert err.value.message == (
        "sample.txt: Horiba NanoLog export: a FluorEssence export with 6 columns (3 x/y pairs) "
        "was expected, but row 12 has 5 values"
    )


@pytest.mark.parametrize(
    "name,time_per_step_s,y_min,y_max,measured_at",
    [
        ("Cu3Au-1.raw", 0.5, 2.0, 138.0, "2008-06-05T11:45:35"),
        ("Cu3Au-2.raw", 0.800000011920929, 6.0, 375.0, "2008-06-05T12:57:59"),
    ],
)
def test_bruker_raw_v3_reads_the_range(name, time_per_step_s, y_min, y_max, measured_at):
    """Independent check with numpy.frombuffer at the documented offsets (DIFFRAC-plus XCH 5.0
    app. A, as xylib documents it): range count u32 at 12, the range header at 712 — steps
    u32 +4, start 2θ f64 +16, step f64 +176, supplementary size u32 +256 — and the counts as
    float32 after the 304-byte header. The file is 16620 B = 712 + 304 + 3901 × 4 B; 2θ =
    22° + 0.02° × i reaches 100.0° (xylib's sample-urls state the same scan)."""
    data = (LAB / "bruker_raw" / name).read_bytes()
    parsed = parse_file(data, filename=name)
    (series,) = parsed.series
    (n_ranges,) = np.frombuffer(data, "<u4", 1, 12)
    steps, supplementary = (int(np.frombuffer(data, "<u4", 1, 712 + k)[0]) for k in (4, 256))
    (start,), (step,) = (np.frombuffer(data, "<f8", 1, 712 + k) for k in (16, 176))
    counts = np.frombuffer(data, "<f4", steps, 712 + 304 + supplementary).astype(float)
    assert (n_ranges, steps, supplementary, start, step) == (1, 3901, 0, 22.0, 0.02)
    assert (parsed.format, len(data), series.x.size) == ("bruker_raw", 16620, 3901)
    np.testing.assert_array_equal(series.y, counts)
    np.testing.assert_array_equal(series.x, start + step * np.arange(steps))
    assert (series.x[0], series.x[-1], series.y.min(), series.y.max()) == (
        22.0,
        pytest.approx(100.0, abs=1e-9),
        y_min,
        y_max,
    )
    m = parsed.metadata
    assert (m["version"], m["file_status"], m["anode"], m["kalpha1_a"]) == (
        "RAW1.01",
        "done",
        "Cu",
        1.5406,
    )
    assert (m["ranges"][0]["time_per_step_s"], m["measured_at"]) == (time_per_step_s, measured_at)


def test_bruker_raw_v3_cut_or_padded_is_refused():
    data = (LAB / "bruker_raw" / "Cu3Au-1.raw").read_bytes()
    for bad in (data[:-2], data + b"\x00\x00\x00\x00"):
        with pytest.raises(ParseError) as err:
            parse_file(bad, filename="Cu3Au-1.raw")
        assert err.value.message.startswith("Cu3Au-1.raw: Bruker RAW: ")


def _numpy_after(path: Path, marker: str, *, delimiter=None, end: str | None = None):
    """Rows after the line ``marker`` (up to ``end``), read by numpy alone."""
    lines = path.read_text(encoding="latin-1").splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == marker) + 1
    stop = next((i for i, ln in enumerate(lines) if end and ln.strip() == end), len(lines))
    return np.loadtxt(lines[start:stop], delimiter=delimiter, ndmin=2)


def test_ocean_spectrasuite_matches_numpy():
    path = LAB / "ocean_spectrasuite" / "SpectraSuite_Header.txt"
    parsed = parse_file(path.read_bytes(), filename=path.name)
    table = _numpy_after(
        path,
        ">>>>>Begin Processed Spectral Data<<<<<",
        end=">>>>>End Processed Spectral Data<<<<<",
    )
    (s,) = parsed.series
    assert (parsed.format, parsed.technique, table.shape) == ("ocean", "pl", (2048, 2))
    np.testing.assert_array_equal(s.x, table[:, 0])
    np.testing.assert_array_equal(s.y, table[:, 1])
    m = parsed.metadata
    assert (m["measured_at"], m["measured_at_timezone"], m["integration_time_s"]) == (
        "2016-11-16T18:07:25+00:00",
        "stated",
        0.1,
    )
    assert parsed.key_numbers["peak_nm"] == float(table[np.argmax(table[:, 1]), 0]) == 763.01


def test_ocean_without_end_marker_is_refused():
    data = (LAB / "ocean_spectrasuite" / "SpectraSuite_Header.txt").read_bytes()
    with pytest.raises(ParseError) as err:
        parse_file(data[: len(data) * 3 // 4], filename="oo.txt")
    assert err.value.message == (
        "oo.txt: Ocean Optics SpectraSuite export: no '>>>>>End Processed Spectral Data<<<<<' "
        "line; the export looks truncated"
    )


@pytest.mark.parametrize(
    "rel,technique,y_unit,n,x_first,x_last,measured_at",
    [
        ("perkinelmer_flwinlab/FLWinlab", "pl", "", 501, 350.0, 600.0, "2018-03-15T16:01:04"),
        (
            "perkinelmer_uvwinlab/UVWinlab_ASCII.ASC",
            "uvvis",
            "%R",
            31,
            420.0,
            390.0,
            "2022-05-27T11:57:32",
        ),
    ],
)
def test_perkinelmer_peds_ascii_matches_numpy(
    rel, technique, y_unit, n, x_first, x_last, measured_at
):
    path = LAB / rel
    parsed = parse_file(path.read_bytes(), filename=path.name)
    table = _numpy_after(path, "#DATA")
    (s,) = parsed.series
    assert (parsed.format, parsed.technique, s.y_unit, s.x.size) == (
        "perkinelmer",
        technique,
        y_unit,
        n,
    )
    np.testing.assert_array_equal(s.x, table[:, 0])
    np.testing.assert_array_equal(s.y, table[:, 1])
    assert (s.x[0], s.x[-1], parsed.metadata["measured_at"]) == (x_first, x_last, measured_at)


@pytest.mark.parametrize(
    "name,y_unit", [("absorbance", "A"), ("reflectance", "%R"), ("transmittance", "%T")]
)
def test_perkinelmer_lambda_dsp_matches_numpy(name, y_unit):
    """numpy: the 201 values after #DATA; x = 700 + 0.5 nm × i as lines 6–9 state."""
    path = LAB / "perkinelmer_lambda_dsp" / f"LambdaSPX_{name}.dsp"
    parsed = parse_file(path.read_bytes(), filename=path.name)
    values = _numpy_after(path, "#DATA")[:, 0]
    (s,) = parsed.series
    assert (parsed.technique, s.y_unit, s.x.size, s.x[0], s.x[-1]) == (
        "uvvis",
        y_unit,
        201,
        700.0,
        800.0,
    )
    np.testing.assert_array_equal(s.y, values)


@pytest.mark.parametrize(
    "rel,technique,n,skip",
    [
        ("perkinelmer_uvwinlab/UVWinlab.csv", "uvvis", 501, 1),
        ("perkinelmer_spectrum_csv/spectrum.csv", "ftir", 6701, 2),
    ],
)
def test_perkinelmer_csv_matches_numpy(rel, technique, n, skip):
    path = LAB / rel
    parsed = parse_file(path.read_bytes(), filename=path.name)
    table = np.loadtxt(path, delimiter=",", skiprows=skip, usecols=(0, 1))
    (s,) = parsed.series
    assert (parsed.format, parsed.technique, s.x.size) == ("perkinelmer", technique, n)
    np.testing.assert_array_equal(s.x, table[:, 0])
    np.testing.assert_array_equal(s.y, table[:, 1])


def test_perkinelmer_peds_with_a_damaged_value_is_refused():
    """The #GR block states the y range: a changed number is caught."""
    data = (LAB / "perkinelmer_flwinlab" / "FLWinlab").read_bytes()
    bad = data.replace(b"350.000000\t65.282000", b"350.000000\t95.282000", 1)
    with pytest.raises(ParseError) as err:
        parse_file(bad, filename="FLWinlab")
    assert "the #GR block states y between" in err.value.message


def test_jeol_tiff_keeps_voltage_camera_length_and_tag_tree():
    """JEOL SightX SAED TIFF: the README's title is 'TEM, BrightField, DIFF, 40cm'; tifffile
    (independent) shows the ImageDescription XML with <AccelerationVoltage>200000 (V),
    <ModeString>DIFF and <SelectorString>40cm (camera length)."""
    import tifffile

    path = SHARED_DATA / "instruments" / "tiff" / "JEOL-SightX-SAED-dummy.tif"
    with tifffile.TiffFile(path) as tif:
        description = tif.pages[0].description
    parsed = parse_file(path.read_bytes(), filename=path.name)
    k = parsed.key_numbers
    for tag in ("<AccelerationVoltage>200000<", "<ModeString>DIFF<", "<SelectorString>40cm<"):
        assert tag in description
    assert (k["voltage_kv"], k["camera_length_mm"], k["magnification"]) == (200.0, 400.0, None)
    assert (k["pixel_unit"], k["pixel_size_nm"]) == ("1 / nm", None)
    assert parsed.metadata["header"]["SightX_Notes"] == "TEM, BrightField, DIFF, 40cm"


@pytest.mark.parametrize(
    "name,n_points,first_deg,last_deg",
    [("diffrac.brml", 2549, 10.0001, 60.0097), ("Diffrac_PSD.brml", 192, 8.5001, None)],
)
def test_brml_single_scans_match_fairmat(name, n_points, first_deg, last_deg):
    """fairmat-readers-xrd (independent): identical counts; 2θ equal within the 1e-4° the
    <Datum> rows are rounded to (fairmat spreads Start–Stop evenly). For the PSD still scan
    fairmat's axis is linspace(Start, Stop); ours is Start + i·Increment (the stated channel
    width), so only the start is compared."""
    from fairmat_readers_xrd import read_bruker_brml

    path = LAB / "brml" / name
    parsed = parse_file(path.read_bytes(), filename=name)
    ref = read_bruker_brml(str(path))
    (s,) = parsed.series
    np.testing.assert_array_equal(s.y, np.asarray(ref["intensity"].magnitude, dtype=float))
    assert (s.x.size, s.x[0]) == (n_points, first_deg)
    if last_deg is not None:
        np.testing.assert_allclose(s.x, np.asarray(ref["2Theta"].magnitude), atol=1e-4)
        assert s.x[-1] == last_deg


def test_brml_with_several_scans_lists_every_scan():
    """Each RawData<N>.xml states MeasurementPoints 1251 and TwoTheta Start/Stop
    12.0001–14.5001° (read with zipfile/ElementTree below, independently of the reader)."""
    import xml.etree.ElementTree as ET
    import zipfile

    path = LAB / "brml" / "Diffrac_multiple.brml"
    parsed = parse_file(path.read_bytes(), filename=path.name)
    scans = parsed.metadata["scans"]
    assert (len(parsed.series), [sc["index"] for sc in scans[:3]]) == (80, [0, 1, 2])
    assert [sc["label"] for sc in scans[:3]] == ["RawData0", "RawData1", "RawData2"]
    with zipfile.ZipFile(path) as zf:
        root = ET.fromstring(zf.read("Experiment0/RawData79.xml"))
    stated = int(root.findtext(".//MeasurementPoints"))
    last = parsed.series[79]
    assert (stated, last.x.size, last.x[0], last.x[-1]) == (1251, 1251, 12.0001, 14.5001)
    assert scans[79]["started"] == root.findtext("TimeStampStarted")


def test_perkinelmer_spectrum_time_series_matches_numpy():
    """numpy: the rows after '"Wavenumber"' (601 × 4); the Time row gives 3 spectra."""
    path = LAB / "perkinelmer_spectrum_csv" / "spectrum_multiple.csv"
    parsed = parse_file(path.read_bytes(), filename=path.name)
    table = np.loadtxt(path, delimiter=",", skiprows=6)
    assert (parsed.format, parsed.technique, table.shape, len(parsed.series)) == (
        "perkinelmer",
        "ftir",
        (601, 4),
        3,
    )
    for j, s in enumerate(parsed.series):
        np.testing.assert_array_equal(s.x, table[:, 0])
        np.testing.assert_array_equal(s.y, table[:, j + 1])
    assert [sc["label"] for sc in parsed.metadata["scans"]] == [
        "t = 7.63 s",
        "t = 308 s",
        "t = 606 s",
    ]
    assert parsed.metadata["warnings"] == [
        "the header states 182 spectra; the file holds 3 (a selection was exported)"
    ]


def test_python_internals_go_to_detail_not_to_the_message():
    """A BRML whose first <Datum> holds '1x.0197': the chemist reads the format and the file,
    the curator finds Python's text in ``detail``."""
    import io
    import zipfile

    data = (LAB / "brml" / "diffrac.brml").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if info.filename == "Experiment0/RawData0.xml":
                body = body.replace(b"<Datum>28.8,1,10.0197", b"<Datum>28.8,1,1x.0197", 1)
            zout.writestr(info.filename, body)
    with pytest.raises(ParseError) as err:
        parse_file(out.getvalue(), filename="scan.brml")
    assert err.value.message == (
        "scan.brml: Bruker BRML: the file ends early or its content is damaged, so it could "
        "not be read as a Bruker BRML"
    )
    assert err.value.detail.startswith("ValueError: could not convert string to float: '1x.0197'")
