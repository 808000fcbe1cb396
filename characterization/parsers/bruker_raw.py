"""Bruker DIFFRAC ``.raw`` versions 1–4, own readers.

Version 4 (``RAW4.00``), segment-based (layout from xylib's LGPL notes, verified on real
files; see FORMATS.md §3.3): a 61-byte file
header (date at 12, time at 24), then TLV segments ``u32 type, u32 length``: type 10 = text
variable (name 24 bytes at +12, value from +36), type 30 = hardware (Kα avg/Kα1/Kα2/Kβ/ratio
as 5 float64 at +72, anode at +116); others are skipped by length. Type 0 or 160 starts a
range (header 160 bytes + extra header): scan type at +32, start 2θ f64 +72, step f64 +80,
steps u32 +88, time/step f32 +92, kV/mA f32 +100/+104, λ f64 +112, datum size u32 +136,
extra-header size u32 +140, then ``steps`` records of ``datum size`` bytes (first float32 =
intensity, counts).

Version 3 (``RAW1.01``, DIFFRAC-plus; layout from the DIFFRAC-plus XCH 5.0 manual, app. A, as
documented in xylib): a 712-byte file header — status u32 at 8 (1 done, 2 active, 3 aborted,
4 interrupted), range count u32 at 12, date (10 chars, ``MM/DD/YY``) at 16, time at 26, user
at 36, site at 108, sample id at 326, comment at 386, anode at 608, Kα average/Kα1/Kα2/Kβ/ratio
as 5 float64 at 616 — then per range a 304-byte header: steps u32 +4, start θ f64 +8,
start 2θ f64 +16, step f64 +176, time/step f32 +192, kV/mA u32 +224/+228, λ f64 +240,
supplementary-header size u32 +256; then the supplementary headers and ``steps`` float32
counts. The file must end exactly after the last range (a cut or padded file is refused).

Version 1 (``RAW ``, DIFFRAC-AT; layout as xylib reads it): after the 4-byte magic, per range
a 152-byte header — steps u32 +0, time/step f32 +4, step f32 +8, scan mode u32 +12, start 2θ
f32 +20, start θ/χ/φ f32 +24/+28/+32 (−1e6 = not set), sample name 32 chars +36, Kα1/Kα2
f32 +68/+72, 72 unused bytes, "another range follows" u32 +148 — then ``steps`` float32
counts. Later ranges may repeat the ``RAW `` magic before their header.

Version 2 (``RAW2``): range count u16 at 4, measurement date/time 20 chars at 168, anode
2 chars at 188, λ1/λ2/intensity ratio f32 at 190/194/198, total run time f32 at 210; ranges
from byte 256, each a header of its stated length (u16 +0, more than 48), steps u16 +2,
time/step f32 +8, step f32 +12, start 2θ f32 +16, temperature K u16 +46, then ``steps``
float32 counts. No real v1/v2 file exists in the shared data: the tests build files from
this layout byte by byte; v1/v2 readings are checked for plausibility (1–100 000 steps,
positive finite step, 2θ start within −10…180°, finite non-negative counts) so that a garbled
header is refused rather than read as a pattern.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ._dates import from_formats, stamp
from ._guard import fail, guarded
from .base import ParsedFile
from .xrd_common import xrd_key_numbers, xrd_series

PARSER_NAME = "labdb.bruker_raw"
PARSER_VERSION = "1.3.0"
FORMAT = "bruker_raw"
LABEL = "Bruker RAW"
MAGIC_V4 = b"RAW4.00"
MAGIC_V3 = b"RAW1.01"
V3_HEADER_BYTES = 712
V3_RANGE_HEADER_BYTES = 304
V3_STATUS = {1: "done", 2: "active", 3: "aborted", 4: "interrupted"}
OLD_MAGICS = (b"RAW1.01", b"RAW2", b"RAW ")  # v3, v2, v1
V1_RANGE_HEADER_BYTES = 152
V2_FIRST_RANGE = 256
V2_MIN_RANGE_HEADER = 48
MAX_STEPS = 100_000
HEADER_BYTES = 61
RANGE_HEADER_BYTES = 160
SUPPORTED_SCAN_TYPES = (
    "Locked Coupled",
    "Unlocked Coupled",
    "Detector Scan",
    "2Theta",
    "TwoTheta",
    "Coupled TwoTheta/Theta",
    "Theta",
    "PSD fast",
)


def _cstr(raw: bytes) -> str:
    """NUL-terminated latin-1 string."""
    return raw.split(b"\x00", 1)[0].decode("latin-1").strip()


def _need(data: bytes, end: int) -> None:
    """Raise ValueError('truncated …') when ``data`` is shorter than ``end`` bytes."""
    if end > len(data):
        raise ValueError(f"truncated: need {end} bytes, have {len(data)}")


def _read_range(data: bytes, off: int) -> tuple[dict, np.ndarray, np.ndarray, int]:
    """Decode one range at ``off``: (info, 2θ in deg, intensity in counts, next offset)."""
    _need(data, off + RANGE_HEADER_BYTES)
    scan_type = _cstr(data[off + 32 : off + 56])
    start, step = struct.unpack_from("<dd", data, off + 72)
    (steps,) = struct.unpack_from("<I", data, off + 88)
    (time_per_step,) = struct.unpack_from("<f", data, off + 92)
    kv, ma = struct.unpack_from("<ff", data, off + 100)
    (wavelength,) = struct.unpack_from("<d", data, off + 112)
    datum, extra = struct.unpack_from("<II", data, off + 136)
    if datum not in (4, 8, 12, 16) or steps == 0 or not np.isfinite([start, step]).all():
        raise ValueError(f"implausible range header (datum size {datum}, {steps} steps)")
    begin = off + RANGE_HEADER_BYTES + extra
    end = begin + steps * datum
    _need(data, end)
    records = np.frombuffer(data, dtype="<f4", count=steps * datum // 4, offset=begin)
    intensity = records.reshape(steps, datum // 4)[:, 0].astype(float)
    twotheta = start + step * np.arange(steps)
    info = {
        "scan_type": scan_type,
        "start_deg": start,
        "step_deg": step,
        "n_points": steps,
        "time_per_step_s": float(time_per_step),
        "tube_voltage_kv": float(kv),
        "tube_current_ma": float(ma),
        "wavelength_a": wavelength,
        "datum_size": datum,
    }
    return info, twotheta, intensity, end


def _read_segments(data: bytes) -> tuple[dict, dict, list]:
    """Walk the TLV segments: (text variables, hardware info, list of ranges)."""
    text: dict[str, str] = {}
    hardware: dict[str, Any] = {}
    ranges: list[tuple[dict, np.ndarray, np.ndarray]] = []
    off = HEADER_BYTES
    while off < len(data):
        _need(data, off + 8)
        seg_type, seg_len = struct.unpack_from("<II", data, off)
        if seg_type in (0, 160):
            info, tt, it, off = _read_range(data, off)
            ranges.append((info, tt, it))
            continue
        if seg_len < 8:
            raise ValueError(f"segment of type {seg_type} has impossible length {seg_len}")
        _need(data, off + seg_len)
        if seg_type == 10:
            text[_cstr(data[off + 12 : off + 36])] = _cstr(data[off + 36 : off + seg_len])
        elif seg_type == 30 and seg_len >= 120:
            hardware["kalpha_a"] = struct.unpack_from("<5d", data, off + 72)
            hardware["anode"] = _cstr(data[off + 116 : off + 120])
        off += seg_len
    return text, hardware, ranges


def _v3_ranges(data: bytes, n_ranges: int) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """The ranges of a RAW v3 file: (header facts, 2θ in deg, counts)."""
    off, out = V3_HEADER_BYTES, []
    for k in range(n_ranges):
        _need(data, off + V3_RANGE_HEADER_BYTES)
        (header_len,) = struct.unpack_from("<I", data, off)
        if header_len != V3_RANGE_HEADER_BYTES:
            raise ValueError(
                f"range {k + 1} header says {header_len} bytes; RAW v3 range headers are 304"
            )
        (steps,) = struct.unpack_from("<I", data, off + 4)
        start_theta, start_2theta = struct.unpack_from("<2d", data, off + 8)
        (step,) = struct.unpack_from("<d", data, off + 176)
        (time_per_step,) = struct.unpack_from("<f", data, off + 192)
        kv, ma = struct.unpack_from("<2I", data, off + 224)
        (wavelength,) = struct.unpack_from("<d", data, off + 240)
        (supplementary,) = struct.unpack_from("<I", data, off + 256)
        start = off + V3_RANGE_HEADER_BYTES + supplementary
        _need(data, start + 4 * steps)
        counts = np.frombuffer(data, dtype="<f4", count=steps, offset=start).astype(float)
        info = {
            "steps": int(steps),
            "start_deg": float(start_2theta),
            "start_theta_deg": float(start_theta),
            "step_deg": float(step),
            "time_per_step_s": float(time_per_step),
            "tube_voltage_kv": float(kv),
            "tube_current_ma": float(ma),
            "wavelength_a": float(wavelength),
        }
        out.append((info, start_2theta + step * np.arange(steps), counts))
        off = start + 4 * steps
    if off != len(data):
        raise ValueError(
            f"{len(data) - off} bytes follow the last of the {n_ranges} ranges the header "
            "declares; the file is damaged"
        )
    return out


def _parse_v3(data: bytes) -> ParsedFile:
    """A RAW v3 (``RAW1.01``) file; see the module docstring for the layout."""
    _need(data, V3_HEADER_BYTES)
    status, n_ranges = struct.unpack_from("<2I", data, 8)
    if not 1 <= n_ranges <= 1000:
        raise ValueError(f"the header declares {n_ranges} ranges")
    ranges = _v3_ranges(data, n_ranges)
    kalpha = struct.unpack_from("<5d", data, 616)
    date, time = _cstr(data[16:26]), _cstr(data[26:36])
    metadata = {
        "version": "RAW1.01",
        "file_status": V3_STATUS.get(status, str(status)),
        "date": date,
        "time": time,
        "user": _cstr(data[36:108]),
        "site": _cstr(data[108:326]),
        "sample_id": _cstr(data[326:386]),
        "comment": _cstr(data[386:546]),
        "anode": _cstr(data[608:612]),
        "kalpha1_a": kalpha[1],
        "kalpha2_a": kalpha[2],
        "kalpha_average_a": kalpha[0],
        "kbeta_a": kalpha[3],
        "kalpha2_ratio": kalpha[4],
        "n_ranges": len(ranges),
        "ranges": [r[0] for r in ranges],
        "reader": "own RAW v3 reader",
        **stamp(from_formats(f"{date} {time}", ("%m/%d/%y %H:%M:%S",)), "date/time"),
    }
    return _parsed_ranges(ranges, metadata, kalpha, anode=metadata["anode"])


def _parsed_ranges(ranges: list, metadata: dict, kalpha: tuple, *, anode) -> ParsedFile:
    """One series per range (2θ in deg vs counts) and the XRD key numbers of the first range;
    ``kalpha[1]``/``kalpha[2]`` are Kα1/Kα2 in Å as the file states them (a missing Kα1 falls
    back to the first range's wavelength)."""
    series = [xrd_series(r_tt, r_it, f"range {i + 1}") for i, (_, r_tt, r_it) in enumerate(ranges)]
    first, tt, it = ranges[0]
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="xrd",
        series=series,
        metadata=metadata,
        key_numbers=xrd_key_numbers(
            tt,
            it,
            kalpha[1] or first.get("wavelength_a"),
            kalpha2_a=kalpha[2] or None,
            anode=anode,
        ),
    )


