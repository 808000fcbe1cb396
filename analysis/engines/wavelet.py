"""Cauchy wavelet transform of EXAFS χ(k) (pure: numpy + xraylarch, no Django).

``wavelet_transform`` takes χ(k) on a uniform k grid starting at k = 0 (as larch's ``autobk``
gives it), keeps the chosen k range (χ is set to 0 outside it: a box window, as the transform
of a cut χ(k)), weights it by k^w and calls larch's ``cauchy_wavelet`` (Munoz, Argoul & Farges,
Am. Mineral. 88, 694 (2003); the transform seed 002 used). It returns

* ``|W(k, R)|`` on a grid bounded to ``max_points`` × ``max_points`` (default 200 × 200) over
  the chosen k and R ranges — every ``stride``-th point of larch's own grid, so each stored
  value is exactly larch's value at that (k, R);
* ``|χ(R)|`` of the same k^w·χ(k) (larch ``xftf``, Hanning window with ``dk``) for the side
  panel;
* one *ridge maximum* per R band [R1, R2]: the (k, R) of the largest |W| inside the band and the
  k range, searched on larch's full grid (not the stored, thinned one), and its value.

The Cauchy order η. larch's ``cauchy_wavelet`` has no order argument: it uses η = the number of
R points of its grid, ``nrpts = round(rmax_out / rstep)`` with ``rstep = π / (nfft·kstep)``
(326 for kstep = 0.05 Å⁻¹, rmax_out = 10 Å, nfft = 2048). ``eta=None`` (the default) is exactly
that call. Another η runs the same algorithm, transcribed below with η in place of ``nrpts``
(scale ``a = η / 2R``, so the ridge of sin(2kR₀) stays at R₀ for every η); a larger η gives a
sharper R resolution and a coarser k resolution. With η = nrpts it equals larch bit for bit
(tested).

Units: k in Å⁻¹, R in Å, |W| and |χ(R)| in Å^-(k_weight) and Å^-(k_weight+1).
Errors: :class:`labdb.lib.errors.EngineError` naming the parameter (``k_range``, ``r_range``,
``bands``, ``eta``, ``k_weight``) for input the transform cannot use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from analysis.engines._larch import larch, software_versions
from labdb.lib.errors import EngineError

__all__ = ["ENGINE_NAME", "ENGINE_VERSION", "MAX_POINTS", "larch_order", "wavelet_transform"]

ENGINE_NAME = "labdb.wavelet (larch cauchy_wavelet)"
ENGINE_VERSION = "1"
#: Bound of the stored |W(k, R)| grid per axis.
MAX_POINTS = 200
#: larch's defaults of ``cauchy_wavelet``.
RMAX_OUT_A = 10.0
NFFT = 2048


def _cauchy_wavelet(k: np.ndarray, chi: np.ndarray, rmax_out: float, nfft: int) -> Any:
    """larch's own call; returns its output group (wcauchy_r, wcauchy_mag …)."""
    lx = larch()  # the environment larch needs (MPL backend, HOME), once per process
    from larch.xafs import cauchy_wavelet

    group = lx.Group()
    cauchy_wavelet(k, chi, group=group, kweight=0, rmax_out=rmax_out, nfft=nfft)
    return group


def larch_order(kstep_inv_a: float, rmax_out_a: float = RMAX_OUT_A, nfft: int = NFFT) -> int:
    """The Cauchy order η larch uses: its number of R points (see the module docstring)."""
    kstep = np.round(1000.0 * kstep_inv_a) / 1000.0
    rstep = (np.pi / nfft) / kstep
    return int(np.round((rmax_out_a - 1.0e-7) / rstep))


def _cauchy_with_order(k: np.ndarray, chi: np.ndarray, eta: int, rmax_out: float,
                       nfft: int) -> tuple[np.ndarray, np.ndarray]:
    """larch's algorithm with the order η free: returns (r, |W|) with |W| shaped (nR, nk).

    Same statements as ``larch.xafs.cauchy_wavelet`` (so η = nrpts is bit-identical), except
    that the wavelet order and the scale use ``eta``.
    """
    kstep = np.round(1000.0 * (k[1] - k[0])) / 1000.0
    nrpts = larch_order(float(k[1] - k[0]), rmax_out, nfft)
    half = nfft // 2
    xnew = np.zeros(half)
    n_copy = min(len(k), half)
    xnew[:n_copy] = chi[:n_copy]
    omega = 2 * np.pi * ((1.0 / kstep) * np.arange(nfft) / (2 * nfft))
    tff = np.fft.fft(xnew, n=2 * nfft)
    r = np.linspace(0, rmax_out, nrpts)
    r[0] = 1.0e-19
    a = eta / (2 * r)
    cauchy_sum = np.log(2 * np.pi) - np.log(1.0 + np.arange(eta)).sum()
    out = np.zeros((nrpts, len(k)), dtype="complex128")
    for i in range(nrpts):
        aom = a[i] * omega
        aom[np.where(aom == 0)] = 1.0e-19
        filt = cauchy_sum + eta * np.log(aom) - aom
        out[i, :] = np.fft.ifft(np.conj(np.exp(filt)) * tff[:nfft], 2 * nfft)[: len(k)]
    return r, np.sqrt(out.real**2 + out.imag**2)


