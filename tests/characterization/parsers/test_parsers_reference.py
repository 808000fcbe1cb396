"""Every real file in shared/data/instruments is checked against its README reference values.

Numbers are compared with pytest.approx(rel=1e-6) because the README rounds to 6 decimals.
"""

from __future__ import annotations

import pytest

from characterization.parsers.registry import detect_format, parse_file
from labdb.lib.errors import ParseError

from ._files import read_instrument

# README values are rounded to 6 decimals: rel 1e-6, plus abs 5e-7 for small numbers.
approx = lambda v: pytest.approx(v, rel=1e-6, abs=5e-7)  # noqa: E731


def _parse(rel: str):
    return parse_file(read_instrument(rel), filename=rel.split("/")[-1])


@pytest.mark.parametrize(
    "rel,schema,n,tt,inten,start,has_counts,kv",
    [
        (
            "xrdml/CG20396_jdb12-1.xrdml",
            "1.5",
            7181,
            (5.008356, 124.995267),
            (67.0, 13036.0),
            "2020-10-08T14:14:22+01:00",
            False,
            40.0,
        ),
        (
            "xrdml/HL1-2_5-90_60min.xrdml",
            "2.0",
            6474,
            (5.001165, 89.993485),
            (863.0, 10841.0),
            "2024-03-08T11:13:20-06:00",
            True,
            45.0,
        ),
        (
            "xrdml/XRD-918-16_10.xrdml",
            "1.6",
            5027,
            (4.006565, 69.999366),
            (135.0, 100168.0),
            "2021-03-16T13:10:14+03:00",
            False,
            45.0,
        ),
    ],
)
def test_xrdml_matches_readme_values(rel, schema, n, tt, inten, start, has_counts, kv):
    parsed = _parse(rel)
    k, m = parsed.key_numbers, parsed.metadata
    assert (parsed.format, parsed.technique, detect_format(read_instrument(rel), rel)) == (
        "xrdml",
        "xrd",
        "xrdml",
    )
    assert (m["schema"], m["scan_axis"], m["anode"], m["start_time"], m["has_counts"]) == (
        schema,
        "Gonio",
        "Cu",
        start,
        has_counts,
    )
    assert k["n_points"] == n
    assert (k["twotheta_min_deg"], k["twotheta_max_deg"]) == (approx(tt[0]), approx(tt[1]))
    assert (k["intensity_min_counts"], k["intensity_max_counts"]) == (
        approx(inten[0]),
        approx(inten[1]),
    )
    assert k["wavelength_a"] == approx(1.540598)
    assert m["tube_voltage_kv"] == kv


def test_brml_matches_readme_values():
    parsed = _parse("brml/23-012-AG_2thomegascan_long.brml")
    k, m = parsed.key_numbers, parsed.metadata
    assert (parsed.format, parsed.technique) == ("brml", "xrd")
    assert k["n_points"] == 2001
    assert (k["twotheta_min_deg"], k["twotheta_max_deg"]) == (approx(44.0), approx(48.0))
    assert (k["intensity_min_counts"], k["intensity_max_counts"]) == (0.0, approx(495559.8))
    assert (
        m["scan_axis"],
        m["anode"],
        m["kalpha1_a"],
        m["tube_voltage_kv"],
        m["tube_current_ma"],
    ) == ("TwoThetaOmegaScan", "Cu", approx(1.5406), 40.0, 40.0)
    assert k["wavelength_a"] == approx(1.5406)
    # the substrate reflection at 45.818°, the film's shoulder at 45.898° (5 % of it, too far
    # and too weak for Cu Kα2 at 45.934°) and a tail kink at 45.72° (plotted and inspected)
    assert k["peak_positions_deg"] == [45.72, 45.818, 45.898]


