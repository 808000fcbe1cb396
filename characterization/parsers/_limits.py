"""Decoded-size limits every parser enforces BEFORE allocating (pure, no Django).

A small hostile file can *declare* gigabytes: a gzip-compressed HDF5 dataset of zeros, a
compressed TIFF of 40000 × 40000 pixels, a DM header with an enormous shape, a ZIP whose
members inflate a thousandfold, a text table of millions of rows. Each reader reads the
declared shape and dtype (or the declared member sizes) first and refuses with a ParseError
naming what the file declares and the limit. The registry's caller passes the numbers in
from settings (``LABDB_MAX_EXPANDED_BYTES``); the defaults here are for pure use and tests.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from labdb.lib.errors import ParseError

MIB = 1024 * 1024
DEFAULT_MAX_DECODED_BYTES = 512 * MIB
DEFAULT_MAX_PIXELS = 2**28  # 268 megapixels: a 16k × 16k frame, far beyond any TEM camera
DEFAULT_MAX_CELLS = 10_000_000  # values in a text file (rows × columns): 80 MB as float64


@dataclass(frozen=True)
class Limits:
    """Caps on what one file may decode to.

    ``max_decoded_bytes``: uncompressed bytes of any array, HDF5 dataset or chunk, or sum of
    archive members; ``max_pixels``: pixels of one image (all frames); ``max_cells``: rows ×
    columns of a text table.
    """

    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_cells: int = DEFAULT_MAX_CELLS


DEFAULT_LIMITS = Limits()


def mb(n_bytes: float) -> str:
    """``n_bytes`` as a short MB figure for messages ("1074 MB", "0.5 MB")."""
    value = n_bytes / 1e6
    return f"{value:.0f} MB" if value >= 10 else f"{value:.1f} MB"


def _shape_text(shape: tuple[int, ...]) -> str:
    return " × ".join(str(int(n)) for n in shape)


def check_array(
    fmt: str,
    label: str,
    what: str,
    shape: tuple[int, ...],
    itemsize: int,
    limits: Limits,
    *,
    image: bool = False,
) -> None:
    """Refuse an array the file declares as ``shape`` of ``itemsize``-byte elements when it
    would decode to more than ``limits.max_decoded_bytes`` (or, for images, more pixels than
    ``limits.max_pixels``). ``what`` names it in words ("image 'HAADF'", "dataset /Data/…").

    Raises ParseError (the guard adds the file name); returns None when within the limits.
    """
    elements = math.prod(int(n) for n in shape) if shape else 1
    n_bytes = elements * max(int(itemsize), 1)
    if n_bytes > limits.max_decoded_bytes:
        raise ParseError(
            fmt,
            f"{label}: the {what} declares {_shape_text(shape)} values of {itemsize} bytes "
            f"= {mb(n_bytes)} once decoded, more than the {mb(limits.max_decoded_bytes)} "
            "allowed per file (LABDB_MAX_EXPANDED_BYTES); it was not read",
        )
    if image and elements > limits.max_pixels:
        raise ParseError(
            fmt,
            f"{label}: the {what} declares {_shape_text(shape)} = {elements / 1e6:.0f} "
            f"megapixels, more than the {limits.max_pixels / 1e6:.0f} megapixels allowed; "
            "it was not read",
        )


def check_total(fmt: str, label: str, what: str, n_bytes: int, limits: Limits) -> None:
    """Refuse when ``n_bytes`` declared decoded bytes (sum of datasets / archive members)
    exceed ``limits.max_decoded_bytes``. Raises ParseError."""
    if n_bytes > limits.max_decoded_bytes:
        raise ParseError(
            fmt,
            f"{label}: the {what} declare {mb(n_bytes)} once decoded, more than the "
            f"{mb(limits.max_decoded_bytes)} allowed per file (LABDB_MAX_EXPANDED_BYTES); "
            "it was not read",
        )


VALUE = re.compile(rb"[^\s,;]+")


def check_text_table(fmt: str, label: str, data: bytes, limits: Limits) -> None:
    """Refuse a text file holding more than ``limits.max_cells`` values (rows × columns, or
    the numbers of one long XML element) before a parser splits it into Python strings and
    floats. Files too short to hold that many values are not scanned; the count streams over
    the bytes (no copy). Raises ParseError; returns None when within the limit.
    """
    if len(data) // 2 + 1 <= limits.max_cells:
        return  # every value needs a character and a separator: cannot exceed the cap
    n_values = sum(1 for _ in VALUE.finditer(data))
    if n_values > limits.max_cells:
        n_rows = data.count(b"\n") + 1
        raise ParseError(
            fmt,
            f"{label}: the file holds {n_values} values in {n_rows} lines, more than the "
            f"{limits.max_cells} values allowed per file (LABDB_MAX_TABLE_CELLS); split the "
            "export or decimate it",
        )
