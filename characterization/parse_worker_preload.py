"""Imported once by the parse fork server (never by the web process): everything the parsers
import lazily, and one small figure drawn, so each parse child starts warm.

Without it every child would import the XRDML reader (and its unit registry), openpyxl, PIL…
build pint's unit registry and matplotlib's fonts again: ~1–2 s on each XRDML parse instead
of once per fork server.
"""

from __future__ import annotations

import importlib
import io

LAZY_IMPORTS = (
    "fairmat_readers_xrd",
    "openpyxl",
    "jcamp",
    "brukeropus",
    "PIL.Image",
    "PIL.ImageOps",
    "xraydb",
    "pypdfium2",
    "filetype",
)

for _name in LAZY_IMPORTS:
    try:
        importlib.import_module(_name)
    except ImportError:  # an optional reader not installed: its parser will say so
        pass


def _build_unit_registry() -> None:
    """pint's application registry (the XRDML reader's units) is parsed on first use: ~1 s."""
    try:
        import pint
    except ImportError:
        return
    pint.get_application_registry()("s")


def _draw_once() -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1.5), dpi=50)
    axes = fig.add_subplot()
    axes.plot([0, 1], [0, 1], label="warm-up")
    axes.set_xlabel("2θ (°)")
    axes.set_ylabel("intensity (counts)")
    axes.legend()
    fig.savefig(io.BytesIO(), format="png")


_build_unit_registry()
_draw_once()