def test_bruker_raw_matches_readme_values():
    parsed = _parse("bruker_raw/TwoTheta_scan_scrambled.raw")
    k, m = parsed.key_numbers, parsed.metadata
    rng = m["ranges"][0]
    assert (parsed.format, parsed.technique) == ("bruker_raw", "xrd")
    assert (m["version"], m["creator"], m["sample_id"], m["date"], m["anode"], m["n_ranges"]) == (
        "RAW4.00",
        "DIFFRAC.EVA",
        "HeOx-1001-nsp-sps-900C-10min-01-poliert",
        "04/07/2025",
        "Cu",
        1,
    )
    assert m["kalpha1_a"] == approx(1.5406)
    assert (rng["scan_type"], rng["n_points"], rng["datum_size"]) == ("Locked Coupled", 7134, 8)
    assert (rng["start_deg"], rng["step_deg"]) == (approx(10.0), approx(0.0105203))
    assert (k["twotheta_min_deg"], k["twotheta_max_deg"]) == (approx(10.0), approx(85.041299))
    assert (k["intensity_min_counts"], k["intensity_max_counts"]) == (
        approx(-164.53447),
        approx(11330.586914),
    )
    assert k["n_points"] == 7134


def test_opus_test0000_matches_readme_values():
    parsed = _parse("opus/test.0000")
    k, m = parsed.key_numbers, parsed.metadata
    assert (parsed.format, parsed.technique) == ("opus", "ftir")
    assert m["data_keys"] == ["rf", "igrf", "a", "sm", "phsm", "igsm"]
    assert (
        m["instrument"],
        m["source"],
        m["beamsplitter"],
        m["resolution_cm1"],
        m["scans"],
        m["experiment"],
    ) == ("VERTEX 80V", "MIR", "KBr", 4.0, 32, "transmissionfederico.xpm")
    assert m["detector"] == "LN-MCT Photovoltaic 1mm 8H Fast [Internal Pos.2]"
    assert (k["n_points"], k["wavenumber_min_cm1"], k["wavenumber_max_cm1"]) == (
        2567,
        approx(699.388954),
        approx(3998.344938),
    )
    assert k["absorbance_clipped"] is True
    blocks = {s.name.split(":")[0]: s for s in parsed.series}
    expected = {
        "rf": (2573, 696.817671, 4003.487504, 0.002786, 0.227523),
        "igrf": (3177, 0.0, 3176.0, -0.160975, 0.116621),
        "a": (2567, 699.388954, 3998.344938, -0.000249, 6.0),
        "sm": (2567, 699.388954, 3998.344938, -0.001656, 0.227279),
        "phsm": (512, 0.0, 5255.702286, -7.514812, -0.007362),
        "igsm": (3177, 0.0, 3176.0, -0.152992, 0.108459),
    }
    for key, (n, x0, x1, y0, y1) in expected.items():
        s = blocks[key]
        assert (s.x.size, s.x.min(), s.x.max()) == (
            n,
            pytest.approx(x0, rel=1e-6, abs=1e-9),
            approx(x1),
        )
        assert (s.y.min(), s.y.max()) == (approx(y0), approx(y1))


def test_opus_not_opus_spa_is_rejected_as_unknown():
    data = read_instrument("opus/not_opus.spa")
    assert detect_format(data, "not_opus.spa") == "unknown"
    with pytest.raises(ParseError) as err:
        parse_file(data, filename="not_opus.spa")
    assert (err.value.format, err.value.filename) == ("unknown", "not_opus.spa")
    assert err.value.message.startswith("not_opus.spa: not a recognised instrument file")


