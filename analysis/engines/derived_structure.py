"""Derived structure with uncertainty: bond angles, coordination ratios, stoichiometry
candidates (pure: math + numpy + the ``uncertainties`` package, no Django).

Error propagation. ``method="linear"`` (default) is first-order propagation by the
``uncertainties`` package (``uncertainties.umath``), inputs taken as independent 1σ normal
errors. ``method="monte_carlo"`` draws ``n_samples`` normal samples of every input
(``numpy.random.default_rng(seed)``) and reports the mean and the standard deviation of the
derived quantity (samples outside its domain — e.g. R₂ ≥ 2R₁ — are dropped and counted). Every
result says which method gave its error in ``error_propagation``.

Formulas
--------
* Bond angle A–B–A from the A–B distance R₁ and the A–A distance R₂ (isosceles triangle):
  θ = 2·asin(R₂ / 2R₁), in degrees. Seed 002: R(Cd–S) = 2.4881(98) Å, R(Cd–Cd) =
  3.9769(96) Å → 106.10°, printed 106.1(1.1)°. First-order propagation of the printed errors
  gives ±0.70° (worst case, fully correlated errors added linearly: ±0.97°), so the paper's
  1.1° is not what its printed R errors give; the value is.
* Coordination ratio N₁/N₂ with σ = |N₁/N₂|·sqrt((σ₁/N₁)² + (σ₂/N₂)²) (first order).
* Stoichiometry candidates Cd_xS_y, seed 002's rule: every anion is four-coordinated by cations
  and fully capped (its assumptions i and ii), so the cation–anion coordination number of
  Cd_xS_y is N = 4y/x (``anion_coordination``·y/x). Candidates are the integer (x, y) whose
  formula mass is within ``mass_tolerance_da`` of the mass-spectrometry mass (or the given
  formula list), kept when |4y/x − N_measured| ≤ ``n_sigma``·σ_N (inclusive), ranked by that
  distance. Seed 002 (MSC-322, N(Cd–S) = 2.57 ± 0.27, ~5160 Da, ±10 Da, 2σ) gives exactly its
  three: Cd₃₉S₂₄ (2.46, 5154 Da, closest), Cd₃₈S₂₈ (2.95, 5169 Da), Cd₄₀S₂₁ (2.10, 5170 Da).
  The paper prints no tolerance: ±10 Da is the smallest round window holding its three
  masses, 2σ the smallest round multiple holding its three coordination numbers.

Units: distances Å, angles degrees, masses Da (standard atomic weights, IUPAC).
Errors: :class:`labdb.lib.errors.EngineError` naming the input (``shell1``, ``shell2``, ``n1``,
``n2``, ``coordination``, ``mass_da``, ``formulas``, ``method``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

import numpy as np
from uncertainties import ufloat, umath

from labdb.lib.errors import EngineError

__all__ = [
    "ATOMIC_MASS_DA", "ENGINE_NAME", "ENGINE_VERSION", "METHODS", "bond_angle",
    "coordination_ratio", "formula_mass_da", "stoichiometry_candidates",
]

ENGINE_NAME = "labdb.derived_structure"
ENGINE_VERSION = "1"
METHODS = ("linear", "monte_carlo")
#: Standard atomic weights (IUPAC 2013/2021; S as its conventional value), Da.
ATOMIC_MASS_DA = {"Cd": 112.414, "S": 32.06, "Se": 78.971, "Te": 127.60, "Zn": 65.38,
                  "O": 15.999, "Pb": 207.2, "In": 114.818, "P": 30.973762, "Hg": 200.592}
#: Float slack of the inclusive ``n_sigma`` window (printed values have two decimals).
_SLACK = 1e-9
_FORMULA = re.compile(r"([A-Z][a-z]?)(\d*)")


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in ("uncertainties", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _method(method: str, n_samples: int, seed: int) -> dict[str, Any]:
    if method not in METHODS:
        raise EngineError(f"error propagation must be one of {', '.join(METHODS)}, got "
                          f"{method!r}", field="method")
    if method == "linear":
        return {"method": "linear", "package": "uncertainties",
                "version": _versions()["uncertainties"],
                "assumption": "independent 1σ normal errors, first order"}
    if n_samples < 100:
        raise EngineError("Monte Carlo needs at least 100 samples", field="n_samples")
    return {"method": "monte_carlo", "n_samples": n_samples, "seed": seed,
            "assumption": "independent 1σ normal errors, mean and SD of the samples"}


def _value(value: Any, err: Any, field: str, *, positive: bool = True) -> tuple[float, float]:
    if value is None or isinstance(value, bool) or not math.isfinite(float(value)):
        raise EngineError(f"{field}: a finite number is needed, got {value!r}", field=field)
    if positive and float(value) <= 0:
        raise EngineError(f"{field}: must be positive, got {value!r}", field=field)
    sigma = 0.0 if err is None else float(err)
    if not math.isfinite(sigma) or sigma < 0:
        raise EngineError(f"{field}: the error must be a non-negative number, got {err!r}",
                          field=field)
    return float(value), sigma


def _monte_carlo(func: Callable[..., np.ndarray], inputs: Sequence[tuple[float, float]],
                 n_samples: int, seed: int) -> tuple[float, float, int]:
    rng = np.random.default_rng(seed)
    draws = [rng.normal(v, s, n_samples) for v, s in inputs]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = func(*draws)
    ok = np.isfinite(out)
    if ok.sum() < 2:
        raise EngineError("almost no Monte Carlo sample lies inside the formula's domain: "
                          "the errors are too large for this quantity", field="method")
    return float(out[ok].mean()), float(out[ok].std(ddof=1)), int((~ok).sum())


def bond_angle(r1_a: float, r1_err_a: float | None, r2_a: float, r2_err_a: float | None, *,
               method: str = "linear", n_samples: int = 100_000, seed: int = 0) -> dict:
    """A–B–A angle (degrees) from R₁ = A–B and R₂ = A–A (Å): θ = 2·asin(R₂ / 2R₁).

    Returns ``{"angle_deg", "angle_err_deg", "tetrahedral_deg", "error_propagation",
    "formula", "inputs", "versions"}``. Raises EngineError when R₂ ≥ 2R₁ (no triangle).
    """
    r1, s1 = _value(r1_a, r1_err_a, "shell1")
    r2, s2 = _value(r2_a, r2_err_a, "shell2")
    how = _method(method, n_samples, seed)
    if r2 >= 2 * r1:
        raise EngineError(f"shell2: an A–A distance of {r2:g} Å needs an A–B distance above "
                          f"{r2 / 2:g} Å; shell1 is {r1:g} Å (no A–B–A triangle)",
                          field="shell2")
    if method == "linear":
        theta = 2 * umath.asin(ufloat(r2, s2) / (2 * ufloat(r1, s1)))
        angle, err = math.degrees(theta.nominal_value), math.degrees(theta.std_dev)
    else:
        angle, err, dropped = _monte_carlo(
            lambda a, b: np.degrees(2 * np.arcsin(b / (2 * a))), [(r1, s1), (r2, s2)],
            n_samples, seed)
        how["dropped_samples"] = dropped
    return {"angle_deg": angle, "angle_err_deg": err,
            "tetrahedral_deg": math.degrees(math.acos(-1 / 3)), "error_propagation": how,
            "formula": "θ = 2·asin(R2 / (2·R1))",
            "inputs": {"r1_a": r1, "r1_err_a": s1, "r2_a": r2, "r2_err_a": s2},
            "versions": _versions()}


def coordination_ratio(n1: float, n1_err: float | None, n2: float, n2_err: float | None, *,
                       method: str = "linear", n_samples: int = 100_000,
                       seed: int = 0) -> dict:
    """N₁/N₂ (dimensionless) with its error; ``{"ratio", "ratio_err", "error_propagation",
    "formula", "inputs", "versions"}``. Raises EngineError for N₂ = 0 or a negative N."""
    a, sa = _value(n1, n1_err, "n1")
    b, sb = _value(n2, n2_err, "n2")
    how = _method(method, n_samples, seed)
    if method == "linear":
        ratio = ufloat(a, sa) / ufloat(b, sb)
        value, err = ratio.nominal_value, ratio.std_dev
    else:
        value, err, dropped = _monte_carlo(lambda x, y: x / y, [(a, sa), (b, sb)],
                                           n_samples, seed)
        how["dropped_samples"] = dropped
    return {"ratio": value, "ratio_err": err, "error_propagation": how,
            "formula": "N1/N2, σ = |N1/N2|·sqrt((σ1/N1)² + (σ2/N2)²)",
            "inputs": {"n1": a, "n1_err": sa, "n2": b, "n2_err": sb}, "versions": _versions()}


def formula_mass_da(formula: str) -> float:
    """Mass (Da) of a formula such as ``Cd39S24``; EngineError for an unknown element."""
    parts = _FORMULA.findall(formula.strip())
    if not parts or "".join(f"{e}{n}" for e, n in parts) != formula.strip():
        raise EngineError(f"formulas: cannot read {formula!r} (expected e.g. Cd39S24)",
                          field="formulas")
    mass = 0.0
    for element, count in parts:
        if element not in ATOMIC_MASS_DA:
            raise EngineError(f"formulas: no atomic mass for {element!r} in {formula!r}",
                              field="formulas")
        mass += ATOMIC_MASS_DA[element] * (int(count) if count else 1)
    return mass


def _counts(formula: str, cation: str, anion: str) -> tuple[int, int]:
    formula_mass_da(formula)  # readable, known elements
    counts = {e: int(n) if n else 1 for e, n in _FORMULA.findall(formula.strip())}
    if set(counts) != {cation, anion} or min(counts.values()) < 1:
        raise EngineError(f"formulas: {formula!r} is not a {cation}_x{anion}_y formula "
                          "(x, y ≥ 1)", field="formulas")
    return counts[cation], counts[anion]


def _enumerate(cation: str, anion: str, mass_da: float, tol_da: float) -> list[tuple[int, int]]:
    """Every integer (x ≥ 1, y ≥ 1) with |x·M_cation + y·M_anion − mass| ≤ tol."""
    mc, ma = ATOMIC_MASS_DA[cation], ATOMIC_MASS_DA[anion]
    out = []
    for x in range(1, int((mass_da + tol_da) // mc) + 1):
        rest = mass_da - x * mc
        for y in range(max(1, math.ceil((rest - tol_da) / ma)), int((rest + tol_da) // ma) + 1):
            if abs(x * mc + y * ma - mass_da) <= tol_da:
                out.append((x, y))
    return out


def stoichiometry_candidates(n_measured: float, n_err: float | None, *,
                             mass_da: float | None = None, mass_tolerance_da: float = 10.0,
                             formulas: Sequence[str] | None = None, cation: str = "Cd",
                             anion: str = "S", anion_coordination: int = 4,
                             n_sigma: float = 2.0) -> dict:
    """Cation_x anion_y formulas consistent with a measured cation–anion N and a mass.

    Rule in the module docstring. ``formulas`` (e.g. a mass-spectrometry assignment list)
    replaces the enumeration from ``mass_da``; when both are given the list is also filtered
    by the mass window. Returns ``{"candidates": [...], "rejected": [...], "closest", "rule",
    "inputs", "versions"}``; each entry has ``formula``, ``x``, ``y``, ``mass_da``,
    ``coordination``, ``deviation_sigma``. Raises EngineError for no mass and no formulas,
    σ_N = 0, or an unreadable formula.
    """
    n, sigma = _value(n_measured, n_err, "coordination")
    if sigma <= 0:
        raise EngineError("coordination: the measured N needs its error (σ > 0) to decide "
                          "which formulas are consistent", field="coordination")
    for element in (cation, anion):
        if element not in ATOMIC_MASS_DA:
            raise EngineError(f"formulas: no atomic mass for {element!r}", field="formulas")
    if mass_da is not None:
        _value(mass_da, mass_tolerance_da, "mass_da")
    if formulas:
        pairs = [_counts(f, cation, anion) for f in formulas]
        if mass_da is not None:
            pairs = [p for p in pairs if abs(_pair_mass(p, cation, anion) - mass_da)
                     <= mass_tolerance_da]
    elif mass_da is not None:
        pairs = _enumerate(cation, anion, float(mass_da), float(mass_tolerance_da))
    else:
        raise EngineError("mass_da: give the mass-spectrometry mass or a formula list",
                          field="mass_da")
    entries = [_entry(x, y, cation, anion, anion_coordination, n, sigma) for x, y in pairs]
    kept = sorted((e for e in entries if e["deviation_sigma"] <= n_sigma + _SLACK),
                  key=lambda e: (abs(e["coordination"] - n), e["x"]))
    rejected = [e for e in entries if e["deviation_sigma"] > n_sigma + _SLACK]
    return {"candidates": kept, "rejected": rejected,
            "closest": kept[0]["formula"] if kept else None,
            "rule": f"|{anion_coordination}y/x − N| ≤ {n_sigma:g}σ_N; "
                    + (f"|mass − {mass_da:g}| ≤ {mass_tolerance_da:g} Da"
                       if mass_da is not None else "formulas as given"),
            "inputs": {"n": n, "n_err": sigma, "mass_da": mass_da,
                       "mass_tolerance_da": mass_tolerance_da, "formulas": list(formulas or []),
                       "cation": cation, "anion": anion,
                       "anion_coordination": anion_coordination, "n_sigma": n_sigma},
            "atomic_mass_da": {cation: ATOMIC_MASS_DA[cation], anion: ATOMIC_MASS_DA[anion]},
            "versions": _versions()}


def _pair_mass(pair: tuple[int, int], cation: str, anion: str) -> float:
    return pair[0] * ATOMIC_MASS_DA[cation] + pair[1] * ATOMIC_MASS_DA[anion]


def _entry(x: int, y: int, cation: str, anion: str, z: int, n: float, sigma: float) -> dict:
    coordination = z * y / x
    return {"formula": f"{cation}{x}{anion}{y}", "x": x, "y": y,
            "mass_da": _pair_mass((x, y), cation, anion), "coordination": coordination,
            "deviation_sigma": abs(coordination - n) / sigma}
