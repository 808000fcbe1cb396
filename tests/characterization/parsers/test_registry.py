"""Format detection by content and the PARSERS listing."""

from __future__ import annotations

import re

import pytest

from characterization.parsers.registry import PARSERS, detect_format, parse_file
from labdb.lib.errors import ParseError

from ._files import read_instrument

EXPECTED_FORMATS = {
    "athena_prj/cu.prj": "athena_prj",
    "athena_prj/json_unzipped.prj": "athena_prj",
    "brml/23-012-AG_2thomegascan_long.brml": "brml",
    "bruker_raw/TwoTheta_scan_scrambled.raw": "bruker_raw",
    "cary_csv/filters.csv": "cary_csv",
    "emd/fei_example_tem_stack.emd": "emd",
    "emsa/example1.msa": "emsa",
    "gatan_dm/EELS_SI.dm4": "gatan_dm",
    "gatan_dm/test_STEM_image.dm3": "gatan_dm",
    "jcamp/BRUKER1.JCM": "jcamp",
    "jcamp/ISAS_CDX.DX": "jcamp",
    "opus/test.0000": "opus",
    "opus/not_opus.spa": "unknown",
    "tiff/JEOL-SightX-SAED-dummy.tif": "tiff",
    "xas_ascii/cu_rt01.xmu": "xas_ascii",
    "xas_ascii/APS12BM_2019.dat": "xas_ascii",
    "xdi/fe3c_rt.xdi": "xdi",
    "xrdml/CG20396_jdb12-1.xrdml": "xrdml",
}


@pytest.mark.parametrize("rel,expected", sorted(EXPECTED_FORMATS.items()))
def test_detect_format_ignores_a_misleading_extension(rel, expected):
    data = read_instrument(rel)
    assert detect_format(data, rel) == expected
    assert detect_format(data, "renamed.txt") == expected


def test_parsers_lists_every_format_with_name_and_version():
    assert sorted(PARSERS) == sorted(
        [
            "xrdml",
            "brml",
            "bruker_raw",
            "opus",
            "jcamp",
            "cary_csv",
            "nanolog",
            "edinst",
            "ocean",
            "perkinelmer",
            "gatan_dm",
            "tiff",
            "emd",
            "emsa",
            "size_table",
            "composition_table",
            "xdi",
            "athena_prj",
            "xas_ascii",
            "fdmnes",
            "feff_xmu",
        ]
    )
    assert PARSERS["xrdml"] == ("labdb.xrdml", "1.1.0")
    assert all(
        name == f"labdb.{key}" and re.fullmatch(r"\d+\.\d+\.\d+", version)
        for key, (name, version) in PARSERS.items()
    )


def test_parse_file_rejects_upload_larger_than_the_cap():
    data = read_instrument("xdi/fe3c_rt.xdi")
    with pytest.raises(ParseError) as err:
        parse_file(data, filename="fe3c_rt.xdi", max_expanded_bytes=1000)
    assert "more than the" in err.value.message


def test_parse_file_rejects_brml_expanding_beyond_the_cap():
    data = read_instrument("brml/23-012-AG_2thomegascan_long.brml")
    with pytest.raises(ParseError) as err:
        parse_file(data, filename="scan.brml", max_expanded_bytes=1_000_000)
    assert err.value.format == "brml"
    assert "would expand to" in err.value.message


def test_parse_file_rejects_athena_gzip_expanding_beyond_the_cap():
    data = read_instrument("athena_prj/cu.prj")
    with pytest.raises(ParseError) as err:
        parse_file(data, filename="cu.prj", max_expanded_bytes=20_000)
    assert (err.value.format, "expands beyond" in err.value.message) == ("athena_prj", True)


def test_parse_file_reports_cut_old_bruker_raw_versions_clearly():
    for magic in (b"RAW2", b"RAW "):  # v1/v2 are read, but 200 bytes cannot hold v2's header
        with pytest.raises(ParseError) as err:  # nor a v1 range of 0 steps
            parse_file(magic + b"\x00" * 200, filename="old.raw")
        assert err.value.format == "bruker_raw"
        assert err.value.message.startswith("old.raw: Bruker RAW: ")
    with pytest.raises(ParseError) as err:  # v3 is read, but 200 bytes cannot hold its header
        parse_file(b"RAW1.01" + b"\x00" * 200, filename="old.raw")
    assert err.value.message.startswith("old.raw: Bruker RAW: ")