def _check_grid(k: np.ndarray, chi: np.ndarray) -> None:
    if k.ndim != 1 or k.shape != chi.shape or len(k) < 10:
        raise EngineError("χ(k) must be two 1-d arrays of the same length (≥ 10 points)",
                          field="chi")
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(chi))):
        raise EngineError("χ(k) contains NaN or infinite values", field="chi")
    steps = np.diff(k)
    if abs(k[0]) > 1e-9 or np.ptp(steps) > 1e-6 * max(abs(steps[0]), 1e-12) or steps[0] <= 0:
        raise EngineError("the wavelet transform needs χ(k) on a uniform k grid starting at "
                          "k = 0 (as autobk gives it)", field="chi")


def _check_ranges(k: np.ndarray, k_range: Sequence[float], r_range: Sequence[float],
                  rmax_out: float) -> tuple[float, float, float, float]:
    kmin, kmax = (float(v) for v in k_range)
    rmin, rmax = (float(v) for v in r_range)
    k_end = float(k[-1])
    if not 0 <= kmin < kmax or kmax > k_end + 0.05:
        raise EngineError(f"k range [{kmin:g}, {kmax:g}] Å⁻¹ must be increasing and inside "
                          f"the data (0–{k_end:.2f} Å⁻¹)", field="k_range")
    if not 0 <= rmin < rmax <= rmax_out:
        raise EngineError(f"R range [{rmin:g}, {rmax:g}] Å must be increasing and within "
                          f"0–{rmax_out:g} Å", field="r_range")
    return kmin, kmax, rmin, rmax


def _stride(n: int, max_points: int) -> int:
    return max(1, math.ceil(n / max_points))


def _ridges(r: np.ndarray, k: np.ndarray, mag: np.ndarray, k_mask: np.ndarray,
            bands: Sequence[Sequence[float]], r_range: tuple[float, float]) -> list[dict]:
    """(k, R, |W|) of the largest |W| per band, on the full grid inside the k range."""
    out = []
    for i, band in enumerate(bands):
        r1, r2 = (float(v) for v in band)
        if not r_range[0] <= r1 < r2 <= r_range[1]:
            raise EngineError(f"band {i + 1} [{r1:g}, {r2:g}] Å must be increasing and inside "
                              f"the R range [{r_range[0]:g}, {r_range[1]:g}] Å",
                              field=f"bands.{i}")
        rows = np.where((r >= r1) & (r <= r2))[0]
        cols = np.where(k_mask)[0]
        if rows.size == 0:
            raise EngineError(f"band {i + 1} [{r1:g}, {r2:g}] Å is narrower than the R step "
                              f"({r[1] - r[0]:.4f} Å)", field=f"bands.{i}")
        block = mag[np.ix_(rows, cols)]
        ir, ik = np.unravel_index(int(np.argmax(block)), block.shape)
        out.append({"band_a": [r1, r2], "r_a": float(r[rows[ir]]), "k_inv_a": float(k[cols[ik]]),
                    "magnitude": float(block[ir, ik])})
    return out


def _chir(k: np.ndarray, chi: np.ndarray, kmin: float, kmax: float, k_weight: int,
          dk: float, rmax: float) -> tuple[list[float], list[float]]:
    lx = larch()
    group = lx.Group(k=k, chi=chi)
    lx.xftf(group, kmin=kmin, kmax=kmax, kweight=k_weight, dk=dk, window="hanning")
    keep = np.asarray(group.r) <= rmax + 1e-9
    return (np.asarray(group.r)[keep].tolist(), np.asarray(group.chir_mag)[keep].tolist())


