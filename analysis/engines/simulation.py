"""Simulated χ(k) from published path values, and the single-path round-trip check.

Simulated spectra are for testing the fit pipeline only: every :class:`SimulatedChi` carries
``simulated=True`` and a ``label`` starting with ``"SIMULATED from published fit"``, which the
fit result and the plots repeat, so a simulated curve can never pass for a measurement.

Units: R in Å, σ² in Å², ΔE0 in eV, c3 in Å³, k in Å⁻¹; ``noise_frac`` is a fraction (0.01 = 1 %).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labdb.lib.errors import EngineError

from ._larch import larch
from .feff import (
    FeffCache,
    FeffPathFile,
    FeffRun,
    LatticeStructure,
    compute_feff_paths,
    parse_feff_dat,
)
from .fitting import FitResult, _feffdat, run_fit

#: A published path is matched to the FEFF single-scattering path with the nearest reff,
#: which must lie within this distance (Å).
MAX_R_MISMATCH_A = 0.5
DEFAULT_K_GRID_INV_A = np.round(np.arange(0.0, 16.0 + 1e-9, 0.05), 10)


@dataclass(frozen=True)
class PublishedPath:
    """Values of one scattering path as published (e.g. a table row of a paper)."""

    absorber: str
    scatterer: str
    n: float
    r_a: float
    sigma2_a2: float
    delta_e0_ev: float = 0.0
    s02: float = 1.0
    c3_a3: float = 0.0
    n_err: float | None = None
    r_err_a: float | None = None
    source: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | PublishedPath) -> PublishedPath:
        if isinstance(data, PublishedPath):
            return data
        allowed = set(cls.__dataclass_fields__)
        unknown = [k for k in data if k not in allowed and k != "edge"]
        if unknown:
            raise EngineError(f"unknown published-path key(s) {', '.join(unknown)}; allowed: "
                              f"{', '.join(sorted(allowed))}", field=f"published.{unknown[0]}")
        kwargs = {k: v for k, v in data.items() if k in allowed}
        for key in ("absorber", "scatterer", "n", "r_a", "sigma2_a2"):
            if key not in kwargs:
                raise EngineError(f"published path needs {key!r}", field=f"published.{key}")
        for key, val in kwargs.items():
            if key in ("absorber", "scatterer", "source"):
                continue
            if val is not None and (isinstance(val, bool) or not isinstance(val, (int, float))
                                    or not math.isfinite(val)):
                raise EngineError(f"published {key} must be a finite number",
                                  field=f"published.{key}")
        if kwargs["n"] <= 0 or kwargs["r_a"] <= 0.5 or kwargs["sigma2_a2"] < 0:
            raise EngineError("published n and r_a must be positive and sigma2_a2 ≥ 0",
                              field="published")
        return cls(**kwargs)

    def describe(self) -> str:
        return (f"{self.absorber}–{self.scatterer} N={self.n:g} R={self.r_a:.3f} Å "
                f"σ²={self.sigma2_a2:.5f} Å² ΔE0={self.delta_e0_ev:g} eV S0²={self.s02:g}")


@dataclass(frozen=True, eq=False)
class SimulatedChi:
    """χ(k) computed from published values (+ Gaussian noise). Never a measurement."""

    k_inv_a: np.ndarray
    chi: np.ndarray
    chi_noiseless: np.ndarray
    noise_std: float
    noise_frac: float
    seed: int
    paths: tuple[dict[str, Any], ...]
    label: str
    simulated: bool = field(default=True, init=False)

    def to_json(self) -> dict[str, Any]:
        return {"simulated": True, "label": self.label, "noise_std": self.noise_std,
                "noise_frac": self.noise_frac, "seed": self.seed, "paths": list(self.paths),
                "k_inv_a": self.k_inv_a.tolist(), "chi": self.chi.tolist(),
                "chi_noiseless": self.chi_noiseless.tolist()}


def _match_path(pub: PublishedPath, files: Sequence[FeffPathFile], index: int) -> FeffPathFile:
    candidates = [f for f in files if f.nleg == 2 and f.absorber == pub.absorber
                  and f.scatterers == (pub.scatterer,)]
    if not candidates:
        raise EngineError(f"no FEFF single-scattering path {pub.absorber}-{pub.scatterer} for "
                          f"published path {index + 1}", field=f"paths[{index}]")
    best = min(candidates, key=lambda f: (abs(f.reff_a - pub.r_a), f.file_id))
    if abs(best.reff_a - pub.r_a) > MAX_R_MISMATCH_A:
        raise EngineError(f"published R = {pub.r_a} Å is more than {MAX_R_MISMATCH_A} Å from the "
                          f"nearest FEFF {pub.absorber}-{pub.scatterer} path "
                          f"(reff = {best.reff_a} Å)", field=f"paths[{index}].r_a")
    return best


def simulate_chi_from_paths(paths: Sequence[Mapping[str, Any] | PublishedPath],
                            path_files: Mapping[str, str] | FeffRun,
                            k_grid_inv_a: Sequence[float] | np.ndarray | None = None, *,
                            noise_frac: float = 0.0, seed: int = 0,
                            source: str = "") -> SimulatedChi:
    """Sum the EXAFS equation over published paths using FEFF amplitudes and phases.

    Each published path uses the FEFF single-scattering path of the same absorber–scatterer
    pair with the nearest reff: degeneracy = N, ΔR = R − reff, S0², σ², ΔE0, c3 as published.
    Noise: Gaussian, constant in k, standard deviation ``noise_frac`` × RMS(χ) on the grid,
    drawn with ``numpy.random.default_rng(seed)`` (reproducible).

    Raises:
        EngineError: no matching FEFF path, bad published values, bad grid or noise.
    """
    if not paths:
        raise EngineError("at least one published path is needed", field="paths")
    pubs = [PublishedPath.from_mapping(p) for p in paths]
    if isinstance(path_files, FeffRun):
        files = list(path_files.paths)
    else:
        files = [parse_feff_dat(text, file_id=fid) for fid, text in path_files.items()]
    k = DEFAULT_K_GRID_INV_A if k_grid_inv_a is None else np.asarray(k_grid_inv_a, float)
    if k.ndim != 1 or k.size < 20 or not np.all(np.isfinite(k)) or np.any(np.diff(k) <= 0) \
            or k[0] < 0:
        raise EngineError("k grid must be ≥ 20 increasing, finite values ≥ 0 Å⁻¹",
                          field="k_grid_inv_a")
    if not (isinstance(noise_frac, (int, float)) and 0 <= noise_frac < 1):
        raise EngineError("noise_frac must be between 0 and 1", field="noise_frac")

    larch()  # imports larch (EngineError if unavailable) before the submodule imports below
    from larch.xafs.feffdat import FeffPathGroup
    from lmfit import Parameters

    chi = np.zeros_like(k)
    used = []
    for i, pub in enumerate(pubs):
        f = _match_path(pub, files, i)
        fdat = _feffdat(hashlib.sha256(f.text.encode()).hexdigest(), f.text)
        path = FeffPathGroup(filename=f.file_id, label=f"sim{i}", _feffdat=fdat,
                             degen=float(pub.n), s02=float(pub.s02), e0=float(pub.delta_e0_ev),
                             sigma2=float(pub.sigma2_a2), deltar=float(pub.r_a - f.reff_a),
                             third=float(pub.c3_a3))
        path.create_path_params(params=Parameters())
        path._calc_chi(k=k)
        chi += path.chi
        used.append({"published": pub.describe(), "path_file": f.file_id, "reff_a": f.reff_a,
                     "deltar_a": pub.r_a - f.reff_a})
    noise_std = float(noise_frac * np.sqrt(np.mean(chi ** 2)))
    rng = np.random.default_rng(seed)
    noisy = chi + rng.normal(0.0, noise_std, size=k.size) if noise_std > 0 else chi.copy()
    what = "; ".join(p.describe() for p in pubs)
    label = (f"SIMULATED from published fit{' ' + source if source else ''}: {what}; "
             f"noise {noise_frac:.1%} (seed {seed})")
    return SimulatedChi(k_inv_a=k.copy(), chi=noisy, chi_noiseless=chi, noise_std=noise_std,
                        noise_frac=float(noise_frac), seed=int(seed), paths=tuple(used),
                        label=label)


def roundtrip_single_path(published: Mapping[str, Any] | PublishedPath, *,
                          path_files: Mapping[str, str] | FeffRun | None = None,
                          feff_cache: FeffCache | None = None, edge: str = "K",
                          lattice_a_a: float | None = None, noise_frac: float = 0.01,
                          seed: int = 0, kmin: float = 3.0, kmax: float = 12.0,
                          kweight: int = 2, rmin_a: float | None = None,
                          rmax_a: float | None = None) -> dict[str, Any]:
    """Simulate χ(k) from one published path, fit it back, and compare.

    ``published`` needs absorber, scatterer, n, r_a, sigma2_a2; optional delta_e0_ev,
    s02 (default 1), c3_a3, n_err, r_err_a, source. Without ``path_files`` the FEFF path comes
    from a zinc-blende lattice of the two elements with a = 4R/√3 (so reff ≈ R; override with
    ``lattice_a_a``), computed with feff6l (through ``feff_cache`` if given).
    The fit varies N (``n``), ΔR, σ², ΔE0 with S0² fixed at the published value, starting
    from the FEFF degeneracy, ΔR = 0, σ² = 0.005 Å², ΔE0 = 0.

    Returns a dict: published, recovered {n, n_err, r_a, r_err_a, sigma2_a2, sigma2_err_a2,
    delta_e0_ev, delta_e0_err_ev}, delta_r_a, delta_n, r_within_0p01_a,
    n_within_published_err (None without n_err), label, statistics, feff, fit_result.
    """
    pub = PublishedPath.from_mapping(published)
    if path_files is None:
        if pub.absorber == pub.scatterer:
            raise EngineError("a zinc-blende model needs two different elements; pass "
                              "path_files", field="published.scatterer")
        a = lattice_a_a if lattice_a_a is not None else 4 * pub.r_a / math.sqrt(3)
        path_files = compute_feff_paths(
            LatticeStructure("zincblende", round(a, 6), pub.absorber, pub.scatterer),
            absorber=pub.absorber, edge=edge, cluster_radius_a=max(4.0, 1.6 * pub.r_a),
            feff_version=6, cache=feff_cache)
        feff_info = {"lattice": "zincblende", "a_a": round(a, 6),
                     "cache_key": path_files.cache_key, "from_cache": path_files.from_cache}
    else:
        feff_info = {"lattice": None}
    sim = simulate_chi_from_paths([pub], path_files, noise_frac=noise_frac, seed=seed,
                                  source=pub.source)
    first = _match_path(pub, list(path_files.paths) if isinstance(path_files, FeffRun) else
                        [parse_feff_dat(t, file_id=i) for i, t in path_files.items()], 0)
    feff_info["reff_a"] = first.reff_a
    model = {
        "parameters": {
            "n": {"kind": "guess", "value": float(first.degen), "min": 0.0},
            "s02": {"kind": "set", "value": float(pub.s02)},
            "de0": {"kind": "guess", "value": 0.0},
            "dr": {"kind": "guess", "value": 0.0},
            "ss2": {"kind": "guess", "value": 0.005, "min": 0.0}},
        "datasets": [{
            "id": "simulated",
            "transform": {"kmin": kmin, "kmax": kmax, "kweight": kweight, "dk": 1.0,
                          "window": "hanning",
                          "rmin": rmin_a if rmin_a is not None else max(1.0, pub.r_a - 1.0),
                          "rmax": rmax_a if rmax_a is not None else pub.r_a + 0.6},
            "paths": [{"label": f"{pub.absorber}-{pub.scatterer}", "path_file": first.file_id,
                       "n": "n", "s02": "s02", "e0": "de0", "deltar": "dr",
                       "sigma2": "ss2"}]}]}
    result: FitResult = run_fit({"simulated": sim}, model, path_files)
    p = result.paths[0]
    delta_r = p["r_a"] - pub.r_a
    delta_n = p["n"] - pub.n
    return {
        "published": {k: getattr(pub, k) for k in pub.__dataclass_fields__},
        "recovered": {"n": p["n"], "n_err": p["n_err"], "r_a": p["r_a"], "r_err_a": p["r_err_a"],
                      "sigma2_a2": p["sigma2_a2"], "sigma2_err_a2": p["sigma2_err_a2"],
                      "delta_e0_ev": p["delta_e0_ev"], "delta_e0_err_ev": p["delta_e0_err_ev"]},
        "delta_r_a": delta_r, "delta_n": delta_n,
        "r_within_0p01_a": abs(delta_r) <= 0.01,
        "n_within_published_err": None if pub.n_err is None else abs(delta_n) <= pub.n_err,
        "label": sim.label, "simulated": True, "statistics": result.statistics,
        "feff": feff_info, "fit_result": result,
    }
