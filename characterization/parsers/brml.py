"""Bruker ``.brml`` (D8 ADVANCE, DIFFRAC.SUITE): a ZIP of XML documents.

Own reader (after a zip-bomb guard that sums the declared ``ZipInfo.file_size`` of every
member before anything is extracted): every ``Experiment*/RawData<N>.xml`` is one scan, read
in the order of N. In each, ``DataViews`` say which comma-separated field of a ``<Datum>`` row
is the 2θ (the ``TwoTheta`` field of the ``ScanAxes`` view) and the counts (the
``RecordedRawDataView``). The recorded counts are already corrected for the absorber (a
fractional 495559.8 beside ``AbsorptionFactor`` 8.3), so they are kept as they are, as
fairmat-readers-xrd does; the factors are listed per scan. A PSD still ("PSD fixed") scan is one
``<Datum>`` with one count per detector channel; its 2θ axis is ``Start + i·Increment``.

Checks: the number of ``<Datum>`` rows equals ``MeasurementPoints`` (or, for a PSD still
scan, the recorded length), every row has the declared number of fields, 2θ is monotonic.
``TimeStampStarted`` (ISO 8601 with offset) becomes ``measured_at``; Kα1/Kα2/Kβ (Å), tube
anode, kV and mA come from the ``Tube`` element.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile

import numpy as np

from ._checks import require_monotonic
from ._dates import from_iso, stamp
from ._guard import fail, guarded
from .base import ParsedFile, scan_list
from .xrd_common import xrd_key_numbers, xrd_series

PARSER_NAME = "labdb.brml"
PARSER_VERSION = "2.0.0"
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


XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def _float_attr(el: ET.Element | None, name: str = "Value") -> float | None:
    """A numeric attribute (``Value="1.5406"``) or None."""
    value = None if el is None else el.get(name)
    return None if value is None else float(value)


def _views(root: ET.Element) -> tuple[int, int | None, int, int]:
    """(2θ field index, absorber field index or None, counts start, counts length)."""
    twotheta = absorber = counts = None
    length = 1
    for view in root.iter("RawDataView"):
        kind, start = view.get(XSI_TYPE, ""), int(view.get("Start", "0"))
        if view.get("LogicName") == "AbsorptionFactor":
            absorber = start
        elif kind == "VaryingRawDataView":
            names = [f.get("FieldName") for f in view.iter("FieldDefinitions")]
            if "TwoTheta" in names and twotheta is None:
                twotheta = start + names.index("TwoTheta")
        elif kind == "RecordedRawDataView" and counts is None:
            counts, length = start, int(view.get("Length", "1"))
    if counts is None:
        raise ValueError("no recorded counts view (RecordedRawDataView) in the scan")
    return (-1 if twotheta is None else twotheta), absorber, counts, length


def _scan_axis(root: ET.Element) -> tuple[float, float, float]:
    """(start, stop, increment) of the TwoTheta scan axis, in degrees."""
    for axis in root.iter("ScanAxisInfo"):
        if axis.get("AxisName") == "TwoTheta":
            start, stop, step = (
                float(axis.findtext(k, "")) for k in ("Start", "Stop", "Increment")
            )
            return start, stop, step
    raise ValueError("the scan has no TwoTheta axis")


def _rows(root: ET.Element) -> list[list[float]]:
    """The ``<Datum>`` rows as lists of floats."""
    return [[float(v) for v in (d.text or "").split(",")] for d in root.iter("Datum")]


def _pattern(root: ET.Element, name: str) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(2θ in deg, counts, distinct absorber factors) of one RawData document."""
    tt_i, abs_i, c_start, c_len = _views(root)
    rows = _rows(root)
    declared = int(root.findtext(".//ScanInformation/MeasurementPoints") or len(rows))
    width = c_start + c_len
    if any(len(r) != width for r in rows):
        bad = next(k for k, r in enumerate(rows) if len(r) != width)
        raise ValueError(
            f"{name}: every <Datum> row must hold {width} values, but row {bad + 1} has "
            f"{len(rows[bad])}"
        )
    if c_len > 1:  # PSD still scan: one row, one count per detector channel
        if len(rows) != 1:
            raise ValueError(f"{name}: a PSD still scan must have exactly one <Datum> row")
        start, _, step = _scan_axis(root)
        row = rows[0]
        factors = [row[abs_i]] if abs_i is not None else []
        return start + step * np.arange(c_len), np.array(row[c_start : c_start + c_len]), factors
    if len(rows) != declared:
        raise ValueError(
            f"{name}: the scan declares {declared} measurement points but holds {len(rows)} "
            "<Datum> rows; the file looks truncated"
        )
    if tt_i < 0:
        raise ValueError(f"{name}: no TwoTheta column among the scan axes")
    table = np.array(rows)
    factors = sorted({float(v) for v in table[:, abs_i]}) if abs_i is not None else []
    return table[:, tt_i], table[:, c_start], factors


