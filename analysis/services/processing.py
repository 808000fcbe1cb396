"""Live processing preview for the fit builder: μ(E) → background → χ(k) → |χ(R)| of a stored
spectrum with the processing and k/R windows a user is choosing, before any fit is queued.

Reads only (nothing is stored). The numbers come from the same engine the fits use
(``analysis.engines.xas_processing.process_mu``: larch ``pre_edge → autobk → xftf``), so the
e0 and edge step shown are the ones a fit with these settings will start from.

Bounded work per request, because the builder sends one request per edit:

* at most ``MAX_POINTS`` energy points per spectrum, ``rbkg`` at most ``MAX_RBKG_A`` Å (the
  autobk spline knot count grows with it), k-weight 0–4, FFT size fixed by larch's default;
* at most ``MAX_CONCURRENT`` previews compute at once in one server process; a request that
  waits longer than ``WAIT_S`` seconds gets :class:`PreviewBusy` (HTTP 503, "try again");
* the parsed μ(E) of the last ``CACHE_SIZE`` raw files is kept in memory
  (:func:`load_stored_mu`, shared with the fit runs), so an edit does not re-parse the file;
* each returned curve is thinned to at most ``MAX_PLOT_POINTS`` points (plots only).

Units: energy in eV, k in Å⁻¹, R in Å.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from django.core.files.storage import default_storage

from analysis.engines import xas_processing
from analysis.engines.xas_processing import process_mu
from characterization.models import DataFile, XASSpectrum
from characterization.parsers.registry import parse_file
from characterization.services import xas_spectrum_series
from labdb.lib.errors import DomainError, EngineError

__all__ = ["MAX_POINTS", "MAX_RBKG_A", "PreviewBusy", "load_stored_mu", "preview_processing"]

MAX_POINTS = 20_000
MAX_RBKG_A = 3.0
MAX_CONCURRENT = 2
WAIT_S = 20.0
CACHE_SIZE = 16
MAX_PLOT_POINTS = 1500

MAX_NFFT = 4096
#: The processing keys a preview takes: larch's (and the engine's aliases), except the autobk
#: uncertainty estimate, which costs as much as many previews and is not plotted.
PRE_EDGE_KEYS = xas_processing.PRE_EDGE_KEYS
AUTOBK_KEYS = tuple(k for k in xas_processing.AUTOBK_KEYS
                    if k not in ("calc_uncertainties", "err_sigma")) + ("kw", "e0")
#: The transform keys that shape the plotted χ(k) window and |χ(R)|; a dataset's other
#: transform keys (rmin, rmax, fitspace, dr, …) concern the fit and are left to its checks.
TRANSFORM_KEYS = ("kmin", "kmax", "dk", "dk2", "window", "kweight")

_slots = threading.BoundedSemaphore(MAX_CONCURRENT)
_mu_cache: OrderedDict[str, tuple[np.ndarray, np.ndarray, dict]] = OrderedDict()
_cache_lock = threading.Lock()


class PreviewBusy(DomainError):
    """Too many previews are computing in this server process; the client should retry."""


def _cache_key(spectrum: XASSpectrum, data_file: DataFile) -> str:
    """One file can hold several spectra (Athena groups, SPEC scans, declared columns): the key
    is the bytes, the name the parser detects the format by, and what this spectrum takes."""
    return json.dumps([data_file.sha256, data_file.original_name, spectrum.group_index,
                       data_file.declared_xas], sort_keys=True, default=str)


def _stored_bytes(data_file: DataFile) -> bytes:
    """The raw file's bytes from storage, checked against its sha256; DomainError naming
    ``spectrum`` when the file is gone or changed."""
    try:
        with default_storage.open(data_file.file.name, "rb") as handle:
            content = handle.read()
    except FileNotFoundError:
        raise DomainError(
            f"spectrum: raw file {data_file.original_name} ({data_file.file.name}) is missing "
            "from storage; restore it from a backup or re-upload it.",
            field="spectrum",
        ) from None
    if hashlib.sha256(content).hexdigest() != data_file.sha256:
        raise DomainError(
            f"spectrum: the stored file {data_file.original_name} no longer matches its sha256.",
            field="spectrum",
        )
    return content


def _parsed_mu(
    spectrum: XASSpectrum, data_file: DataFile, content: bytes
) -> tuple[np.ndarray, np.ndarray, dict]:
    parsed = parse_file(content, filename=data_file.original_name)
    series = xas_spectrum_series(spectrum, parsed)  # its group/scan, declared μ columns applied
    raw = {"sha256": data_file.sha256, "file": data_file.original_name,
           "parser": parsed.parser_name, "parser_version": parsed.parser_version}
    return np.asarray(series.x), np.asarray(series.y), raw


def load_stored_mu(spectrum: XASSpectrum) -> tuple[np.ndarray, np.ndarray, dict]:
    """Energy (eV), μ(E) and the raw-file facts (sha256, file, parser, parser_version) of a
    spectrum's stored raw file.

    The bytes are read back and checked against the sha256 at every call; the parse is kept
    for the last ``CACHE_SIZE`` (sha256, name, group/scan, declared columns), so a fit request
    and its job, or a preview and the next edit, parse the file once. Callers get their own
    copies of the arrays (bit-identical to a fresh parse). Raises DomainError naming
    ``spectrum`` for a spectrum without a raw file, a file missing from storage, changed, or
    without μ.
    """
    data_file = spectrum.data_file
    if data_file is None:
        raise DomainError(
            f"spectrum: {spectrum} has no raw data file (published spectra carry no data).",
            field="spectrum",
        )
    content = _stored_bytes(data_file)
    key = _cache_key(spectrum, data_file)
    with _cache_lock:
        hit = _mu_cache.get(key)
        if hit is not None:
            _mu_cache.move_to_end(key)
    if hit is None:
        hit = _parsed_mu(spectrum, data_file, content)
        with _cache_lock:
            _mu_cache[key] = hit
            while len(_mu_cache) > CACHE_SIZE:
                _mu_cache.popitem(last=False)
    energy, mu, raw = hit
    return energy.copy(), mu.copy(), dict(raw)


def _spectrum_mu(spectrum_id: int) -> tuple[XASSpectrum, np.ndarray, np.ndarray, str]:
    """The spectrum, its energy (eV) and μ(E) from the stored raw file (parse cached)."""
    spectrum = XASSpectrum.objects.select_related("data_file").filter(pk=spectrum_id).first()
    if spectrum is None:
        raise DomainError(f"spectrum: there is no XAS spectrum {spectrum_id}.", field="spectrum")
    data_file = spectrum.data_file
    if data_file is None or data_file.parse_status != "ok":
        raise DomainError(
            f"spectrum: {spectrum} has no parsed raw data file to process "
            "(published spectra carry no data).",
            field="spectrum",
        )
    energy, mu, raw = load_stored_mu(spectrum)
    energy, mu = np.asarray(energy, dtype=float), np.asarray(mu, dtype=float)
    if energy.size > MAX_POINTS:
        raise DomainError(
            f"spectrum: {raw['file']} has {energy.size} energy points; the live preview handles "
            f"at most {MAX_POINTS} (the fit itself is not limited).",
            field="spectrum",
        )
    return spectrum, energy, mu, raw["file"]


def _section(given: Any, allowed: tuple[str, ...], where: str) -> dict:
    """A processing section as a dict of numbers/strings; DomainError naming the key."""
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise DomainError(f"{where}: expected an object of settings.", field=where)
    out = {}
    for key, value in given.items():
        if key not in allowed:
            raise DomainError(
                f"{where}.{key}: not a setting of the live preview; use one of "
                f"{', '.join(allowed)}.",
                field=f"{where}.{key}",
            )
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise DomainError(f"{where}.{key}: expected a number, got {value!r}.",
                              field=f"{where}.{key}")
        out[key] = value
    return out


def _xftf_settings(processing: dict, transform: dict) -> dict:
    """xftf keywords: the fit's transform window (k range, dk, window, first k-weight) over the
    processing's own xftf, so the |χ(R)| shown is the one the fit compares with."""
    xftf = _section(processing.get("xftf"), xas_processing.XFTF_KEYS + ("kw",),
                    "processing.xftf")
    if not isinstance(transform, dict):
        raise DomainError("transform: expected an object of settings.", field="transform")
    window = {k: v for k, v in transform.items() if k in TRANSFORM_KEYS}
    if isinstance(window.get("kweight"), list):  # a multi-k-weight fit: plot the first
        window["kweight"] = window["kweight"][0] if window["kweight"] else 2
    xftf.update(_section(window, TRANSFORM_KEYS, "transform"))
    return xftf