@pytest.mark.parametrize(
    "rel,title,yunits,y_unit,n,x,y",
    [
        (
            "jcamp/BRUKER1.JCM",
            "CCH-4",
            "TRANSMITTANCE",
            "%T",
            3735,
            (400.161926, 4000.655017),
            (-0.292969, 95.825195),
        ),
        (
            "jcamp/isopropanol_ASDF.jdx",
            "Isopropyl alcohol",
            "ABSORBANCE",
            "ABSORBANCE",
            9541,
            (400.1963, 5000.042),
            (-0.085526, 0.368917),
        ),
    ],
)
def test_jcamp_matches_readme_values(rel, title, yunits, y_unit, n, x, y):
    parsed = _parse(rel)
    s = parsed.series[0]
    assert (parsed.format, parsed.technique, parsed.metadata["title"]) == ("jcamp", "ftir", title)
    assert (parsed.metadata["xunits"], parsed.metadata["yunits"], s.y_unit) == (
        "1/CM",
        yunits,
        y_unit,
    )
    assert parsed.key_numbers["n_points"] == n
    assert (parsed.key_numbers["wavenumber_min_cm1"], parsed.key_numbers["wavenumber_max_cm1"]) == (
        approx(x[0]),
        approx(x[1]),
    )
    assert (s.y.min(), s.y.max()) == (approx(y[0]), approx(y[1]))


def test_jcamp_bruker2_with_failed_checks_is_rejected():
    with pytest.raises(ParseError) as err:
        _parse("jcamp/BRUKER2.JCM")
    assert err.value.format == "jcamp"
    assert "decoded 3735 x values but 3710 y values" in err.value.message


def test_jcamp_link_file_without_spectrum_is_rejected_naming_its_blocks():
    with pytest.raises(ParseError) as err:
        _parse("jcamp/ISAS_CDX.DX")
    assert err.value.message == (
        "ISAS_CDX.DX: JCAMP-DX: this LINK (compound) file contains no x/y spectrum, only 2 "
        "block(s): 'Structure: 4a-Phenyladamantan-2-one', "
        "'NMR data: 4a-Phenyladamantan-2-one'"
    )


def test_cary_cupcts_matches_readme_values():
    parsed = _parse("cary_csv/CuPCtS_H2O_vis.csv")
    s, meta = parsed.series[0], parsed.metadata["series"][0]
    assert (parsed.format, parsed.technique, parsed.key_numbers["n_series"]) == (
        "cary_csv",
        "uvvis",
        1,
    )
    assert (s.name, s.y_unit, s.x.size) == ("sample1", "Abs", 141)
    assert (s.x.min(), s.x.max(), s.y.min(), s.y.max()) == (
        approx(200.018875),
        approx(899.995789),
        approx(0.031945),
        approx(0.803123),
    )
    assert (meta["instrument"], meta["collected"]) == ("Cary 50", "1/15/2014 4:59:54 PM")
    # Red-most local maximum of the Q band region (the 5 nm grid point 614.97 nm).
    assert parsed.key_numbers["peak_1s_nm"] == approx(614.9726563)
    assert parsed.key_numbers["peak_1s_ev"] == approx(1239.841984 / 614.9726563)


def test_cary_filters_matches_readme_values():
    parsed = _parse("cary_csv/filters.csv")
    assert parsed.key_numbers["n_series"] == 11
    expected = [
        ("600LP", "Abs", 121, (199.965424, 800.054138), (0.024321, 10.0), "5/10/2018 5:14:12 PM"),
        (
            "600LP1",
            "%T",
            196,
            (455.010162, 650.053711),
            (-0.006796, 94.34288),
            "5/10/2018 5:18:01 PM",
        ),
        (
            "600LP2",
            "%T",
            301,
            (449.960113, 749.937134),
            (-0.016454, 94.63501),
            "5/10/2018 5:19:13 PM",
        ),
    ]
    for s, meta, (name, yl, n, x, y, when) in zip(
        parsed.series, parsed.metadata["series"], expected
    ):
        assert (s.name, s.y_label, s.x.size, meta["collected"], meta["instrument"]) == (
            name,
            yl,
            n,
            when,
            "Cary 50",
        )
        assert (s.x.min(), s.x.max(), s.y.min(), s.y.max()) == (
            approx(x[0]),
            approx(x[1]),
            approx(y[0]),
            approx(y[1]),
        )
    assert parsed.key_numbers["saturated_points"] == 25


