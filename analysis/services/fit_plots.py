"""Fit plots computed once: plot data (JSON) and images (PNG/SVG) cached in file storage.

A sample page with several computed fits used to render three matplotlib figures per fit on
every view. Now each fit's plot data — normalized μ(E), χ(k) data and model with the k window,
|χ(R)| data and model — is computed once per (fit id, fit version, plot code version) from the
arrays stored with its fit run, written to the default storage under ``fit-plots/<fit id>/``,
and drawn in the browser; images for downloads are cached the same way per kind and format.

A curator's edit bumps the fit's ``version``, which changes every key: the next request computes
fresh entries and drops the older ones of that fit. Two requests racing on a cold entry both
compute it; the second write is skipped (the content is the same).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from analysis.engines import plots
from analysis.models import FitRun
from characterization.models import XASFit
from labdb.lib.errors import DomainError

__all__ = [
    "PLOT_KINDS",
    "CachedPlot",
    "FitNotFound",
    "cached_json",
    "cached_plot_entries",
    "fit_plot_data",
    "fit_plot_image",
]

PLOT_KINDS = ("mu", "chik", "chir")
IMAGE_FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
_ROOT = "fit-plots"


class FitNotFound(DomainError):
    """No XAS fit has this id (HTTP 404)."""


@dataclass(frozen=True)
class CachedPlot:
    """Bytes of a plot entry; ``computed`` is False when it came from the cache.

    ``not_modified`` is True (and ``content`` empty) when the caller already holds this entry
    (its ``etag`` was given back); ``etag`` names the entry for HTTP caching.
    """

    content: bytes
    content_type: str
    computed: bool
    key: str
    not_modified: bool = False

    @property
    def etag(self) -> str:
        return f'"{self.key}"'


def _folder(fit_id: int) -> str:
    return f"{_ROOT}/{fit_id}"


def _stem(version: int) -> str:
    return f"v{version}-p{plots.PLOT_DATA_VERSION}"


def _fit_version(fit_id: int) -> int:
    version = XASFit.objects.filter(pk=fit_id).values_list("version", flat=True).first()
    if version is None:
        raise FitNotFound(f"fit: there is no XAS fit {fit_id}.", field="fit")
    return version


def _no_arrays(fit_id: int) -> DomainError:
    return DomainError(
        f"fit {fit_id}: only fits computed by labdb have spectra to plot; "
        "published fits are stored as printed (see their table).",
        field="fit",
    )


def _read(key: str) -> bytes | None:
    try:
        with default_storage.open(key, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError):
        return None


def _write(fit_id: int, key: str, content: bytes, current_stem: str) -> None:
    """Store ``content`` under ``key`` (unless a racing request did) and drop stale entries."""
    if not default_storage.exists(key):
        default_storage.save(key, ContentFile(content))
    for name in cached_plot_entries(fit_id):
        if not name.startswith(current_stem + "-") and not name.startswith(current_stem + "."):
            default_storage.delete(f"{_folder(fit_id)}/{name}")


def cached_plot_entries(fit_id: int) -> list[str]:
    """File names cached for ``fit_id`` (sorted; empty when nothing is cached)."""
    try:
        _dirs, files = default_storage.listdir(_folder(fit_id))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(files)


def fit_plot_data(*, fit_id: int, etag: str | None = None) -> CachedPlot:
    """Plot data of a computed fit as JSON bytes (see ``plots.fit_plot_data`` for the keys).

    Adds ``fit: {id, version}``. Cached per (fit, version, plot code version): a cache hit costs
    one query and one file read; a matching ``etag`` (the client's copy is current) only the
    query. Raises DomainError for an unknown fit or a fit without stored arrays (published fits,
    fits stored without plot arrays).
    """
    version = _fit_version(fit_id)
    stem = _stem(version)
    key = f"{_folder(fit_id)}/{stem}.json"
    if etag is not None and etag == f'"{key}"' and default_storage.exists(key):
        return CachedPlot(b"", "application/json", computed=False, key=key, not_modified=True)
    cached = _read(key)
    if cached is not None:
        return CachedPlot(cached, "application/json", computed=False, key=key)
    stored = FitRun.objects.filter(result_id=fit_id).values_list("result_data", flat=True).first()
    if not stored or not stored.get("fit") or not stored.get("spectrum"):
        raise _no_arrays(fit_id)
    data = plots.fit_plot_data(stored["fit"], stored["spectrum"])
    data["fit"] = {"id": fit_id, "version": version}
    content = json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
    _write(fit_id, key, content, stem)
    return CachedPlot(content, "application/json", computed=True, key=key)


def cached_json(
    *, fit_id: int, name: str, compute: Callable[[int], dict], etag: str | None = None
) -> CachedPlot:
    """A JSON entry ``name`` of a fit, cached per (fit, version, plot code version) like the
    plot data: ``compute(version)`` builds it on a miss. One query (the fit's version) and one
    file read on a hit; only the query when ``etag`` matches. Raises FitNotFound, and whatever
    ``compute`` raises (nothing is cached then)."""
    version = _fit_version(fit_id)
    stem = _stem(version)
    key = f"{_folder(fit_id)}/{stem}-{name}"
    if etag is not None and etag == f'"{key}"' and default_storage.exists(key):
        return CachedPlot(b"", "application/json", computed=False, key=key, not_modified=True)
    cached = _read(key)
    if cached is not None:
        return CachedPlot(cached, "application/json", computed=False, key=key)
    content = json.dumps(compute(version), separators=(",", ":"), allow_nan=False).encode()
    _write(fit_id, key, content, stem)
    return CachedPlot(content, "application/json", computed=True, key=key)


def fit_plot_image(*, fit_id: int, kind: str, fmt: str) -> CachedPlot:
    """PNG or SVG of one figure (``kind`` mu, chik or chir) of a computed fit, for downloads.

    Rendered once per (fit, version, plot code and matplotlib version, kind, format) with the
    matplotlib renderers of ``analysis.engines.plots``. Raises DomainError for an unknown kind,
    format or fit, or a fit without stored arrays.
    """
    if kind not in PLOT_KINDS:
        raise DomainError(f"kind: expected one of {', '.join(PLOT_KINDS)}, got {kind!r}.",
                          field="kind")
    if fmt not in IMAGE_FORMATS:
        raise DomainError(f"format: expected png or svg, got {fmt!r}.", field="format")
    version = _fit_version(fit_id)
    stem = _stem(version)
    key = f"{_folder(fit_id)}/{stem}-mpl{matplotlib.__version__}-{kind}.{fmt}"
    cached = _read(key)
    if cached is not None:
        return CachedPlot(cached, IMAGE_FORMATS[fmt], computed=False, key=key)
    from analysis.selectors import fit_plot

    fit = XASFit.objects.select_related("fit_run", "sample").filter(pk=fit_id).first()
    if fit is None or getattr(fit, "fit_run", None) is None or not fit.fit_run.result_data:
        raise _no_arrays(fit_id)
    content = fit_plot(fit, kind=kind, fmt=fmt)
    _write(fit_id, key, content, stem)
    return CachedPlot(content, IMAGE_FORMATS[fmt], computed=True, key=key)
