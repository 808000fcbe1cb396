"""PANalytical ``.xrdml`` (X'Pert / Empyrean) powder and 2θ-ω scans, schemas 1.0–2.1.

Reader: fairmat-readers-xrd ``read_panalytical_xrdml`` (after our own sniffing: its
``read_file`` dispatches on a case-sensitive extension). Intensities are counts; for
schema ≥ 1.6 files with ``<counts>`` the library multiplies by ``beamAttenuationFactors``.
Only 1-D scans are supported; area/RSM files (2-D intensity) raise ParseError.
"""

from __future__ import annotations

import importlib.metadata
import re

import numpy as np

from ._guard import fail, guarded
from ._tempfile import temp_path
from .base import ParsedFile
from .xrd_common import xrd_key_numbers, xrd_series

PARSER_NAME = "labdb.xrdml"
PARSER_VERSION = "1.1.0"
FORMAT = "xrdml"
LABEL = "PANalytical XRDML"


def _magnitude(value) -> np.ndarray | float | None:
    """Strip a pint quantity to its magnitude (None stays None)."""
    return None if value is None else getattr(value, "magnitude", value)


def _schema_version(data: bytes) -> str | None:
    """The XRDML schema version from the root namespace, e.g. ``"2.0"``."""
    match = re.search(rb"www\.xrdml\.com/XRDMeasurement/(\d+\.\d+)", data[:4000])
    return match.group(1).decode() if match else None


def _source_metadata(meta: dict) -> dict:
    """Anode, wavelengths (Å), tube voltage (kV) and current (mA) from fairmat metadata."""
    src = meta.get("source") or {}
    return {
        "anode": src.get("anode_material"),
        "kalpha1_a": _magnitude(src.get("kAlpha1")),
        "kalpha2_a": _magnitude(src.get("kAlpha2")),
        "kbeta_a": _magnitude(src.get("kBeta")),
        "tube_voltage_kv": _magnitude(src.get("voltage")),
        "tube_current_ma": _magnitude(src.get("current")),
    }


@guarded(FORMAT, LABEL)
def parse_xrdml(data: bytes, *, filename: str) -> ParsedFile:
    """Parse an XRDML file: pattern (2θ in deg vs counts) and XRD key numbers.

    Raises ParseError for malformed XML, non-XRDML XML, 2-D (area/RSM) scans or
    mismatched arrays.
    """
    if b"xrdMeasurements" not in data[:4000]:
        raise fail(FORMAT, f"{LABEL}: not an XRDML file (no <xrdMeasurements> root)")
    from fairmat_readers_xrd import read_panalytical_xrdml

    with temp_path(data, ".xrdml") as path:
        raw = read_panalytical_xrdml(path)
    tt = np.asarray(_magnitude(raw["2Theta"]), dtype=float)
    it = np.asarray(_magnitude(raw["intensity"]), dtype=float)
    if it.ndim != 1:
        raise fail(
            FORMAT,
            f"{LABEL}: area/RSM scans with {it.shape} points are not supported; export a 1-D scan",
        )
    meta = raw.get("metadata") or {}
    source = _source_metadata(meta)
    metadata = {
        "schema": _schema_version(data),
        "scan_axis": meta.get("scan_axis"),
        "scan_mode": meta.get("scan_mode"),
        "start_time": meta.get("start_time"),
        "has_counts": raw.get("counts") is not None,
        **source,
        "reader": f"fairmat-readers-xrd {importlib.metadata.version('fairmat-readers-xrd')}",
    }
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="xrd",
        series=[xrd_series(tt, it, "pattern")],
        metadata=metadata,
        key_numbers=xrd_key_numbers(
            tt, it, source["kalpha1_a"], kalpha2_a=source["kalpha2_a"], anode=source["anode"]
        ),
    )