def _checked_range(k: int, steps: int, start: float, step: float, counts: np.ndarray) -> None:
    """Refuse a v1/v2 range whose numbers no diffractometer writes (a garbled header)."""
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"range {k + 1} declares {steps} steps")
    if not (np.isfinite(start) and np.isfinite(step) and step > 0 and -10.0 <= start <= 180.0):
        raise ValueError(f"range {k + 1} starts at 2θ = {start:g}° with a step of {step:g}°")
    if not (np.all(np.isfinite(counts)) and np.all(counts >= 0)):
        raise ValueError(f"range {k + 1} holds counts that are not finite non-negative numbers")


def _v1_range(data: bytes, off: int, k: int) -> tuple[dict, np.ndarray, np.ndarray, int, bool]:
    """One RAW v1 range at ``off``: (facts, 2θ, counts, next offset, another follows?)."""
    if k > 0 and data[off : off + 4] == b"RAW ":
        off += 4  # later DIFFRAC-AT versions repeat the magic before each range
    _need(data, off + V1_RANGE_HEADER_BYTES)
    steps, time_per_step, step, scan_mode = struct.unpack_from("<IffI", data, off)
    start, theta, khi, phi = struct.unpack_from("<4f", data, off + 20)
    ka1, ka2 = struct.unpack_from("<2f", data, off + 68)
    (follows,) = struct.unpack_from("<I", data, off + 148)
    begin = off + V1_RANGE_HEADER_BYTES
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"range {k + 1} declares {steps} steps")
    _need(data, begin + 4 * steps)
    counts = np.frombuffer(data, dtype="<f4", count=steps, offset=begin).astype(float)
    _checked_range(k, steps, start, step, counts)
    unset = -1e6
    info = {
        "steps": int(steps),
        "start_deg": float(start),
        "step_deg": float(step),
        "time_per_step_s": float(time_per_step),
        "scan_mode": int(scan_mode),
        "start_theta_deg": None if theta == unset else float(theta),
        "start_khi_deg": None if khi == unset else float(khi),
        "start_phi_deg": None if phi == unset else float(phi),
        "sample_name": _cstr(data[off + 36 : off + 68]),
        "kalpha1_a": float(ka1),
        "kalpha2_a": float(ka2),
    }
    return info, start + step * np.arange(steps), counts, begin + 4 * steps, follows != 0


