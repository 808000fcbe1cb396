"""Measurement times stated by instrument files, normalised for ``ParsedFile.metadata``.

Every parser that finds a timestamp stores it with ``stamp``: ``measured_at`` is ISO 8601;
with the file's UTC offset when it states one (``measured_at_timezone = "stated"``), else
naive, and then ``measured_at_timezone = "lab-local"``: the instrument PC's wall clock, which
the service interprets in the lab's time zone (settings.TIME_ZONE). ``measured_at_source``
names the header field. Formats that spell months or AM/PM are parsed with fixed English
patterns; a text that matches none is kept raw and no time is claimed.
"""

from __future__ import annotations

import datetime as dt
import re

US_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",  # Cary: 1/15/2014 4:59:54 PM
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
)
SPEC_FORMATS = (
    "%a %b %d %H:%M:%S %Y",  # SPEC #D: Tue Jul 09 14:44:45 2019
    "%a %b %d %H:%M:%S %Y %Z",
)


def stamp(value: dt.datetime | None, source: str, *, day_only: bool = False) -> dict:
    """The metadata keys for a stated measurement time (empty dict when ``value`` is None).

    ``day_only``: the file states a date without a time; ``measured_at`` is then that day's
    00:00 and ``measured_at_precision`` is ``"day"`` (else ``"second"``).
    """
    if value is None:
        return {}
    return {
        "measured_at": value.isoformat(),
        "measured_at_timezone": "stated" if value.tzinfo else "lab-local",
        "measured_at_precision": "day" if day_only else "second",
        "measured_at_source": source,
    }


def from_iso(text: str | None) -> dt.datetime | None:
    """ISO 8601 (``2019-07-09 11:02:47``, ``…T…+01:00``, 7-digit fractions, ``Z``) or None."""
    if not text:
        return None
    if not isinstance(text, str):
        return None
    cleaned = text.strip().replace("Z", "+00:00")
    cleaned = re.sub(r"(\.\d{6})\d+", r"\1", cleaned)  # .NET writes 7 fraction digits
    try:
        return dt.datetime.fromisoformat(cleaned)
    except ValueError:
        return None


def from_formats(text: str | None, formats: tuple[str, ...]) -> dt.datetime | None:
    """The first of ``formats`` that parses ``text`` (spaces collapsed), else None."""
    if not text:
        return None
    cleaned = re.sub(r"\s+", " ", text.strip())
    for fmt in formats:
        try:
            return dt.datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
    return None


def from_jcamp(fields: dict[str, str]) -> tuple[dt.datetime | None, str]:  # noqa: C901
    """(time, source) from ``##LONGDATE`` (``YYYY/MM/DD [HH:MM:SS]``) or ``##DATE``/``##TIME``.

    Old ``##DATE= 81/ 1/ 3`` is YY/MM/DD (JCAMP-DX 4.24); two-digit years < 50 are 20xx.
    ``##DATE=28/8/2023`` (four-digit year last) is DD/MM/YYYY.
    """
    long = fields.get("LONGDATE")
    if long:
        m = re.match(r"(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?", long)
        if m:
            y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
            return dt.datetime(y, mo, d, h, mi, s), "##LONGDATE"
    date = (fields.get("DATE") or "").replace(" ", "")
    m = re.fullmatch(r"(\d{1,4})/(\d{1,2})/(\d{1,4})", date)
    if not m:
        return None, ""
    a, b, c = (int(g) for g in m.groups())
    if len(m.group(3)) == 4:
        y, mo, d = c, b, a
    else:
        y, mo, d = (a + (2000 if a < 50 else 1900) if a < 100 else a), b, c
    t = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", (fields.get("TIME") or "").strip())
    h, mi, s = (int(g) if g else 0 for g in t.groups()) if t else (0, 0, 0)
    try:
        return dt.datetime(y, mo, d, h, mi, s), "##DATE/##TIME" if t else "##DATE"
    except ValueError:
        return None, ""


def from_parser_metadata(metadata: dict) -> dict:
    """``stamp`` keys from the time fields parsers already keep, or {} when there are none.

    Looks, in order, at ``start_time`` (XRDML, ISO with offset), ``datetime`` (OPUS, naive
    lab-local), ``date`` + ``time`` (EMD/TIFF ISO date; Bruker RAW US ``MM/DD/YYYY``) and the
    first Cary series' ``collected`` (US ``M/D/YYYY h:mm:ss AM``).
    """
    if metadata.get("measured_at"):
        return {}
    if (value := from_iso(metadata.get("start_time"))) is not None:
        return stamp(value, "start_time")
    if (value := from_iso(metadata.get("datetime"))) is not None:
        return stamp(value, "datetime")
    date, time = metadata.get("date"), metadata.get("time")
    if isinstance(date, str) and date:
        joined = f"{date} {time}" if isinstance(time, str) and time else date
        value = from_iso(joined.replace(" ", "T")) or from_formats(
            joined, ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y")
        )
        if value is not None:
            return stamp(value, "date/time" if time else "date", day_only=not time)
    series = metadata.get("series")
    if isinstance(series, list) and series and isinstance(series[0], dict):
        value = from_formats(series[0].get("collected"), US_FORMATS)
        if value is not None:
            return stamp(value, "Collection Time")
    return {}
