"""JSON-safe numbers for engine results (pure: no Django). Engines return plain JSON, where a
NaN or an infinity is not a number: they become ``None``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_float(value: Any) -> float | None:
    """``value`` as a Python float; None for None, NaN and ±inf."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def json_floats(values: Any) -> list[float | None]:
    """Every element of an array-like (flattened) as :func:`json_float`."""
    return [json_float(v) for v in np.asarray(values, dtype=float).ravel()]
