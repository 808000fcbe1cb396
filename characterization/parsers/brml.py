"""Bruker ``.brml`` (D8 ADVANCE, DIFFRAC.SUITE): a ZIP of XML documents.

Reader: fairmat-readers-xrd ``read_bruker_brml``, after a zip-bomb guard that sums the
declared ``ZipInfo.file_size`` of every member before anything is extracted.
"""

from __future__ import annotations

import importlib.metadata
import io
import zipfile

import numpy as np

from ._guard import fail, guarded
from ._tempfile import temp_path
from .base import ParsedFile
from .xrd_common import xrd_key_numbers, xrd_series
from .xrdml import _magnitude, _source_metadata

PARSER_NAME = "labdb.brml"
PARSER_VERSION = "1.0.0"
FORMAT = "brml"
LABEL = "Bruker BRML"
DEFAULT_MAX_EXPANDED_BYTES = 512 * 1024 * 1024


def check_zip_expansion(data: bytes, max_expanded_bytes: int, label: str, fmt: str) -> list[str]:
    """Member names of the ZIP in ``data`` after checking the declared uncompressed total.

    Raises ParseError when the archive would expand beyond ``max_expanded_bytes`` bytes
    (zip-bomb guard) and zipfile.BadZipFile when it is not a ZIP.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    total = sum(max(info.file_size, 0) for info in infos)
    if total > max_expanded_bytes:
        raise fail(
            fmt,
            f"{label}: the archive would expand to {total / 1e6:.0f} MB, more than "
            f"the {max_expanded_bytes / 1e6:.0f} MB allowed",
        )
    return [info.filename for info in infos]


@guarded(FORMAT, LABEL)
def parse_brml(
    data: bytes, *, filename: str, max_expanded_bytes: int = DEFAULT_MAX_EXPANDED_BYTES
) -> ParsedFile:
    """Parse a BRML archive: pattern (2θ in deg vs counts) and XRD key numbers.

    Raises ParseError for non-ZIP or truncated input, ZIPs without ``Experiment*/RawData*.xml``,
    archives expanding beyond ``max_expanded_bytes``, or 2-D scans.
    """
    names = check_zip_expansion(data, max_expanded_bytes, LABEL, FORMAT)
    raw_files = [n for n in names if n.startswith("Experiment") and "RawData" in n]
    if not raw_files:
        raise fail(FORMAT, f"{LABEL}: the ZIP holds no Experiment*/RawData*.xml scan data")
    from fairmat_readers_xrd import read_bruker_brml

    with temp_path(data, ".brml") as path:
        raw = read_bruker_brml(path)
    tt = np.asarray(_magnitude(raw["2Theta"]), dtype=float)
    it = np.asarray(_magnitude(raw["intensity"]), dtype=float)
    if it.ndim != 1:
        raise fail(FORMAT, f"{LABEL}: 2-D scans with {it.shape} points are not supported")
    meta = raw.get("metadata") or {}
    source = _source_metadata(meta)
    metadata = {
        "scan_axis": meta.get("scan_axis"),
        "scan_type": meta.get("scan_type"),
        "n_raw_data_files": len(raw_files),
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
        key_numbers=xrd_key_numbers(tt, it, source["kalpha1_a"]),
    )