@pytest.mark.parametrize(
    "rel,technique,shape,scale,unit,voltage_kv,mag,title,signal_type",
    [
        (
            "gatan_dm/test_STEM_image.dm3",
            "tem_image",
            [68, 68],
            0.248538,
            "nm",
            200.0,
            225000.0,
            "test_STEM_image",
            "",
        ),
        ("gatan_dm/test-2.dm4", "tem_image", [2, 2], None, None, None, None, "test", ""),
        (
            "gatan_dm/test-MonarcCL_mono-image.dm4",
            "tem_image",
            [2, 2],
            18.32535,
            "µm",
            3.0,
            2500.0,
            "MonoCL-image-rebin",
            "CL",
        ),
    ],
)
def test_gatan_dm_images_match_readme_values(
    rel, technique, shape, scale, unit, voltage_kv, mag, title, signal_type
):
    parsed = _parse(rel)
    k, m = parsed.key_numbers, parsed.metadata
    assert (parsed.format, parsed.technique, m["shape"], m["title"], m["signal_type"]) == (
        "gatan_dm",
        technique,
        shape,
        title,
        signal_type,
    )
    assert (k["pixel_unit"], k["voltage_kv"], k["magnification"]) == (unit, voltage_kv, mag)
    if scale is None:
        assert (k["pixel_size"], k["pixel_size_nm"]) == (None, None)
    else:
        factor = 1000.0 if unit == "µm" else 1.0
        assert (k["pixel_size"], k["pixel_size_nm"]) == (approx(scale), approx(scale * factor))


@pytest.mark.parametrize(
    "rel,technique,n,width_ev,offset_ev,mag,signal_type",
    [
        ("gatan_dm/EELS_SI.dm4", "eels", 2048, 1.0, 300.0, 225000.0, "EELS"),
        ("gatan_dm/test-EDS_spectrum.dm3", "eds", 4096, 5.0, -478.0, 320000.0, "EDS_TEM"),
    ],
)
def test_gatan_dm_spectra_match_readme_values(
    rel, technique, n, width_ev, offset_ev, mag, signal_type
):
    parsed = _parse(rel)
    k = parsed.key_numbers
    assert (parsed.technique, parsed.metadata["signal_type"], k["n_channels"]) == (
        technique,
        signal_type,
        n,
    )
    assert (k["channel_width_ev"], k["energy_offset_ev"]) == (approx(width_ev), approx(offset_ev))
    assert (k["voltage_kv"], k["magnification"]) == (200.0, mag)
    assert (parsed.metadata["microscope"], parsed.metadata["illumination"]) == (
        "FEI Tecnai Remote",
        "STEM NANOPROBE",
    )


@pytest.mark.parametrize(
    "rel,shape,dtype,scale,unit,nm,title",
    [
        (
            "tiff/JEOL-SightX-SAED-dummy.tif",
            [556, 556],
            "uint16",
            0.272254,
            "1 / nm",
            None,
            "TEM, BrightField, DIFF, 40cm",
        ),
        (
            "tiff/test_loading_image_saved_with_DM.tif",
            [68, 68],
            "int32",
            0.168675,
            "µm",
            168.675,
            None,
        ),
        (
            "tiff/test_loading_image_saved_with_imageJ.tif",
            [68, 68],
            "float32",
            0.168675,
            "µm",
            168.675,
            None,
        ),
        (
            "tiff/test_loading_image_saved_with_imageJ_no_scale.tif",
            [68, 68],
            "float32",
            None,
            None,
            None,
            None,
        ),
    ],
)
def test_tiff_matches_readme_values(rel, shape, dtype, scale, unit, nm, title):
    parsed = _parse(rel)
    k, m = parsed.key_numbers, parsed.metadata
    assert (parsed.format, m["shape"], m["dtype"], m["title"], k["pixel_unit"]) == (
        "tiff",
        shape,
        dtype,
        title,
        unit,
    )
    assert k["pixel_size"] == (None if scale is None else approx(scale))
    assert k["pixel_size_nm"] == (None if nm is None else pytest.approx(nm, rel=1e-5))
    assert m["calibrated"] is (scale is not None)


