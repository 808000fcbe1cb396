"""PNG previews and JSON series for every good shared file."""

from __future__ import annotations

import numpy as np
import pytest

from characterization.parsers.base import ImageData, ParsedFile, Series
from characterization.parsers.registry import parse_file
from characterization.previews import nice_length, render_preview_png, series_to_json

from ._files import GOOD_INSTRUMENT_FILES, XAS_GOOD_FILES, read_instrument, read_xas

FILES = [(read_instrument, f) for f in GOOD_INSTRUMENT_FILES] + [
    (read_xas, f) for f in XAS_GOOD_FILES
]


@pytest.mark.parametrize("reader,rel", FILES, ids=[f for _, f in FILES])
def test_render_preview_png_for_good_file(reader, rel):
    parsed = parse_file(reader(rel), filename=rel.split("/")[-1])
    png = render_preview_png(parsed)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_series_to_json_decimates_to_max_points():
    parsed = parse_file(read_instrument("xrdml/CG20396_jdb12-1.xrdml"), filename="a.xrdml")
    out = series_to_json(parsed, max_points=500)
    s = out["series"][0]
    assert (out["format"], out["title"], len(s["x"]), len(s["y"]), s["n_points"]) == (
        "xrdml",
        "xrdml: a.xrdml",
        500,
        500,
        7181,
    )
    assert (s["x"][0], s["x"][-1]) == (parsed.series[0].x[0], parsed.series[0].x[-1])


def test_series_to_json_turns_nan_into_none():
    parsed = ParsedFile(
        format="x",
        parser_name="t",
        parser_version="0",
        technique="other",
        series=[Series("s", np.array([1.0, 2.0]), np.array([np.nan, 1.0]), "x", "", "y", "")],
    )
    assert series_to_json(parsed)["series"][0]["y"] == [None, 1.0]


def test_render_preview_png_of_uncalibrated_image():
    parsed = ParsedFile(
        format="tiff",
        parser_name="t",
        parser_version="0",
        technique="tem_image",
        image=ImageData(np.zeros((8, 8)), None, None, None),
    )
    assert render_preview_png(parsed)[:4] == b"\x89PNG"


def test_render_preview_png_without_data_raises():
    with pytest.raises(ValueError):
        render_preview_png(
            ParsedFile(format="x", parser_name="t", parser_version="0", technique="other")
        )


@pytest.mark.parametrize(
    "target,expected", [(0.9, 0.5), (3.0, 2.0), (7.3, 5.0), (42.0, 20.0), (100.0, 100.0)]
)
def test_nice_length_picks_1_2_5_steps(target, expected):
    assert nice_length(target) == pytest.approx(expected)


def test_pl_preview_draws_only_the_labelled_quantity():
    """Real FluorEssence export: S1c/R1c (CPS / MicroAmps) is drawn and labelled; raw S1 (CPS)
    and R1 (MicroAmps) are not put on that axis, and the title says so."""
    from pathlib import Path

    from characterization.previews import _same_axis

    path = Path(__file__).parent / "data" / "fluoressence" / "Single_Measure.txt"
    parsed = parse_file(path.read_bytes(), filename=path.name)
    drawn, left_out = _same_axis(parsed.series)
    assert ([s.name for s in drawn], left_out) == (["S1c / R1c"], ["S1", "R1"])
    assert (drawn[0].y_label, drawn[0].y_unit) == ("S1c / R1c", "CPS / MicroAmps")
    assert render_preview_png(parsed)[:8] == b"\x89PNG\r\n\x1a\n"


def test_opus_blocks_are_listed_with_their_kind():
    parsed = parse_file(read_instrument("opus/test.0000"), filename="test.0000")
    kinds = {b["key"]: b["kind"] for b in parsed.metadata["blocks"]}
    assert kinds == {
        "a": "absorbance",
        "sm": "sample_single_channel",
        "rf": "background_single_channel",
        "igsm": "interferogram",
        "igrf": "background_interferogram",
        "phsm": "phase",
    }
    assert (parsed.key_numbers["block_kind"], parsed.key_numbers["is_sample_spectrum"]) == (
        "absorbance",
        True,
    )
