"""Figures for XAS processing and fits, rendered with matplotlib's Agg canvas to PNG or SVG bytes.

No pyplot state is touched (each call builds its own ``Figure``), so rendering is safe in
worker processes and threads. Simulated data are always labelled "simulated" in the legend
and the title.

Axes: energy in eV, k in Å⁻¹, R in Å.
"""

from __future__ import annotations

import io
from typing import Any, Literal

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from labdb.lib.errors import EngineError
from labdb.lib.plotting import one_figure_at_a_time

from .fitting import FitResult
from .xas_processing import ProcessedSpectrum

ImageFormat = Literal["png", "svg"]


def _render(fig: Figure, fmt: ImageFormat) -> bytes:
    if fmt not in ("png", "svg"):
        raise EngineError(f"image format must be 'png' or 'svg', got {fmt!r}", field="fmt")
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # No timestamps in the files: the same figure gives the same bytes.
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buf, format=fmt, dpi=110, metadata=metadata)
    return buf.getvalue()


def _data_name(simulated: bool) -> str:
    return "simulated data" if simulated else "data"


def _dataset(result: FitResult, dataset: int | str) -> dict[str, Any]:
    if isinstance(dataset, str):
        for ds in result.datasets:
            if ds["id"] == dataset:
                return ds
        raise EngineError(f"the fit has no dataset {dataset!r}", field="dataset")
    try:
        return result.datasets[dataset]
    except IndexError as exc:
        raise EngineError(f"the fit has no dataset number {dataset}", field="dataset") from exc


def _title(base: str, simulated: bool) -> str:
    return f"{base} — SIMULATED (not measured)" if simulated else base


@one_figure_at_a_time
def plot_normalized_mu(
    spectrum: ProcessedSpectrum, *, fmt: ImageFormat = "png", title: str = "normalized μ(E)"
) -> bytes:
    """Normalized μ(E) with E0 marked."""
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    ax.plot(spectrum.energy_ev, spectrum.norm, lw=1.2, label=_data_name(spectrum.simulated))
    ax.axvline(spectrum.e0_ev, color="0.5", lw=0.8, ls="--", label=f"E0 = {spectrum.e0_ev:.1f} eV")
    ax.set_xlabel("energy (eV)")
    ax.set_ylabel("normalized μ(E)")
    ax.set_title(_title(title, spectrum.simulated))
    ax.legend(loc="lower right")
    fig.tight_layout()
    return _render(fig, fmt)


def _chik_axes(ax: Any, ds: dict[str, Any]) -> None:
    arr = ds["arrays"]
    k, kw = np.asarray(arr["k_inv_a"]), arr["kweight"]
    ax.plot(k, k**kw * np.asarray(arr["chi_data"]), lw=1.2, label=_data_name(ds["simulated"]))
    ax.plot(k, k**kw * np.asarray(arr["chi_model"]), lw=1.2, ls="--", label="fit")
    window = np.asarray(arr["kwin"])
    scale = np.max(np.abs(k**kw * np.asarray(arr["chi_data"]))) or 1.0
    ax.plot(k[: window.size], window[: k.size] * scale, color="0.6", lw=0.8, label="k window")
    ax.set_xlim(0, max(ds["transform"]["kmax"] + 2, 1))
    ax.set_xlabel("k (Å⁻¹)")
    ax.set_ylabel(f"k$^{kw}$χ(k) (Å$^{{-{kw}}}$)")
    ax.legend(loc="upper right", fontsize="small")


def _chir_axes(ax: Any, ds: dict[str, Any], rmax_a: float) -> None:
    arr = ds["arrays"]
    r = np.asarray(arr["r_a"])
    ax.plot(r, arr["chir_mag_data"], lw=1.2, label=f"|χ(R)| {_data_name(ds['simulated'])}")
    ax.plot(r, arr["chir_mag_model"], lw=1.2, ls="--", label="|χ(R)| fit")
    ax.axvspan(
        ds["transform"]["rmin"], ds["transform"]["rmax"], color="0.9", zorder=0, label="fit range"
    )
    ax.set_xlim(0, rmax_a)
    kw = arr["kweight"]
    ax.set_xlabel("R (Å)")
    ax.set_ylabel(f"|χ(R)| (Å$^{{-{kw + 1}}}$)")
    ax.legend(loc="upper right", fontsize="small")


@one_figure_at_a_time
def plot_chik_fit(result: FitResult, *, dataset: int | str = 0, fmt: ImageFormat = "png") -> bytes:
    """k-weighted χ(k): data (or simulated data) vs fit, with the k window."""
    ds = _dataset(result, dataset)
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    _chik_axes(ax, ds)
    ax.set_title(_title(f"χ(k) fit — {ds['id']}", ds["simulated"]))
    fig.tight_layout()
    return _render(fig, fmt)


