"""XAS processing engine: μ(E) → normalized μ(E) → χ(k) → |χ(R)| with xraylarch.

Runs larch ``pre_edge → autobk → xftf`` with every parameter passed explicitly and returns the
parameters *as resolved by larch* (data-dependent defaults such as ``pre1``/``norm2``/``nnorm``,
``e0``, ``nknots``, ``kmax``), so a stored run can be repeated bit-for-bit by calling
:func:`process_mu` again with ``ProcessedSpectrum.parameters``.

Units: energy in eV, k in Å⁻¹, R in Å, μ dimensionless (absorbance), χ dimensionless.
Every bad input raises :class:`labdb.lib.errors.EngineError` naming the offending field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labdb.lib.errors import EngineError

from ._larch import larch, software_versions

#: Fewer points than this cannot give a pre-edge line, an edge and a post-edge curve.
MIN_POINTS = 30
#: Valid Fourier-window names (larch ``ftwindow``).
FT_WINDOWS = ("hanning", "fhanning", "parzen", "welch", "gaussian", "sine", "kaiser")
#: A k range may end at most this far beyond the last χ(k) point (one default k step).
K_TOLERANCE_INV_A = 0.05

PRE_EDGE_KEYS = ("e0", "step", "nnorm", "nvict", "npre", "pre1", "pre2", "norm1", "norm2",
                 "make_flat")
AUTOBK_KEYS = ("rbkg", "nknots", "ek0", "edge_step", "kmin", "kmax", "kweight", "dk", "win",
               "nfft", "kstep", "nclamp", "clamp_lo", "clamp_hi", "calc_uncertainties",
               "err_sigma")
XFTF_KEYS = ("kmin", "kmax", "kweight", "dk", "dk2", "window", "rmax_out", "nfft", "kstep",
             "with_phase")
# larch spells some arguments two ways; we store one.
_ALIASES = {"autobk": {"kw": "kweight", "e0": "ek0"}, "xftf": {"kw": "kweight"},
            "pre_edge": {}}


@dataclass(frozen=True, eq=False)
class ProcessedSpectrum:
    """Result of :func:`process_mu`.

    Attributes:
        e0_ev: edge energy used for k = 0 (autobk ``ek0``), eV.
        edge_step: edge jump of μ(E) (absorbance units).
        energy_ev, mu, norm: input energy (eV), μ(E) and normalized μ(E).
        k_inv_a, chi: χ(k) on autobk's uniform k grid (Å⁻¹).
        r_a, chir_mag: |χ(R)| of the k-weighted χ(k) (R in Å, |χ(R)| in Å^-(kweight+1)).
        parameters: ``{"pre_edge": {...}, "autobk": {...}, "xftf": {...}}`` fully resolved; pass
            them back to :func:`process_mu` to repeat the run exactly.
        journal: larch's own record of the calls (``group.journal``), for audit.
        versions: software versions that produced the numbers.
    """

    e0_ev: float
    edge_step: float
    energy_ev: np.ndarray
    mu: np.ndarray
    norm: np.ndarray
    k_inv_a: np.ndarray
    chi: np.ndarray
    r_a: np.ndarray
    chir_mag: np.ndarray
    parameters: dict[str, dict[str, Any]]
    journal: list[dict[str, Any]]
    versions: dict[str, str | None]
    simulated: bool = False
    label: str = ""
    # The larch Group (carries autobk_details, which feffit uses for the χ(k) uncertainty).
    _group: Any = field(default=None, repr=False)

    def to_json(self, *, with_arrays: bool = True) -> dict[str, Any]:
        """JSON-ready dict (arrays as lists when ``with_arrays``)."""
        out: dict[str, Any] = {
            "e0_ev": self.e0_ev, "edge_step": self.edge_step, "parameters": self.parameters,
            "journal": self.journal, "versions": self.versions, "simulated": self.simulated,
            "label": self.label,
        }
        if with_arrays:
            for name in ("energy_ev", "mu", "norm", "k_inv_a", "chi", "r_a", "chir_mag"):
                out[name] = getattr(self, name).tolist()
        return out


def _as_1d_float(values: Any, field_name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise EngineError(f"{field_name} must be an array of numbers", field=field_name,
                          detail=str(exc)) from exc
    if arr.ndim != 1:
        raise EngineError(f"{field_name} must be one-dimensional, got shape {arr.shape}",
                          field=field_name)
    return arr


def _check_finite(arr: np.ndarray, field_name: str) -> None:
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise EngineError(
            f"{field_name} has {bad.size} non-finite value(s) (NaN or ±inf), first at index "
            f"{bad[0]}", field=field_name)


def validate_mu(energy_ev: Any, mu: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check μ(E) input: 1-D, equal length, ≥ MIN_POINTS, finite, strictly increasing energy.

    Returns float64 copies. Raises EngineError naming ``energy_ev`` or ``mu``.
    """
    energy = _as_1d_float(energy_ev, "energy_ev")
    mu_arr = _as_1d_float(mu, "mu")
    if energy.size != mu_arr.size:
        raise EngineError(f"energy_ev has {energy.size} points but mu has {mu_arr.size}",
                          field="mu")
    if energy.size < MIN_POINTS:
        raise EngineError(f"too few points: {energy.size} (need at least {MIN_POINTS})",
                          field="energy_ev")
    _check_finite(energy, "energy_ev")
    _check_finite(mu_arr, "mu")
    steps = np.diff(energy)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0])
        raise EngineError(
            f"energy_ev must increase strictly; value {energy[i + 1]:g} eV at index {i + 1} "
            f"follows {energy[i]:g} eV", field="energy_ev")
    return energy.copy(), mu_arr.copy()


