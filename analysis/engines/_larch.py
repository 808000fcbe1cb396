"""Lazy, once-per-process access to xraylarch, and the versions stored with every result.

Importing ``larch.xafs`` costs about 3.5 s and 275 MB, so engines import it on first use instead of
at module import time (Django can import the engine modules for free). Import errors become
:class:`EngineError` so a worker without larch fails with a readable message.
"""

from __future__ import annotations

import functools
import os
import platform
import sys
from importlib import metadata
from types import SimpleNamespace

from labdb.lib.errors import EngineError


@functools.cache
def larch() -> SimpleNamespace:
    """Return a namespace with the larch functions the engines use (imported once per process).

    Raises:
        EngineError: xraylarch is not installed or cannot be imported (e.g. HOME not writable).
    """
    # Matplotlib must never try a GUI backend in a worker.
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        import larch as _larch_pkg
        from larch import Group
        from larch.fitting import param, param_group
        from larch.xafs import (
            autobk,
            feffit,
            feffit_dataset,
            feffit_transform,
            feffpath,
            ff2chi,
            pre_edge,
            xftf,
        )
        from larch.xafs.feffdat import FeffDatFile
    except Exception as exc:  # ImportError, or FileNotFoundError/PermissionError from HOME setup
        raise EngineError(
            "xraylarch could not be imported; XAS analysis is unavailable on this worker",
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc
    return SimpleNamespace(
        version=_larch_pkg.__version__,
        Group=Group,
        param=param,
        param_group=param_group,
        pre_edge=pre_edge,
        autobk=autobk,
        xftf=xftf,
        feffpath=feffpath,
        feffit=feffit,
        feffit_dataset=feffit_dataset,
        feffit_transform=feffit_transform,
        ff2chi=ff2chi,
        FeffDatFile=FeffDatFile,
    )


def preload() -> None:
    """Import larch now (call once in a worker's start-up hook, never per request)."""
    larch()


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def software_versions() -> dict[str, str | None]:
    """Versions that determine numerical results; stored beside every derived number."""
    return {
        "xraylarch": _dist_version("xraylarch"),
        "lmfit": _dist_version("lmfit"),
        "asteval": _dist_version("asteval"),
        "numpy": _dist_version("numpy"),
        "scipy": _dist_version("scipy"),
        "larixite": _dist_version("larixite"),
        "python": platform.python_version(),
        "platform": f"{sys.platform}-{platform.machine()}",
    }