def _check_bounds(autobk: dict, xftf: dict) -> None:
    for where, section in (("processing.autobk", autobk), ("transform", xftf)):
        nfft = section.get("nfft")
        if nfft is not None and (not isinstance(nfft, int) or not 0 < nfft <= MAX_NFFT):
            raise DomainError(f"{where}.nfft: the live preview takes at most {MAX_NFFT} "
                              "FFT points.", field=f"{where}.nfft")
    rbkg = autobk.get("rbkg")
    if isinstance(rbkg, (int, float)) and not 0 < rbkg <= MAX_RBKG_A:
        raise DomainError(
            f"processing.autobk.rbkg: {rbkg:g} Å is outside 0–{MAX_RBKG_A:g} Å (rbkg is the "
            "R below which χ(R) is background; about half the first-shell distance).",
            field="processing.autobk.rbkg",
        )
    for where, section in (("processing.autobk", autobk), ("transform", xftf)):
        kweight = section.get("kweight", section.get("kw"))
        if kweight is not None and (not isinstance(kweight, int) or not 0 <= kweight <= 4):
            raise DomainError(
                f"{where}.kweight: expected a whole number from 0 to 4, got {kweight!r}.",
                field=f"{where}.kweight",
            )


def _engine_field(exc: EngineError) -> str:
    """Engine field (``pre_edge.e0``, ``xftf.kmax``) → the fit model's JSON path."""
    name = exc.field or "processing"
    step, _, key = name.partition(".")
    if step == "xftf":
        return f"transform.{key}" if key else "transform"
    if step in ("pre_edge", "autobk"):
        return f"processing.{name}"
    return "processing"