def mu_from_columns(columns: Mapping[str, Any], mode: str) -> np.ndarray:
    """μ(E) from detector columns.

    Args:
        columns: arrays keyed by name; transmission needs ``i0`` and ``itrans``, fluorescence
            needs ``i0`` and ``ifluor``.
        mode: ``"transmission"`` → ln(I0/It), ``"fluorescence"`` → If/I0.

    Raises:
        EngineError: unknown mode, missing column, different lengths, non-finite or
            non-positive intensities where a log or a division needs them, non-finite result.
    """
    needed = {"transmission": ("i0", "itrans"), "fluorescence": ("i0", "ifluor")}
    if mode not in needed:
        raise EngineError(f"mode must be 'transmission' or 'fluorescence', got {mode!r}",
                          field="mode")
    arrays = {}
    for name in needed[mode]:
        if name not in columns:
            raise EngineError(f"{mode} μ(E) needs a column {name!r}; got {sorted(columns)}",
                              field=f"columns.{name}")
        arrays[name] = _as_1d_float(columns[name], f"columns.{name}")
        _check_finite(arrays[name], f"columns.{name}")
    first, second = needed[mode]
    if arrays[first].size != arrays[second].size:
        raise EngineError(f"columns {first} and {second} differ in length",
                          field=f"columns.{second}")
    i0 = arrays["i0"]
    if np.any(i0 == 0):
        raise EngineError(f"i0 is zero at index {int(np.flatnonzero(i0 == 0)[0])}",
                          field="columns.i0")
    with np.errstate(divide="ignore", invalid="ignore"):
        if mode == "transmission":
            ratio = i0 / arrays["itrans"]
            bad = np.flatnonzero(~(ratio > 0))
            if bad.size:
                raise EngineError(
                    f"ln(I0/It) undefined: I0/It ≤ 0 at {bad.size} point(s), first at index "
                    f"{bad[0]}", field="columns.itrans")
            mu = np.log(ratio)
        else:
            mu = arrays["ifluor"] / i0
    _check_finite(mu, "mu")
    return mu


def _normalize_kwargs(step: str, given: Mapping[str, Any] | None,
                      allowed: tuple[str, ...]) -> dict[str, Any]:
    if given is None:
        raise EngineError(f"{step} parameters are required (use {{}} for larch defaults)",
                          field=step)
    if not isinstance(given, Mapping):
        raise EngineError(f"{step} parameters must be a mapping", field=step)
    out: dict[str, Any] = {}
    for key, value in given.items():
        name = _ALIASES[step].get(key, key)
        if name not in allowed:
            raise EngineError(f"unknown {step} parameter {key!r}; allowed: {', '.join(allowed)}",
                              field=f"{step}.{key}")
        if name in out:
            raise EngineError(f"{step} parameter {name!r} given twice (alias {key!r})",
                              field=f"{step}.{key}")
        if isinstance(value, float) and not math.isfinite(value):
            raise EngineError(f"{step}.{key} must be finite", field=f"{step}.{key}")
        out[name] = value
    return out


