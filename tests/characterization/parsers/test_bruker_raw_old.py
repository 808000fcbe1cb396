"""Bruker RAW v1 (``RAW ``) and v2 (``RAW2``): files built byte by byte in the test.

No real v1/v2 file exists in shared/data, so each test writes one with ``struct`` from the
layout documented in the module docstring of ``characterization/parsers/bruker_raw.py``
(learnt from xylib's ``xylib/brucker_raw.cpp``; no code copied), then checks that the reader
returns exactly the numbers written, and that cut, padded or garbled files are refused.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from characterization.parsers.registry import detect_format, parse_file
from labdb.lib.errors import ParseError

UNSET = -1e6


def _v1_range(steps, start, step, counts, *, follows: bool, sample=b"CdSe NPL 4.5 ML") -> bytes:
    header = struct.pack("<IffI4xf3f", steps, 1.5, step, 2, start, UNSET, UNSET, UNSET)
    header += sample.ljust(32, b"\x00") + struct.pack("<2f", 1.5406, 1.54439)
    header += b"\x00" * 72 + struct.pack("<I", 1 if follows else 0)
    assert len(header) == 152
    return header + np.asarray(counts, dtype="<f4").tobytes()


COUNTS_1 = [10.0, 20.0, 35.5, 25.0, 12.0, 11.0]
COUNTS_2 = [7.0, 8.0, 9.0]


def _v1(*, repeat_magic: bool = True) -> bytes:
    second = _v1_range(3, 40.0, 0.05, COUNTS_2, follows=False)
    return (
        b"RAW "
        + _v1_range(6, 20.0, 0.02, COUNTS_1, follows=True)
        + (b"RAW " if repeat_magic else b"")
        + second
    )


def _v2(*, n_ranges: int = 1, counts=(100.0, 250.0, 180.0, 90.0)) -> bytes:
    head = bytearray(256)
    head[0:4] = b"RAW2"
    struct.pack_into("<H", head, 4, n_ranges)
    head[168:185] = b"06/05/08 11:45:35"
    head[188:190] = b"Cu"
    struct.pack_into("<3f", head, 190, 1.5406, 1.54439, 0.5)
    struct.pack_into("<f", head, 210, 120.0)
    ranges = b""
    for _ in range(n_ranges):
        rng = bytearray(64)
        struct.pack_into("<HH4x3f", rng, 0, 64, len(counts), 2.0, 0.05, 10.0)
        struct.pack_into("<H", rng, 46, 298)
        ranges += bytes(rng) + np.asarray(counts, dtype="<f4").tobytes()
    return bytes(head) + ranges


def _f32(value: float) -> float:
    return float(np.float32(value))


@pytest.mark.parametrize("repeat_magic", [True, False])
def test_raw_v1_two_chained_ranges_read_as_written(repeat_magic):
    data = _v1(repeat_magic=repeat_magic)
    assert detect_format(data, "old.raw") == "bruker_raw"
    parsed = parse_file(data, filename="old.raw")
    first, second = parsed.series
    np.testing.assert_array_equal(first.y, COUNTS_1)
    np.testing.assert_array_equal(second.y, COUNTS_2)
    np.testing.assert_array_equal(first.x, 20.0 + _f32(0.02) * np.arange(6))
    np.testing.assert_array_equal(second.x, 40.0 + _f32(0.05) * np.arange(3))
    m = parsed.metadata
    assert (m["version"], m["n_ranges"], m["sample_id"]) == ("RAW (v1)", 2, "CdSe NPL 4.5 ML")
    assert (m["kalpha1_a"], parsed.key_numbers["wavelength_a"]) == (_f32(1.5406), _f32(1.5406))
    assert m["ranges"][0]["start_theta_deg"] is None  # −1e6 means "not set"
    assert (m["ranges"][0]["time_per_step_s"], m["ranges"][0]["scan_mode"]) == (1.5, 2)
    assert [s["label"] for s in m["scans"]] == ["range 1", "range 2"]


def test_raw_v2_range_and_header_facts_read_as_written():
    data = _v2()
    parsed = parse_file(data, filename="old2.raw")
    (series,) = parsed.series
    np.testing.assert_array_equal(series.y, [100.0, 250.0, 180.0, 90.0])
    np.testing.assert_array_equal(series.x, 10.0 + _f32(0.05) * np.arange(4))
    m = parsed.metadata
    assert (m["version"], m["anode"], m["kalpha1_a"], m["kalpha2_a"]) == (
        "RAW2", "Cu", _f32(1.5406), _f32(1.54439)
    )
    assert (m["ranges"][0]["temperature_k"], m["total_runtime_s"], m["measured_at"]) == (
        298, 120.0, "2008-06-05T11:45:35"
    )
    assert len(parse_file(_v2(n_ranges=3), filename="old2.raw").series) == 3


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(_v1()[:-2], id="v1 cut in the last count"),
        pytest.param(_v1()[:-12], id="v1 cut by three counts"),
        pytest.param(_v1() + b"\x00" * 4, id="v1 padded"),
        pytest.param(b"RAW " + _v1_range(6, 20.0, 0.02, COUNTS_1, follows=True),
                     id="v1 flag says another range follows, none does"),
        pytest.param(b"RAW " + _v1_range(0xFFFF_FFFF, 20.0, 0.02, [], follows=False),
                     id="v1 garbled step count"),
        pytest.param(b"RAW " + _v1_range(6, 20.0, -0.02, COUNTS_1, follows=False),
                     id="v1 negative step"),
        pytest.param(b"RAW " + _v1_range(6, 3e30, 0.02, COUNTS_1, follows=False),
                     id="v1 garbled start angle"),
        pytest.param(b"RAW " + _v1_range(3, 20.0, 0.02, [1.0, float("nan"), 2.0],
                                         follows=False), id="v1 NaN count"),
        pytest.param(_v2()[:-1], id="v2 cut"),
        pytest.param(_v2() + b"\x00" * 8, id="v2 padded"),
        pytest.param(_v2(n_ranges=2)[: 256 + 64 + 16], id="v2 second range missing"),
        pytest.param(_v2()[:256] + struct.pack("<H", 20) + _v2()[258:], id="v2 header too short"),
        pytest.param(_v2(counts=(1.0, -5.0, 2.0, 3.0)), id="v2 negative count"),
        pytest.param(_v2()[:4] + struct.pack("<H", 0) + _v2()[6:], id="v2 no range"),
    ],
)
def test_cut_padded_or_garbled_old_raw_is_refused(bad):
    with pytest.raises(ParseError) as err:
        parse_file(bad, filename="old.raw")
    assert (err.value.format, err.value.message.startswith("old.raw: Bruker RAW: ")) == (
        "bruker_raw", True
    )