def _thin(*arrays: np.ndarray) -> list[list[float]]:
    """Every array sampled at the same ≤ MAX_PLOT_POINTS indices, as lists (6 significant
    digits: plot data)."""
    size = arrays[0].size
    step = max(1, int(np.ceil(size / MAX_PLOT_POINTS)))
    return [[float(f"{v:.6g}") for v in a[::step]] for a in arrays]


def preview_processing(*, spectrum_id: int, processing: dict | None = None,
                       transform: dict | None = None) -> dict:
    """Process a stored spectrum with the builder's settings and return plot data.

    Args:
        spectrum_id: the XAS spectrum (must have a parsed raw file).
        processing: ``{"pre_edge": {...}, "autobk": {...}}`` as in a fit model dataset
            (``xftf`` too; the transform's window takes precedence).
        transform: the dataset's ``transform`` (kmin, kmax, dk, window, kweight; rmin/rmax
            are the client's to draw).

    Returns ``{"spectrum", "e0_ev", "edge_step", "k_max_inv_a", "parameters", "mu": {energy_ev,
    mu, bkg, pre_edge, post_edge}, "chik": {k_inv_a, chi_kw, kwin, kweight}, "chir": {r_a,
    chir_mag}}`` (``parameters`` as resolved by larch).

    Raises DomainError naming the field (``processing.pre_edge.e0``, ``transform.kmax``, …) for
    a setting larch refuses or one beyond the bounds above; PreviewBusy when saturated.
    """
    processing = processing or {}
    if not isinstance(processing, dict):
        raise DomainError("processing: expected an object.", field="processing")
    pre_edge = _section(processing.get("pre_edge"), PRE_EDGE_KEYS, "processing.pre_edge")
    autobk = _section(processing.get("autobk"), AUTOBK_KEYS, "processing.autobk")
    xftf = _xftf_settings(processing, transform or {})
    _check_bounds(autobk, xftf)
    spectrum, energy, mu, _name = _spectrum_mu(spectrum_id)
    if not _slots.acquire(timeout=WAIT_S):
        raise PreviewBusy("The server is busy computing other previews; try again.",
                          field="processing")
    try:
        done = process_mu(energy, mu, pre_edge=pre_edge, autobk=autobk, xftf=xftf)
    except EngineError as exc:
        raise DomainError(f"{_engine_field(exc)}: {exc.message}.",
                          field=_engine_field(exc)) from None
    finally:
        _slots.release()
    return _plot_data(spectrum, done)


def _plot_data(spectrum: XASSpectrum, done) -> dict:
    group = done._group  # the larch group keeps the pre/post-edge lines and the window
    kweight = done.parameters["xftf"]["kweight"]
    energy, mu_, bkg, pre, post = _thin(done.energy_ev, done.mu, np.asarray(group.bkg),
                                        np.asarray(group.pre_edge), np.asarray(group.post_edge))
    k, chi_kw, kwin = _thin(done.k_inv_a, done.chi * done.k_inv_a**kweight,
                            np.asarray(group.kwin))
    r, chir = _thin(done.r_a, done.chir_mag)
    return {
        "spectrum": spectrum.pk,
        "e0_ev": done.e0_ev,
        "edge_step": done.edge_step,
        "k_max_inv_a": float(done.k_inv_a[-1]),
        "parameters": done.parameters,
        "mu": {"energy_ev": energy, "mu": mu_, "bkg": bkg, "pre_edge": pre, "post_edge": post},
        "chik": {"k_inv_a": k, "chi_kw": chi_kw, "kwin": kwin, "kweight": kweight},
        "chir": {"r_a": r, "chir_mag": chir},
    }