def _parse_v1(data: bytes) -> ParsedFile:
    """A RAW v1 (``RAW ``) file: ranges chained by their "another range follows" flag."""
    off, follows = 4, True
    ranges: list[tuple[dict, np.ndarray, np.ndarray]] = []
    while follows:
        if len(ranges) >= 1000:
            raise ValueError("more than 1000 chained ranges")
        info, tt, it, off, follows = _v1_range(data, off, len(ranges))
        ranges.append((info, tt, it))
    if off != len(data):
        raise ValueError(
            f"{len(data) - off} bytes follow the last range (its flag says none follows); "
            "the file is damaged"
        )
    first = ranges[0][0]
    metadata = {
        "version": "RAW (v1)",
        "sample_id": first["sample_name"],
        "kalpha1_a": first["kalpha1_a"],
        "kalpha2_a": first["kalpha2_a"],
        "n_ranges": len(ranges),
        "ranges": [r[0] for r in ranges],
        "reader": "own RAW v1 reader",
    }
    kalpha = (None, first["kalpha1_a"] or None, first["kalpha2_a"] or None)
    return _parsed_ranges(ranges, metadata, kalpha, anode=None)


def _v2_ranges(data: bytes, n_ranges: int) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    off, out = V2_FIRST_RANGE, []
    for k in range(n_ranges):
        _need(data, off + V2_MIN_RANGE_HEADER)
        header_len, steps = struct.unpack_from("<HH", data, off)
        if not V2_MIN_RANGE_HEADER < header_len <= 4096:
            raise ValueError(f"range {k + 1} header says {header_len} bytes")
        time_per_step, step, start = struct.unpack_from("<3f", data, off + 8)
        (temperature_k,) = struct.unpack_from("<H", data, off + 46)
        begin = off + header_len
        if not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"range {k + 1} declares {steps} steps")
        _need(data, begin + 4 * steps)
        counts = np.frombuffer(data, dtype="<f4", count=steps, offset=begin).astype(float)
        _checked_range(k, steps, start, step, counts)
        info = {
            "steps": int(steps),
            "start_deg": float(start),
            "step_deg": float(step),
            "time_per_step_s": float(time_per_step),
            "temperature_k": int(temperature_k),
        }
        out.append((info, start + step * np.arange(steps), counts))
        off = begin + 4 * steps
    if off != len(data):
        raise ValueError(
            f"{len(data) - off} bytes follow the last of the {n_ranges} ranges the header "
            "declares; the file is damaged"
        )
    return out