def test_emd_matches_readme_values():
    parsed = _parse("emd/fei_example_tem_stack.emd")
    k, m = parsed.key_numbers, parsed.metadata
    assert (parsed.format, m["shape"], m["dtype"], m["title"], m["date"]) == (
        "emd",
        [2, 3, 3],
        "int16",
        "Ceta",
        "2019-12-05",
    )
    assert [a["name"] for a in m["axes"]] == ["Time", "y", "x"]
    assert m["axes"][0]["scale"] == approx(0.8)
    assert (k["pixel_size"], k["pixel_unit"], k["pixel_size_nm"]) == (
        approx(8.172883),
        "pm",
        approx(0.008172883),
    )
    assert parsed.image.pixels.shape == (3, 3)


@pytest.mark.parametrize(
    "rel,technique,n,scale,offset,title,signal_type",
    [
        ("emsa/example1.msa", "eels", 21, 3.1, 520.13, "NIO EELS OK SHELL", "EELS"),
        ("emsa/example2.msa", "eds", 80, 10.0, 200.0, "NIO Windowless Spectra OK NiL", "EDS_TEM"),
    ],
)
def test_emsa_matches_readme_values(rel, technique, n, scale, offset, title, signal_type):
    parsed = _parse(rel)
    k = parsed.key_numbers
    assert (
        parsed.format,
        parsed.technique,
        parsed.metadata["title"],
        parsed.metadata["signal_type"],
    ) == ("emsa", technique, title, signal_type)
    assert (k["n_channels"], k["channel_width_ev"], k["energy_offset_ev"], k["voltage_kv"]) == (
        n,
        approx(scale),
        approx(offset),
        120.0,
    )


@pytest.mark.parametrize(
    "rel,columns,n_rows,col0",
    [
        (
            "xas_ascii/APS12BM_2019.dat",
            [
                "energy",
                "sec",
                "mononrg",
                "i0",
                "i1",
                "i2",
                "i3",
                "mu01",
                "mu12",
                "mu23",
                "flatot",
                "fla01",
                "fla02",
                "fla03",
                "fla04",
                "fla05",
                "fla06",
                "fla07",
                "fla08",
                "fla09",
                "fla10",
                "fla11",
                "fla12",
                "fla13",
                "dt",
                "tc1",
            ],
            492,
            (6.339, 6.98474),
        ),
        # README says 6.9847; the file's last energy is 6.98474 keV (the README value is that number
        # cut to 4 decimals, 6.98474 − 6.9847 = 4e-5 > the 6-decimal tolerance).
        (
            "xas_ascii/ESRF_BM08_LISA_2021.dat",
            ["ebraggenergy", "i0_eh1", "i1_eh1", "mu", "i1_eh2", "ir_eh2", "mu_ref"],
            198,
            (10906.9252, 11505.6165),
        ),
        ("xas_ascii/cu_rt01.xmu", ["energy", "mu", "i0"], 408, (8779.0, 10145.86)),
    ],
)
def test_xas_ascii_matches_readme_values(rel, columns, n_rows, col0):
    parsed = _parse(rel)
    m, k = parsed.metadata, parsed.key_numbers
    assert (parsed.format, m["columns"], m["n_rows"], k["n_points"]) == (
        "xas_ascii",
        columns,
        n_rows,
        n_rows,
    )
    assert m["col0_range_raw"] == [approx(col0[0]), approx(col0[1])]
    factor = 1000.0 if col0[1] < 100 else 1.0
    assert (k["energy_min_ev"], k["energy_max_ev"]) == (
        approx(col0[0] * factor),
        approx(col0[1] * factor),
    )


