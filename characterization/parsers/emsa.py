"""EMSA/MAS ``.msa`` spectra (EDS and EELS; ISO 22029).

Reader: rosettasciio ``rsciio.msa``. Before handing over, the text is checked strictly: the
``#FORMAT`` line must say EMSA/MAS, ``#ENDOFDATA`` must be present (truncation guard) and the
number of data values must equal ``#NPOINTS``.
"""

from __future__ import annotations

import re

from ._guard import fail, guarded
from ._text import decode_text
from .base import ParsedFile
from .rsciio_common import (
    axes_summary,
    energy_axis,
    jsonable,
    read_signals,
    rsciio_version,
    spectrum_from_signal,
    spectrum_key_numbers,
    technique_for,
)

PARSER_NAME = "labdb.emsa"
PARSER_VERSION = "1.0.0"
FORMAT = "emsa"
LABEL = "EMSA/MAS spectrum"


def _check_structure(text: str) -> None:
    """Raise ParseError unless the EMSA keywords and the data count are consistent."""
    if not re.search(r"^#FORMAT\s*:\s*EMSA/MAS", text, re.MULTILINE | re.IGNORECASE):
        raise fail(FORMAT, f"{LABEL}: missing '#FORMAT : EMSA/MAS Spectral Data File' line")
    if not re.search(r"^#ENDOFDATA", text, re.MULTILINE | re.IGNORECASE):
        raise fail(FORMAT, f"{LABEL}: no #ENDOFDATA line; the file looks truncated")
    match = re.search(r"^#NPOINTS\s*:\s*([0-9.eE+]+)", text, re.MULTILINE | re.IGNORECASE)
    xy = re.search(r"^#DATATYPE\s*:\s*XY", text, re.MULTILINE | re.IGNORECASE)
    body = text.split("#SPECTRUM", 1)[-1].split("\n", 1)[-1]
    body = re.split(r"^#ENDOFDATA", body, flags=re.MULTILINE | re.IGNORECASE)[0]
    n_values = len([v for v in re.split(r"[,\s]+", body) if v])
    n_points = n_values // 2 if xy else n_values
    # Fewer points than declared means lost data; the EMSA spec's own example declares 20 and
    # lists 21 (inclusive end channel), so a surplus is tolerated.
    if match and n_points < int(float(match.group(1))):
        raise fail(
            FORMAT, f"{LABEL}: #NPOINTS says {match.group(1)} but only {n_points} points follow"
        )


@guarded(FORMAT, LABEL)
def parse_emsa(data: bytes, *, filename: str) -> ParsedFile:
    """Parse an EMSA/MAS spectrum (x in eV).

    Key numbers: ``n_channels``, ``channel_width_ev``, ``energy_offset_ev``, ``voltage_kv``.
    Raises ParseError for a missing format line, truncation or a wrong point count.
    """
    _check_structure(decode_text(data))
    signals = read_signals("msa", data, ".msa", fmt=FORMAT, label=LABEL, lazy=False)
    if not signals:
        raise fail(FORMAT, f"{LABEL}: no spectrum found")
    signal = signals[0]
    axis = energy_axis(signal["axes"])
    if axis is None:
        raise fail(FORMAT, f"{LABEL}: the x axis is not an energy in eV or keV")
    signal_type = str(signal["metadata"].get("Signal", {}).get("signal_type", ""))
    series = spectrum_from_signal(signal, axis, signal_type or "Intensity")
    tem = (signal["metadata"].get("Acquisition_instrument") or {}).get("TEM") or {}
    kv = tem.get("beam_energy")
    metadata = {
        "title": signal["metadata"].get("General", {}).get("title"),
        "signal_type": signal_type,
        "axes": axes_summary(signal),
        "acquisition": jsonable(signal["metadata"].get("Acquisition_instrument", {})),
        "reader": rsciio_version(),
    }
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique=technique_for(signal_type, True),
        series=[series],
        metadata=metadata,
        key_numbers=spectrum_key_numbers(series, axis, None if kv is None else float(kv)),
    )