def _parse_v2(data: bytes) -> ParsedFile:
    """A RAW v2 (``RAW2``) file; see the module docstring for the layout."""
    _need(data, V2_FIRST_RANGE)
    (n_ranges,) = struct.unpack_from("<H", data, 4)
    if not 1 <= n_ranges <= 1000:
        raise ValueError(f"the header declares {n_ranges} ranges")
    ranges = _v2_ranges(data, n_ranges)
    lambda1, lambda2, ratio = struct.unpack_from("<3f", data, 190)
    (runtime_s,) = struct.unpack_from("<f", data, 210)
    when = _cstr(data[168:188])
    metadata = {
        "version": "RAW2",
        "date_time": when,
        "anode": _cstr(data[188:190]),
        "kalpha1_a": float(lambda1),
        "kalpha2_a": float(lambda2),
        "kalpha2_ratio": float(ratio),
        "total_runtime_s": float(runtime_s),
        "n_ranges": len(ranges),
        "ranges": [r[0] for r in ranges],
        "reader": "own RAW v2 reader",
        **stamp(from_formats(when, ("%m/%d/%y %H:%M:%S",)), "date/time"),
    }
    kalpha = (None, float(lambda1) or None, float(lambda2) or None)
    return _parsed_ranges(ranges, metadata, kalpha, anode=metadata["anode"] or None)