@one_figure_at_a_time
def plot_chir_fit(
    result: FitResult, *, dataset: int | str = 0, fmt: ImageFormat = "png", rmax_a: float = 6.0
) -> bytes:
    """|χ(R)|: data (or simulated data) vs fit, fit range shaded."""
    ds = _dataset(result, dataset)
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    _chir_axes(ax, ds, rmax_a)
    ax.set_title(_title(f"|χ(R)| fit — {ds['id']}", ds["simulated"]))
    fig.tight_layout()
    return _render(fig, fmt)


@one_figure_at_a_time
def plot_fit_summary(
    result: FitResult, *, dataset: int | str = 0, fmt: ImageFormat = "png", rmax_a: float = 6.0
) -> bytes:
    """χ(k) and |χ(R)| panels side by side, with R-factor and reduced χ² in the title."""
    ds = _dataset(result, dataset)
    fig = Figure(figsize=(11.0, 4.0))
    ax1, ax2 = fig.subplots(1, 2)
    _chik_axes(ax1, ds)
    _chir_axes(ax2, ds, rmax_a)
    st = result.statistics
    fig.suptitle(
        _title(
            f"{ds['id']}: R-factor {st['rfactor']:.4f}, reduced χ² {st['chi2_reduced']:.2f}",
            ds["simulated"],
        )
    )
    fig.tight_layout()
    return _render(fig, fmt)


# --- plot data for client-side drawing ------------------------------------------------------

PLOT_DATA_VERSION = "1"
"""Bump when :func:`fit_plot_data` (or an image renderer) changes: cached plot data and images
are keyed by it, so every cached entry is recomputed once."""

_DIGITS = 6


def _rounded(values: Any, limit: int | None = None) -> list[float | None]:
    """Floats at 6 significant digits (far below the line width of any plot), NaN as None."""
    array = np.asarray(values, dtype=float)[:limit]
    return [float(f"{v:.{_DIGITS}g}") if np.isfinite(v) else None for v in array]


def fit_plot_data(
    result_json: dict[str, Any], spectrum_json: dict[str, Any], *, dataset: int = 0,
    rmax_a: float = 8.0,
) -> dict[str, Any]:
    """The three fit figures as plain arrays, for drawing client-side (JSON-ready).

    ``result_json`` is ``FitResult.to_json()``, ``spectrum_json`` is
    ``ProcessedSpectrum.to_json(with_arrays=True)`` (both as stored with the fit run).
    Returns ``{"mu": {energy_ev, norm, e0_ev}, "chik": {k_inv_a, chi_data, chi_model, kwin,
    kweight, kmin, kmax}, "chir": {r_a, mag_data, mag_model, rmin_a, rmax_a, kweight},
    "simulated": bool, "dataset": id}``. χ(k) is stored *unweighted* (Å⁰) with its fit k-weight,
    so a client can switch k-weights; |χ(R)| is cut at ``rmax_a`` (Å) and is the transform of the
    fit's k-weight (units Å^-(kweight+1)). Raises EngineError when arrays are missing.
    """
    datasets = result_json.get("datasets") or []
    if not 0 <= dataset < len(datasets):
        raise EngineError(f"the fit has no dataset number {dataset}", field="dataset")
    ds = datasets[dataset]
    arr = ds.get("arrays") or {}
    needed = ("k_inv_a", "chi_data", "chi_model", "kwin", "r_a", "chir_mag_data", "chir_mag_model")
    missing = [name for name in needed if name not in arr]
    if missing or "energy_ev" not in spectrum_json:
        raise EngineError(
            f"the stored fit has no plot arrays ({', '.join(missing) or 'energy_ev'} missing)",
            field="fit",
        )
    k = np.asarray(arr["k_inv_a"], dtype=float)
    r = np.asarray(arr["r_a"], dtype=float)
    n_r = int(np.searchsorted(r, rmax_a, side="right"))
    kweight = arr["kweight"]
    return {
        "version": PLOT_DATA_VERSION,
        "dataset": ds["id"],
        "simulated": bool(ds.get("simulated") or spectrum_json.get("simulated")),
        "mu": {
            "energy_ev": _rounded(spectrum_json["energy_ev"]),
            "norm": _rounded(spectrum_json["norm"]),
            "e0_ev": float(spectrum_json["e0_ev"]),
        },
        "chik": {
            "k_inv_a": _rounded(k),
            "chi_data": _rounded(arr["chi_data"]),
            "chi_model": _rounded(arr["chi_model"]),
            "kwin": _rounded(arr["kwin"], k.size),
            "kweight": kweight,
            "kmin": ds["transform"].get("kmin"),
            "kmax": ds["transform"].get("kmax"),
        },
        "chir": {
            "r_a": _rounded(r[:n_r]),
            "mag_data": _rounded(arr["chir_mag_data"], n_r),
            "mag_model": _rounded(arr["chir_mag_model"], n_r),
            "rmin_a": ds["transform"].get("rmin"),
            "rmax_a": ds["transform"].get("rmax"),
            "kweight": kweight,
        },
    }
