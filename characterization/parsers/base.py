"""Result types shared by every instrument parser.

Parsers are pure: they take the raw bytes and the original file name and return a
``ParsedFile`` or raise ``labdb.lib.errors.ParseError``. They never import Django.
Arrays are numpy arrays; ``metadata`` and ``key_numbers`` are JSON-serialisable dicts whose
keys carry their units (``wavelength_a``, ``twotheta_min_deg``, ``peak_nm``, ``fwhm_mev`` …).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Series:
    """One 1-D curve: ``y`` against ``x`` with labels and units (e.g. 2θ in deg vs counts)."""

    name: str
    x: np.ndarray
    y: np.ndarray
    x_label: str
    x_unit: str
    y_label: str
    y_unit: str


@dataclass
class ImageData:
    """A 2-D image (first frame of a stack) with its calibrated pixel size.

    ``pixel_size`` is in ``pixel_unit`` as the file gives it (``nm``, ``µm``, ``1 / nm``…);
    ``pixel_size_nm`` is the same converted to nm when the unit is a length, else None.
    """

    pixels: np.ndarray
    pixel_size: float | None
    pixel_unit: str | None
    pixel_size_nm: float | None


@dataclass
class ParsedFile:
    """What a parser returns.

    ``format``: registry key (``xrdml``, ``brml``, ``bruker_raw``, ``opus``, ``jcamp``,
    ``cary_csv``, ``nanolog``, ``gatan_dm``, ``tiff``, ``emd``, ``emsa``, ``size_table``,
    ``composition_table``, ``xdi``, ``athena_prj``, ``xas_ascii``).
    ``technique``: what the data is (``xrd``, ``ftir``, ``uvvis``, ``pl``, ``tem_image``,
    ``eds``, ``eels``, ``xas``, ``tem_sizes``, ``composition``, ``other``).
    ``key_numbers``: the headline numbers for this technique, units in the key names.
    ``tables``: row dicts for tabular formats (TEM sizes, composition).

    ``metadata`` conventions shared by every parser (all optional, JSON-able):
    ``measured_at`` — ISO 8601 date-time the file states; with its UTC offset when the file
    gives one, else naive, and then ``measured_at_timezone`` is ``"lab-local"`` (the
    instrument PC's clock); ``measured_at_source`` — the header field it came from;
    ``scans`` — one entry per series (see ``scan_list``) for files holding several scans;
    ``header`` — the file's whole header as a JSON-able dict/list, nothing dropped.
    """

    format: str
    parser_name: str
    parser_version: str
    technique: str
    series: list[Series] = field(default_factory=list)
    image: ImageData | None = None
    metadata: dict = field(default_factory=dict)
    key_numbers: dict = field(default_factory=dict)
    tables: list[dict] = field(default_factory=list)


def scan_list(series: list[Series]) -> list[dict]:
    """``metadata["scans"]``: one entry per series, addressable by ``index`` and ``label``.

    ``index`` is the position in ``ParsedFile.series``; x ranges are in the series' x unit.
    """
    return [
        {
            "index": i,
            "label": s.name,
            "n_points": int(s.x.size),
            "x_first": float(s.x[0]) if s.x.size else None,
            "x_last": float(s.x[-1]) if s.x.size else None,
            "x_unit": s.x_unit,
            "y_label": s.y_label,
        }
        for i, s in enumerate(series)
    ]