@pytest.mark.parametrize(
    "rel,columns,n,e_range,element,mono,beamline,sample",
    [
        (
            "xdi/cu_metal_rt.xdi",
            ["energy", "i0", "itrans", "mutrans"],
            408,
            (8779.0, 10145.86),
            "Cu",
            "Si 111",
            "APS 13ID",
            "Cu",
        ),
        (
            "xdi/fe3c_rt.xdi",
            ["energy", "mutrans", "i0"],
            348,
            (6962.0, 7969.247),
            "Fe",
            "Si 111",
            "13-BM-D",
            "Fe3C",
        ),
    ],
)
def test_xdi_matches_readme_values(rel, columns, n, e_range, element, mono, beamline, sample):
    parsed = _parse(rel)
    m, k = parsed.metadata, parsed.key_numbers
    assert (parsed.format, m["columns"], k["n_points"], k["element"], k["edge"]) == (
        "xdi",
        columns,
        n,
        element,
        "K",
    )
    assert (m["mono"], m["beamline"], m["sample"]) == (mono, beamline, sample)
    assert (k["energy_min_ev"], k["energy_max_ev"]) == (approx(e_range[0]), approx(e_range[1]))


ATHENA_GROUPS = {
    "athena_prj/cu.prj": [
        ("cu010k.dat", 612, 8786.204, 11362.47, 8977.58, ["x", "y"]),
        ("cu050k.dat", 620, 8782.347, 11362.54, 8977.58, ["x", "y"]),
        ("cu150k.dat", 618, 8774.104, 11365.49, 8977.97, ["x", "y"]),
    ],
    "athena_prj/fe_athena.prj": [
        ("fe2o3_rt1.xmu", 412, 6911.8277, 8084.2337, 7125.6176, ["x", "y", "i0", "signal"]),
        ("fe3c_rt.xdi", 348, 6962.0, 7969.247, 7122.5, ["x", "y", "i0", "signal"]),
        ("feo_rt1.xmu", 412, 6911.7671, 8084.0938, 7122.9272, ["x", "y", "i0", "signal"]),
    ],
}


@pytest.mark.parametrize("rel", sorted(ATHENA_GROUPS))
def test_athena_perl_projects_match_readme_values(rel):
    parsed = _parse(rel)
    got = [
        (g["label"], g["n"], g["x_min"], g["x_max"], g["e0_ev"], g["arrays"]) for g in parsed.tables
    ]
    assert (parsed.format, parsed.metadata["flavour"], parsed.key_numbers["n_groups"]) == (
        "athena_prj",
        "perl",
        len(ATHENA_GROUPS[rel]),
    )
    assert got == [
        (lab, n, approx(a), approx(b), approx(e0), arr)
        for lab, n, a, b, e0, arr in ATHENA_GROUPS[rel]
    ]
    assert {g["element"] for g in parsed.tables} == {rel.split("/")[1][:2].capitalize()}


def test_athena_json_project_parses_its_four_groups():
    # README records only the prototype's "JSON flavour" error and larch's group names; the JSON
    # flavour is parsed here, so the labels are checked against those larch group names.
    parsed = _parse("athena_prj/json_unzipped.prj")
    assert (parsed.metadata["flavour"], parsed.key_numbers["n_groups"]) == ("json", 4)
    assert [g["label"] for g in parsed.tables] == [
        "FeXANES_DebbysSample.001",
        "FeXANES_DebbysSample.002",
        "FeXANES_DebbysSample.003",
        "merge",
    ]
    assert [g["n"] for g in parsed.tables] == [442, 442, 442, 441]
    assert (
        parsed.key_numbers["element"],
        parsed.key_numbers["edge"],
        parsed.key_numbers["e0_ev"],
    ) == ("Fe", "K", approx(7121.693057))