@guarded(FORMAT, LABEL)
def parse_bruker_raw(data: bytes, *, filename: str) -> ParsedFile:
    """Parse a RAW v1 (``RAW ``), v2 (``RAW2``), v3 (``RAW1.01``) or RAW4 file: one series
    per range (2θ in deg vs counts) + XRD key numbers of the first range (wavelength Kα1 in
    Å). Raises ParseError for truncation, bytes after the last range, implausible v1/v2
    range numbers (a garbled header), unsupported scan types (texture/RSM) or no ranges.
    """
    if data[:7] == MAGIC_V3:
        return _parse_v3(data)
    if data[:4] == b"RAW2":
        return _parse_v2(data)
    if data[:4] == b"RAW ":
        return _parse_v1(data)
    if data[:7] != MAGIC_V4:
        raise ValueError(f"not RAW4.00: {data[:8]!r}")
    text, hardware, ranges = _read_segments(data)
    if not ranges:
        raise fail(FORMAT, f"{LABEL}: the file contains no scan range")
    for info, _, _ in ranges:
        if info["scan_type"] not in SUPPORTED_SCAN_TYPES:
            raise fail(
                FORMAT,
                f"{LABEL}: scan type {info['scan_type']!r} is not a 2θ scan; "
                "texture/RSM files are not supported",
            )
    first = ranges[0][0]
    kalpha = hardware.get("kalpha_a") or (None, first["wavelength_a"])
    metadata = {
        "version": "RAW4.00",
        "date": _cstr(data[12:24]),
        "time": _cstr(data[24:36]),
        "sample_id": text.get("SAMPLEID"),
        "user": text.get("USER"),
        "site": text.get("SITE"),
        "creator": text.get("CREATOR"),
        "anode": hardware.get("anode"),
        "kalpha1_a": kalpha[1],
        "n_ranges": len(ranges),
        "ranges": [r[0] for r in ranges],
        "reader": "own segment-based RAW4 reader",
    }
    return _parsed_ranges(ranges, metadata, kalpha, anode=hardware.get("anode"))