def _source(root: ET.Element) -> dict:
    """Anode, Kα1/Kα2/Kβ (Å), tube kV and mA from the ``Tube`` element."""
    tube = next(root.iter("Tube"), None)
    if tube is None:
        return dict.fromkeys(
            ("anode", "kalpha1_a", "kalpha2_a", "kbeta_a", "tube_voltage_kv", "tube_current_ma")
        )
    return {
        "anode": tube.findtext("TubeMaterial"),
        "kalpha1_a": _float_attr(tube.find("WaveLengthAlpha1")),
        "kalpha2_a": _float_attr(tube.find("WaveLengthAlpha2")),
        "kbeta_a": _float_attr(tube.find("WaveLengthBeta")),
        "kalpha2_ratio": _float_attr(tube.find("WaveLengthRatio")),
        "tube_voltage_kv": _float_attr(tube.find(".//Voltage")),
        "tube_current_ma": _float_attr(tube.find(".//Current")),
    }


def _scan_meta(root: ET.Element, member: str) -> dict:
    """What the RawData document states about its scan."""
    info = root.find(".//ScanInformation")
    items = {i.get("Name"): i.get("Value") for i in root.iter("InfoItem") if i.get("Name")}
    return {
        "member": member,
        "scan_axis": info.get("ScanName") if info is not None else None,
        "scan_type": info.get("VisibleName") if info is not None else None,
        "scan_mode": root.findtext(".//ScanInformation/ScanMode"),
        "time_per_step_s": float(root.findtext(".//ScanInformation/TimePerStep") or "nan"),
        "status": root.findtext("MeasurementStatus"),
        "started": root.findtext("TimeStampStarted"),
        "finished": root.findtext("TimeStampFinished"),
        "sample_name": items.get("SampleName"),
        "user": items.get("User"),
        "comment": items.get("Comment"),
    }


def _raw_members(names: list[str]) -> list[str]:
    """``Experiment*/RawData<N>.xml`` members ordered by experiment and N."""
    found = []
    for n in names:
        m = re.fullmatch(r"Experiment(\d+)/RawData(\d+)\.xml", n)
        if m:
            found.append((int(m.group(1)), int(m.group(2)), n))
    return [n for _, _, n in sorted(found)]


@guarded(FORMAT, LABEL)
def parse_brml(
    data: bytes, *, filename: str, max_expanded_bytes: int = DEFAULT_MAX_EXPANDED_BYTES
) -> ParsedFile:
    """Parse a BRML archive: every scan a pattern (2θ in deg vs counts), listed in ``scans``.

    Key numbers are those of the first scan. Raises ParseError for non-ZIP or truncated input
    (ZIP CRC), ZIPs without ``Experiment*/RawData*.xml``, archives expanding beyond
    ``max_expanded_bytes``, a Datum row count differing from MeasurementPoints, ragged rows,
    or a 2θ axis that is not monotonic.
    """
    names = check_zip_expansion(data, max_expanded_bytes, LABEL, FORMAT)
    members = _raw_members(names)
    if not members:
        raise fail(FORMAT, f"{LABEL}: the ZIP holds no Experiment*/RawData*.xml scan data")
    series, scans = [], []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        roots = [(m, ET.fromstring(zf.read(m))) for m in members]
    for member, root in roots:
        tt, it, factors = _pattern(root, member)
        require_monotonic(tt, what=f"{member} 2θ", unit="°")
        label = member.split("/")[-1].removesuffix(".xml")
        series.append(xrd_series(tt, it, "pattern" if len(roots) == 1 else label))
        scans.append({**_scan_meta(root, member), "absorber_factors": factors[:20]})
    source = _source(roots[0][1])
    first = scans[0]
    metadata = {
        "scan_axis": first["scan_axis"],
        "scan_type": first["scan_type"],
        "scan_mode": first["scan_mode"],
        "n_raw_data_files": len(members),
        **stamp(from_iso(first["started"]), "TimeStampStarted"),
        **source,
        "scans": [{**a, **b} for a, b in zip(scan_list(series), scans)],
        "reader": "own BRML reader",
    }
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="xrd",
        series=series,
        metadata=metadata,
        key_numbers=xrd_key_numbers(
            series[0].x,
            series[0].y,
            source["kalpha1_a"],
            kalpha2_a=source["kalpha2_a"],
            anode=source["anode"],
        ),
    )