def _check_window(step: str, key: str, kwargs: dict[str, Any]) -> None:
    name = kwargs.get(key)
    if name is not None and (not isinstance(name, str) or name.strip().lower() not in FT_WINDOWS):
        raise EngineError(f"{step}.{key} must be one of {', '.join(FT_WINDOWS)}, got {name!r}",
                          field=f"{step}.{key}")


def check_k_range(kmin: float, kmax: float, k_data_max: float, field_prefix: str) -> None:
    """Raise EngineError unless 0 ≤ kmin < kmax ≤ last χ(k) point (+ one k step), Å⁻¹."""
    if kmin < 0 or kmin >= kmax:
        raise EngineError(f"{field_prefix} k-range [{kmin}, {kmax}] Å⁻¹ is empty or negative",
                          field=f"{field_prefix}.kmin")
    if kmax > k_data_max + K_TOLERANCE_INV_A:
        raise EngineError(
            f"{field_prefix}.kmax = {kmax} Å⁻¹ is outside the data, which end at "
            f"k = {k_data_max:.2f} Å⁻¹", field=f"{field_prefix}.kmax")


def _run(step: str, func: Any, group: Any, kwargs: dict[str, Any]) -> None:
    try:
        func(group, **kwargs)
    except EngineError:
        raise
    except Exception as exc:  # larch raises anything from ValueError to IndexError
        raise EngineError(f"larch {step} failed: {exc}", field=step,
                          detail=f"{type(exc).__name__}: {exc}") from exc


