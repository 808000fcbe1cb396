"""Matplotlib is not thread-safe (its mathtext parser keeps global state): one figure at a time.

Web servers render plots from several threads; every function that builds a figure is wrapped
with ``one_figure_at_a_time``. Pure module: no Django.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

_LOCK = threading.RLock()
F = TypeVar("F", bound=Callable)


def one_figure_at_a_time(func: F) -> F:
    """Run ``func`` holding the process-wide matplotlib lock."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _LOCK:
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
