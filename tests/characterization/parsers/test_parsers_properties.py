"""Property tests: whatever bytes arrive, parsers raise ParseError or return — nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from characterization.parsers.registry import MODULES, parse_file
from labdb.lib.errors import ParseError

from ._files import SHARED_DATA, read_instrument
from .test_parsers_synthetic import EDS_WIDE, IMAGEJ_RESULTS, synthetic_fluoressence_xy

SAMPLES = {
    "xrdml": read_instrument("xrdml/XRD-918-16_10.xrdml"),
    "brml": read_instrument("brml/23-012-AG_2thomegascan_long.brml"),
    "bruker_raw": read_instrument("bruker_raw/TwoTheta_scan_scrambled.raw"),
    "opus": read_instrument("opus/test.0000"),
    "jcamp": read_instrument("jcamp/BRUKER1.JCM"),
    "cary_csv": read_instrument("cary_csv/CuPCtS_H2O_vis.csv"),
    "nanolog": synthetic_fluoressence_xy(),
    "edinst": (SHARED_DATA / "lab_exports/edinst/Fluoracle_emission.txt").read_bytes(),
    "ocean": (SHARED_DATA / "lab_exports/ocean_spectrasuite/SpectraSuite_Header.txt").read_bytes(),
    "perkinelmer": (SHARED_DATA / "lab_exports/perkinelmer_flwinlab/FLWinlab").read_bytes(),
    "gatan_dm": read_instrument("gatan_dm/test_STEM_image.dm3"),
    "tiff": read_instrument("tiff/test_loading_image_saved_with_DM.tif"),
    "emd": read_instrument("emd/fei_example_tem_stack.emd"),
    "emsa": read_instrument("emsa/example2.msa"),
    "size_table": IMAGEJ_RESULTS,
    "composition_table": EDS_WIDE,
    "xdi": read_instrument("xdi/fe3c_rt.xdi"),
    "athena_prj": read_instrument("athena_prj/fe_athena.prj"),
    "xas_ascii": read_instrument("xas_ascii/cu_rt01.xmu"),
    "fdmnes": (SHARED_DATA / "xas/beamlines/FDMNES_2022_Mo2C_out_conv.dat").read_bytes(),
    "feff_xmu": (Path(__file__).parent / "data/feff8l_cds/xmu.dat").read_bytes(),
}
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def damaged(draw, base: bytes):
    """Random bytes, a truncation, or a copy with a few bytes overwritten."""
    kind = draw(st.sampled_from(["random", "truncate", "mutate"]))
    if kind == "random":
        return draw(st.binary(max_size=2048))
    if kind == "truncate":
        return base[: draw(st.integers(0, len(base)))]
    out = bytearray(base)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(out) - 1))
        out[pos] = draw(st.integers(0, 255))
    return bytes(out)


def _only_parse_error(func, data: bytes) -> None:
    """Parsing damaged bytes may succeed or raise ParseError; any other exception fails."""
    try:
        func(data, filename="fuzz.bin")
    except ParseError as exc:
        assert exc.message, "a ParseError must say what is wrong"


def test_samples_cover_every_parser():
    assert sorted(SAMPLES) == sorted(MODULES)


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_parser_raises_only_parse_error_on_damaged_input(fmt):
    func = MODULES[fmt][1]

    @SETTINGS
    @given(data=damaged(SAMPLES[fmt]))
    def check(data):
        _only_parse_error(func, data)

    check()


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_parse_file_raises_only_parse_error_on_damaged_input(fmt):
    @SETTINGS
    @given(data=damaged(SAMPLES[fmt]))
    def check(data):
        _only_parse_error(parse_file, data)

    check()