def wavelet_transform(k_inv_a: Any, chi: Any, *, k_weight: int = 2,
                      k_range_inv_a: Sequence[float], r_range_a: Sequence[float] = (0.0, 6.0),
                      bands_a: Sequence[Sequence[float]] = (), eta: int | None = None,
                      dk_inv_a: float = 1.0, rmax_out_a: float = RMAX_OUT_A, nfft: int = NFFT,
                      max_points: int = MAX_POINTS) -> dict:
    """Cauchy wavelet transform of k^w·χ(k): thinned |W(k, R)|, |χ(R)| and ridge maxima.

    Args:
        k_inv_a, chi: χ(k) on a uniform grid from k = 0 (Å⁻¹).
        k_weight: w of k^w·χ(k) (0–3).
        k_range_inv_a: [kmin, kmax] Å⁻¹ transformed (χ = 0 outside) and shown.
        r_range_a: [Rmin, Rmax] Å shown; Rmax ≤ ``rmax_out_a``.
        bands_a: R bands [R1, R2] (Å) inside the R range, one ridge maximum each.
        eta: Cauchy order; None = larch's (its number of R points, see module docstring).
        dk_inv_a: Hanning sill of the |χ(R)| transform (Å⁻¹).
        rmax_out_a, nfft: larch's ``cauchy_wavelet`` arguments (defaults 10 Å, 2048).
        max_points: bound of the stored grid per axis.

    Returns:
        JSON-ready dict: ``k_inv_a``, ``r_a`` (axes of the stored grid), ``magnitude`` (rows =
        R, columns = k), ``k_stride``/``r_stride``, ``eta``, ``eta_is_larch_default``,
        ``chir_r_a``/``chir_mag``, ``ridges``, ``parameters`` and ``versions``.

    Raises:
        EngineError: a non-uniform grid, ranges outside the data, a bad band, η < 1.
    """
    k = np.asarray(k_inv_a, dtype="float64")
    chi_arr = np.asarray(chi, dtype="float64")
    _check_grid(k, chi_arr)
    if k_weight not in (0, 1, 2, 3):
        raise EngineError(f"k-weight must be 0, 1, 2 or 3, got {k_weight!r}", field="k_weight")
    kmin, kmax, rmin, rmax = _check_ranges(k, k_range_inv_a, r_range_a, rmax_out_a)
    k_mask = (k >= kmin - 1e-9) & (k <= kmax + 1e-9)
    weighted = np.where(k_mask, chi_arr, 0.0) * k**k_weight
    default_eta = larch_order(float(k[1] - k[0]), rmax_out_a, nfft)
    if eta is not None and (isinstance(eta, bool) or int(eta) != eta or eta < 1):
        raise EngineError(f"η must be a positive integer, got {eta!r}", field="eta")
    if eta is None or int(eta) == default_eta:
        group = _cauchy_wavelet(k, weighted, rmax_out_a, nfft)
        r, mag = np.asarray(group.wcauchy_r), np.asarray(group.wcauchy_mag)
    else:
        r, mag = _cauchy_with_order(k, weighted, int(eta), rmax_out_a, nfft)
    used_eta = default_eta if eta is None else int(eta)
    ridges = _ridges(r, k, mag, k_mask, bands_a, (rmin, rmax))
    rows = np.where((r >= rmin - 1e-12) & (r <= rmax + 1e-12))[0]
    cols = np.where(k_mask)[0]
    r_stride, k_stride = _stride(rows.size, max_points), _stride(cols.size, max_points)
    rows, cols = rows[::r_stride], cols[::k_stride]
    chir_r, chir_mag = _chir(k, chi_arr, kmin, kmax, k_weight, dk_inv_a, rmax)
    return {
        "k_inv_a": k[cols].tolist(), "r_a": r[rows].tolist(),
        "magnitude": mag[np.ix_(rows, cols)].tolist(),
        "k_stride": k_stride, "r_stride": r_stride,
        "full_shape": [int(mag.shape[0]), int(mag.shape[1])],
        "eta": used_eta, "eta_is_larch_default": used_eta == default_eta,
        "chir_r_a": chir_r, "chir_mag": chir_mag, "ridges": ridges,
        "parameters": {"k_weight": k_weight, "k_range_inv_a": [kmin, kmax],
                       "r_range_a": [rmin, rmax], "bands_a": [list(map(float, b)) for b in
                                                              bands_a],
                       "eta": eta, "dk_inv_a": dk_inv_a, "rmax_out_a": rmax_out_a,
                       "nfft": nfft, "max_points": max_points, "k_window": "box (χ = 0 "
                       "outside the k range) for W; hanning with dk for |χ(R)|"},
        "versions": software_versions(),
    }