def process_mu(energy_ev: Any, mu: Any, *, pre_edge: Mapping[str, Any],
               autobk: Mapping[str, Any], xftf: Mapping[str, Any]) -> ProcessedSpectrum:
    """Normalize μ(E), extract χ(k) and Fourier transform it.

    Args:
        energy_ev: strictly increasing energies, eV.
        mu: μ(E), same length, finite.
        pre_edge: larch ``pre_edge`` keywords (e0, step, nnorm, nvict, npre, pre1, pre2, norm1,
            norm2, make_flat; energies in eV relative to e0). ``{}`` lets larch choose; the
            chosen values are returned in ``parameters``.
        autobk: larch ``autobk`` keywords (rbkg Å, ek0 eV, kmin/kmax Å⁻¹, kweight, dk, win, ...;
            ``kw`` and ``e0`` are accepted as aliases of ``kweight`` and ``ek0``).
        xftf: larch ``xftf`` keywords (kmin/kmax Å⁻¹, kweight, dk, dk2, window, rmax_out Å, ...);
            an omitted ``kmax`` means the end of χ(k) (larch's own default, 20, is often beyond it).

    Returns:
        ProcessedSpectrum with arrays and the fully resolved parameters.

    Raises:
        EngineError: non-finite/non-monotonic/too short input, unknown parameter, e0 outside
            the data, k-range outside χ(k), or a larch failure.
    """
    energy, mu_arr = validate_mu(energy_ev, mu)
    pre_kws = _normalize_kwargs("pre_edge", pre_edge, PRE_EDGE_KEYS)
    bkg_kws = _normalize_kwargs("autobk", autobk, AUTOBK_KEYS)
    ft_kws = _normalize_kwargs("xftf", xftf, XFTF_KEYS)
    _check_window("autobk", "win", bkg_kws)
    _check_window("xftf", "window", ft_kws)
    for step, kws, key in (("pre_edge", pre_kws, "e0"), ("autobk", bkg_kws, "ek0")):
        e0 = kws.get(key)
        if e0 is not None and not energy[0] < e0 < energy[-1]:
            raise EngineError(
                f"{step}.{key} = {e0} eV is outside the data ({energy[0]:g}–{energy[-1]:g} eV)",
                field=f"{step}.{key}")
    if bkg_kws.get("rbkg", 1) <= 0:
        raise EngineError("autobk.rbkg must be positive (Å)", field="autobk.rbkg")

    lx = larch()
    group = lx.Group(energy=energy, mu=mu_arr)
    _run("pre_edge", lx.pre_edge, group, pre_kws)
    k_edge_max = math.sqrt(max(0.0, energy[-1] - group.e0) / 3.8099821161548593)
    if "kmax" in bkg_kws and bkg_kws["kmax"] is not None:
        check_k_range(bkg_kws.get("kmin", 0), bkg_kws["kmax"], k_edge_max, "autobk")
    _run("autobk", lx.autobk, group, bkg_kws)
    if getattr(group, "chi", None) is None or len(group.k) < 3:
        raise EngineError("autobk produced no χ(k): too few points above the edge",
                          field="autobk")
    k_max = float(group.k[-1])
    if ft_kws.get("kmax") is None:
        # larch's default (20 Å⁻¹) usually lies beyond the data; default to the data's end.
        ft_kws["kmax"] = min(20.0, k_max)
    check_k_range(ft_kws.get("kmin", 0), ft_kws["kmax"], k_max, "xftf")
    _run("xftf", lx.xftf, group, ft_kws)

    return ProcessedSpectrum(
        e0_ev=float(group.ek0), edge_step=float(group.edge_step), energy_ev=energy, mu=mu_arr,
        norm=np.asarray(group.norm, dtype="float64"), k_inv_a=np.asarray(group.k, dtype="float64"),
        chi=np.asarray(group.chi, dtype="float64"), r_a=np.asarray(group.r, dtype="float64"),
        chir_mag=np.asarray(group.chir_mag, dtype="float64"),
        parameters=_resolved_parameters(group, pre_kws, bkg_kws, ft_kws),
        journal=_journal(group), versions=software_versions(), _group=group)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _resolved_parameters(group: Any, pre_kws: dict, bkg_kws: dict, ft_kws: dict) -> dict:
    """Every larch default replaced by the value actually used (read back from the group)."""
    det = group.pre_edge_details
    pre = {"e0": float(group.e0), "step": pre_kws.get("step"),
           "nnorm": _plain(det.nnorm), "nvict": _plain(det.nvict),
           "npre": _plain(det.npre) if det.npre is not None else pre_kws.get("npre", 1),
           "pre1": _plain(det.pre1), "pre2": _plain(det.pre2), "norm1": _plain(det.norm1),
           "norm2": _plain(det.norm2), "make_flat": pre_kws.get("make_flat", True)}
    bd = group.autobk_details
    bkg = {"rbkg": bkg_kws.get("rbkg", 1), "nknots": _plain(bd.nspl), "ek0": float(group.ek0),
           "edge_step": float(group.edge_step), "kmin": _plain(bd.kmin),
           "kmax": float(bd.kmax), "kweight": bkg_kws.get("kweight", 1),
           "dk": bkg_kws.get("dk", 0.1), "win": bkg_kws.get("win", "hanning"),
           "nfft": bkg_kws.get("nfft", 2048), "kstep": bkg_kws.get("kstep", 0.05),
           "nclamp": bkg_kws.get("nclamp", 3), "clamp_lo": bkg_kws.get("clamp_lo", 0),
           "clamp_hi": bkg_kws.get("clamp_hi", 1),
           "calc_uncertainties": bkg_kws.get("calc_uncertainties", False),
           "err_sigma": bkg_kws.get("err_sigma", 1)}
    kstep = ft_kws.get("kstep")
    ft = {"kmin": ft_kws.get("kmin", 0), "kmax": ft_kws.get("kmax", 20),
          "kweight": ft_kws.get("kweight", 2), "dk": ft_kws.get("dk", 1),
          "dk2": ft_kws.get("dk2", ft_kws.get("dk", 1)),
          "window": ft_kws.get("window", "kaiser"), "rmax_out": ft_kws.get("rmax_out", 10),
          "nfft": ft_kws.get("nfft", 2048),
          "kstep": float(group.k[1] - group.k[0]) if kstep is None else kstep,
          "with_phase": ft_kws.get("with_phase", False)}
    return {"pre_edge": pre, "autobk": bkg, "xftf": ft}


def _journal(group: Any) -> list[dict[str, Any]]:
    out = []
    for entry in getattr(group, "journal", []) or []:
        try:
            key, value, when = entry.key, entry.value, entry.datetime
        except AttributeError:
            key, value, when = entry[0], entry[1], entry[2] if len(entry) > 2 else None
        if isinstance(value, dict):
            value = {k: _plain(v) for k, v in value.items() if not isinstance(v, np.ndarray)}
        out.append({"key": str(key), "value": value, "time": str(when) if when else None})
    return out
