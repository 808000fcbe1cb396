"""Sizing curves, molar absorption coefficients, concentrations and the intrinsic absorption
coefficient of colloidal nanocrystals from their absorption spectrum.

A **correlation** is one published pair of equations for one material: the diameter D from
the wavelength (or energy) of the first excitonic (1S) absorption peak, and the molar
absorption coefficient ε (per mole of particles) at the 1S peak or at a fixed wavelength.
``CORRELATIONS`` is the curated table; each entry names its paper (DOI), the equations as
printed, the range labdb accepts the 1S peak (or the diameter) in and what is known of the
correlation's own uncertainty. Outside that range the engine refuses to extrapolate
(:class:`labdb.lib.errors.EngineError` naming the field).

From a 1S peak λ₁ₛ (nm) and an absorbance A at ε's wavelength:

* D = D(λ₁ₛ) (nm), ε = ε(D) or ε(E₁ₛ) (M⁻¹ cm⁻¹), E₁ₛ = hc/λ₁ₛ (eV);
* Beer–Lambert: c = A / (ε · L) (mol L⁻¹, L the path length in cm), times the dilution
  factor for the stock solution; reported in µM;
* eq. 4 of seed 004: μ = ln(10) · A / (f_V · L) (cm⁻¹), f_V the volume fraction of
  nanocrystals, given or computed as f_V = c · N_A · (π/6) · D³ (D³ in nm³ → 10⁻²⁴ L).

Uncertainties are propagated to first order with the ``uncertainties`` package from the 1S
position, the absorbance, the path length, the dilution factor, the volume fraction and a
relative uncertainty of ε the user states (the papers' own scatter is not transcribed as a
number; see each entry's ``uncertainty``). Units are in the names: ``_nm``, ``_ev``, ``_cm``,
``_m`` (mol L⁻¹), ``_um`` (µmol L⁻¹), ``_per_m_cm`` (M⁻¹ cm⁻¹), ``_per_cm`` (cm⁻¹).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
from uncertainties import ufloat, umath
from uncertainties.core import AffineScalarFunc

from characterization.parsers.spectra import first_excitonic_peak_nm
from labdb.lib.errors import EngineError

ENGINE_NAME = "labdb.sizing"
ENGINE_VERSION = "1.0"

HC_EV_NM = 1239.841984  # h·c in eV·nm (CODATA), E[eV] = HC_EV_NM / λ[nm]
AVOGADRO = 6.02214076e23  # mol⁻¹ (SI, exact)
LN10 = math.log(10.0)
#: Absorbances above this are refused: stray light makes them non-linear on common UV-vis
#: spectrometers (dilute the sample); 10 is the Cary's over-range marker.
MAX_ABSORBANCE = 2.0
#: Points of the plotted correlation curve over its validity range.
CURVE_POINTS = 200

#: A float or an ``uncertainties`` number (the package is untyped).
Number: TypeAlias = Any


def _ev(wavelength_nm: float) -> float:
    """Photon energy (eV) of a wavelength (nm)."""
    return HC_EV_NM / wavelength_nm


def _nm(energy_ev: float) -> float:
    """Wavelength (nm) of a photon energy (eV)."""
    return HC_EV_NM / energy_ev


@dataclass(frozen=True)
class Correlation:
    """One published sizing/extinction correlation (see the module docstring).

    ``size_kind``: ``"wavelength_polynomial"`` (D = Σ cᵢ λⁱ, ``size_coefficients`` highest
    power first, λ in nm), ``"energy_inverse"`` (E = e_bulk + 1/(a·D² + b·D + c), solved for D;
    ``size_coefficients`` = (e_bulk, a, b, c)) or ``""`` (the correlation gives no size: the
    diameter must be given, e.g. from TEM).
    ``epsilon_kind``: ``"power"`` (ε = k·D^x M⁻¹ cm⁻¹, coefficients (k, x)), ``"exp_energy"``
    (ε = a + b·exp(−E₁ₛ/w) M⁻¹ cm⁻¹, (a, b, w)), ``"cube_per_um"`` (ε = k·D³ µM⁻¹ cm⁻¹, (k,)).
    ``epsilon_at_nm``: None = at the 1S peak, else the fixed wavelength ε refers to.
    ``peak_range_nm``: the 1S wavelengths accepted (sizing correlations);
    ``diameter_range_nm``: the diameters accepted (every correlation).
    """

    key: str
    label: str
    material: str
    citation: str
    doi: str
    size_equation: str
    epsilon_equation: str
    size_kind: str
    size_coefficients: tuple[float, ...]
    epsilon_kind: str
    epsilon_coefficients: tuple[float, ...]
    epsilon_at_nm: float | None
    peak_range_nm: tuple[float, float] | None
    diameter_range_nm: tuple[float, float]
    range_note: str
    uncertainty: str

    @property
    def sizes(self) -> bool:
        """True when the correlation gives the diameter from the 1S peak."""
        return bool(self.size_kind)

    def as_json(self) -> dict:
        """The entry as the API, the start page and the stored quantities show it."""
        return {
            "key": self.key, "label": self.label, "material": self.material,
            "citation": self.citation, "doi": self.doi,
            "size_equation": self.size_equation, "epsilon_equation": self.epsilon_equation,
            "sizes": self.sizes, "epsilon_at_nm": self.epsilon_at_nm,
            "peak_range_nm": list(self.peak_range_nm) if self.peak_range_nm else None,
            "peak_range_ev": ([_ev(self.peak_range_nm[1]), _ev(self.peak_range_nm[0])]
                              if self.peak_range_nm else None),
            "diameter_range_nm": list(self.diameter_range_nm),
            "range_note": self.range_note, "uncertainty": self.uncertainty,
        }


_YU = ("Yu, W. W.; Qu, L.; Guo, W.; Peng, X. Experimental Determination of the Extinction "
       "Coefficient of CdTe, CdSe, and CdS Nanocrystals. Chem. Mater. 2003, 15, 2854–2860")
_YU_RANGE = ("λ range of the sizes the fits were made on (the paper's Figure 2), as labdb "
             "takes it; the paper warns the fitting functions may not hold outside it.")
_YU_ERR = ("No uncertainty of the fitting functions is transcribed; state one as "
           "epsilon_rel_err if you want it propagated.")

CORRELATIONS: dict[str, Correlation] = {c.key: c for c in (
    Correlation(
        key="yu2003_cdse", label="CdSe — Yu et al. 2003", material="CdSe",
        citation=_YU, doi="10.1021/cm034081k",
        size_equation="D = 1.6122e-9·λ⁴ − 2.6575e-6·λ³ + 1.6242e-3·λ² − 0.4277·λ + 41.57 "
                      "(D nm, λ nm; the empirical fitting function of Figure 2)",
        epsilon_equation="ε(1S) = 5857·D^2.65 M⁻¹ cm⁻¹ (the paper's power law for CdSe)",
        size_kind="wavelength_polynomial",
        size_coefficients=(1.6122e-9, -2.6575e-6, 1.6242e-3, -0.4277, 41.57),
        epsilon_kind="power", epsilon_coefficients=(5857.0, 2.65), epsilon_at_nm=None,
        peak_range_nm=(450.0, 650.0), diameter_range_nm=(1.9, 7.8),
        range_note=_YU_RANGE, uncertainty=_YU_ERR),
    Correlation(
        key="yu2003_cdte", label="CdTe — Yu et al. 2003", material="CdTe",
        citation=_YU, doi="10.1021/cm034081k",
        size_equation="D = 9.8127e-7·λ³ − 1.7147e-3·λ² + 1.0064·λ − 194.84 (D nm, λ nm)",
        epsilon_equation="ε(1S) = 10043·D^2.12 M⁻¹ cm⁻¹",
        size_kind="wavelength_polynomial",
        size_coefficients=(9.8127e-7, -1.7147e-3, 1.0064, -194.84),
        epsilon_kind="power", epsilon_coefficients=(10043.0, 2.12), epsilon_at_nm=None,
        peak_range_nm=(500.0, 710.0), diameter_range_nm=(2.3, 6.6),
        range_note=_YU_RANGE, uncertainty=_YU_ERR),
    Correlation(
        key="yu2003_cds", label="CdS — Yu et al. 2003", material="CdS",
        citation=_YU, doi="10.1021/cm034081k",
        size_equation="D = −6.6521e-8·λ³ + 1.9557e-4·λ² − 9.2352e-2·λ + 13.29 (D nm, λ nm)",
        epsilon_equation="ε(1S) = 21536·D^2.3 M⁻¹ cm⁻¹",
        size_kind="wavelength_polynomial",
        size_coefficients=(-6.6521e-8, 1.9557e-4, -9.2352e-2, 13.29),
        epsilon_kind="power", epsilon_coefficients=(21536.0, 2.3), epsilon_at_nm=None,
        peak_range_nm=(350.0, 460.0), diameter_range_nm=(2.0, 5.8),
        range_note=_YU_RANGE, uncertainty=_YU_ERR),
    Correlation(
        key="jasieniak2009_cdse", label="CdSe — Jasieniak et al. 2009", material="CdSe",
        citation="Jasieniak, J.; Smith, L.; van Embden, J.; Mulvaney, P.; Califano, M. "
                 "Re-examination of the Size-Dependent Absorption Properties of CdSe Quantum "
                 "Dots. J. Phys. Chem. C 2009, 113, 19468–19474",
        doi="10.1021/jp906827m",
        size_equation="D = 59.60816 − 0.54736·λ + 1.8873e-3·λ² − 2.85743e-6·λ³ + "
                      "1.62974e-9·λ⁴ (D nm, λ nm)",
        epsilon_equation="ε(1S) = 155507 + 6.67054e13·exp(−E₁ₛ/0.10551) M⁻¹ cm⁻¹ (E₁ₛ eV)",
        size_kind="wavelength_polynomial",
        size_coefficients=(1.62974e-9, -2.85743e-6, 1.8873e-3, -0.54736, 59.60816),
        epsilon_kind="exp_energy", epsilon_coefficients=(155507.0, 6.67054e13, 0.10551),
        epsilon_at_nm=None, peak_range_nm=(460.0, 655.0), diameter_range_nm=(2.0, 7.8),
        range_note="λ range where the sizing function gives 2–8 nm, the sizes the paper "
                   "calibrated on (TEM).",
        uncertainty="ε at the 1S peak depends on the ensemble's linewidth (the paper's "
                    "samples); no uncertainty is transcribed; state one as epsilon_rel_err."),
    Correlation(
        key="moreels2009_pbs", label="PbS — Moreels et al. 2009", material="PbS",
        citation="Moreels, I.; Lambert, K.; Smeets, D.; De Muynck, D.; Nollet, T.; Martins, "
                 "J. C.; Vanhaecke, F.; Vantomme, A.; Delerue, C.; Allan, G.; Hens, Z. "
                 "Size-Dependent Optical Properties of Colloidal PbS Quantum Dots. ACS Nano "
                 "2009, 3, 3023–3030",
        doi="10.1021/nn900863a",
        size_equation="E₁ₛ = 0.41 + 1/(0.0252·D² + 0.283·D) (E eV, D nm), solved for D",
        epsilon_equation="ε(400 nm) = 0.0233·D³ µM⁻¹ cm⁻¹ (as seed 004 also cites it)",
        size_kind="energy_inverse", size_coefficients=(0.41, 0.0252, 0.283, 0.0),
        epsilon_kind="cube_per_um", epsilon_coefficients=(0.0233,), epsilon_at_nm=400.0,
        peak_range_nm=(_nm(1.5), _nm(0.7)), diameter_range_nm=(2.6, 7.4),
        range_note="1S between 0.7 and 1.5 eV (827–1771 nm), a conservative part of the "
                   "paper's size series taken by labdb.",
        uncertainty="No uncertainty transcribed; state one as epsilon_rel_err."),
    Correlation(
        key="moreels2007_pbse", label="PbSe — Moreels et al. 2007", material="PbSe",
        citation="Moreels, I.; Lambert, K.; De Muynck, D.; Vanhaecke, F.; Poelman, D.; "
                 "Martins, J. C.; Allan, G.; Hens, Z. Composition and Size-Dependent "
                 "Extinction Coefficient of Colloidal PbSe Quantum Dots. Chem. Mater. 2007, "
                 "19, 6101–6106",
        doi="10.1021/cm071410q",
        size_equation="E₁ₛ = 0.278 + 1/(0.016·D² + 0.209·D + 0.45) (E eV, D nm), solved for D",
        epsilon_equation="ε(400 nm) = 0.0277·D³ µM⁻¹ cm⁻¹ (as seed 004 also cites it)",
        size_kind="energy_inverse", size_coefficients=(0.278, 0.016, 0.209, 0.45),
        epsilon_kind="cube_per_um", epsilon_coefficients=(0.0277,), epsilon_at_nm=400.0,
        peak_range_nm=(_nm(1.2), _nm(0.55)), diameter_range_nm=(2.5, 9.1),
        range_note="1S between 0.55 and 1.2 eV (1033–2254 nm), a conservative part of the "
                   "paper's size series taken by labdb.",
        uncertainty="No uncertainty transcribed; state one as epsilon_rel_err."),
    Correlation(
        key="seed004_hgse", label="HgSe — seed 004 (ε at 400 nm, diameter given)",
        material="HgSe",
        citation="Seed 004 (HgSe / HgxCd1−xSe by cation exchange), text of Figure 1: "
                 "absorbance of HgSe NCs at 400 nm proportional to 0.0317·d³ cm⁻¹ µM⁻¹",
        doi="",
        size_equation="none: the paper gives no size–1S correlation for HgSe; give the "
                      "diameter (e.g. TEM)",
        epsilon_equation="ε(400 nm) = 0.0317·D³ µM⁻¹ cm⁻¹",
        size_kind="", size_coefficients=(),
        epsilon_kind="cube_per_um", epsilon_coefficients=(0.0317,), epsilon_at_nm=400.0,
        peak_range_nm=None, diameter_range_nm=(2.3, 4.0),
        range_note="the size series of the paper: 2.3–4.0 nm HgSe from CdSe.",
        uncertainty="No uncertainty stated; state one as epsilon_rel_err."),
)}



# ---------------------------------------------------------------- the equations


def correlation(key: str) -> Correlation:
    """The table entry ``key``; EngineError naming ``parameters.correlation`` otherwise."""
    try:
        return CORRELATIONS[key]
    except KeyError:
        raise EngineError(f"parameters.correlation: no correlation {key!r}; known: "
                          f"{', '.join(CORRELATIONS)}.") from None


def correlation_table() -> list[dict]:
    """Every correlation as JSON (material, equations, citation, DOI, ranges)."""
    return [c.as_json() for c in CORRELATIONS.values()]


def diameter_nm(corr: Correlation, peak_nm: Number) -> Number:
    """D (nm) of the 1S peak at ``peak_nm`` by ``corr``'s sizing equation (no range check).

    Works on floats and on ``uncertainties`` numbers (the error is propagated)."""
    if corr.size_kind == "wavelength_polynomial":
        value: Number = 0.0
        for coefficient in corr.size_coefficients:  # Horner, highest power first
            value = value * peak_nm + coefficient
        return value
    if corr.size_kind == "energy_inverse":
        e_bulk, a, b, c = corr.size_coefficients
        energy = HC_EV_NM / peak_nm
        # a·D² + b·D + (c − 1/(E − E_bulk)) = 0, the positive root
        rest = c - 1.0 / (energy - e_bulk)
        return (-b + umath.sqrt(b * b - 4.0 * a * rest)) / (2.0 * a)
    raise EngineError(f"parameters.correlation: {corr.label} gives no size from the 1S peak; "
                      "give parameters.diameter_nm.")


def peak_nm_of_diameter(corr: Correlation, d_nm: float) -> float:
    """The 1S wavelength (nm) ``corr`` assigns to diameter ``d_nm`` (inverse of
    :func:`diameter_nm`, by bisection inside the validity range for polynomials)."""
    if corr.size_kind == "energy_inverse":
        e_bulk, a, b, c = corr.size_coefficients
        return HC_EV_NM / (e_bulk + 1.0 / (a * d_nm ** 2 + b * d_nm + c))
    assert corr.peak_range_nm is not None
    lo, hi = corr.peak_range_nm
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if float(diameter_nm(corr, mid)) < d_nm:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def epsilon_per_m_cm(corr: Correlation, d_nm: Number, peak_ev: Number | None) -> Number:
    """ε (M⁻¹ cm⁻¹, per mole of particles) by ``corr`` for diameter ``d_nm`` (and the 1S
    energy ``peak_ev`` for ε(E) correlations), at the 1S peak or at ``corr.epsilon_at_nm``."""
    k = corr.epsilon_coefficients
    if corr.epsilon_kind == "power":
        return k[0] * d_nm ** k[1]
    if corr.epsilon_kind == "exp_energy":
        if peak_ev is None:
            raise EngineError(f"parameters.correlation: {corr.label} needs the 1S energy.")
        return k[0] + k[1] * umath.exp(-peak_ev / k[2])
    if corr.epsilon_kind == "cube_per_um":
        return k[0] * d_nm ** 3 * 1e6  # µM⁻¹ cm⁻¹ → M⁻¹ cm⁻¹
    raise EngineError(f"parameters.correlation: unknown ε form {corr.epsilon_kind!r}.")


def check_peak_in_range(corr: Correlation, peak_nm: float, field: str) -> None:
    """EngineError naming ``field`` when the 1S peak lies outside ``corr``'s validity range
    (labdb does not extrapolate a sizing curve)."""
    if corr.peak_range_nm is None:
        return
    lo, hi = corr.peak_range_nm
    if not lo <= peak_nm <= hi:
        raise EngineError(
            f"{field}: the 1S peak at {peak_nm:.1f} nm ({_ev(peak_nm):.3f} eV) lies outside "
            f"the range of {corr.label} ({lo:.0f}–{hi:.0f} nm, {_ev(hi):.3f}–{_ev(lo):.3f} eV); "
            "labdb does not extrapolate a sizing curve — choose a correlation whose range "
            "holds the peak.")


def check_diameter_in_range(corr: Correlation, d_nm: float, field: str) -> None:
    """EngineError naming ``field`` when ``d_nm`` lies outside ``corr``'s diameter range."""
    lo, hi = corr.diameter_range_nm
    if not lo <= d_nm <= hi:
        raise EngineError(
            f"{field}: a diameter of {d_nm:.2f} nm lies outside the range of {corr.label} "
            f"({lo}–{hi} nm); labdb does not extrapolate the correlation.")


def check_absorbance(value: float, field: str) -> None:
    """EngineError naming ``field`` for a non-positive or saturated absorbance."""
    if not math.isfinite(value) or value <= 0:
        raise EngineError(f"{field}: the absorbance is {value:.4g}; a positive absorbance "
                          "(baseline-corrected, above the noise) is needed for a concentration.")
    if value > MAX_ABSORBANCE:
        raise EngineError(f"{field}: the absorbance is {value:.3g}, above {MAX_ABSORBANCE} "
                          "where spectrometers saturate (stray light); dilute the sample and "
                          "measure again.")


def volume_fraction(concentration_m: Number, d_nm: Number) -> Number:
    """f_V of spheres of diameter ``d_nm`` at ``concentration_m`` (mol of particles per L):
    c · N_A · (π/6)·D³, with 1 nm³ = 1e-24 L."""
    return concentration_m * AVOGADRO * (math.pi / 6.0) * d_nm ** 3 * 1e-24


def intrinsic_absorption_per_cm(absorbance: Number, f_v: Number, path_cm: Number) -> Number:
    """Eq. 4 of seed 004: μ = ln(10)·A / (f_V·L) in cm⁻¹."""
    return LN10 * absorbance / (f_v * path_cm)


# ---------------------------------------------------------------- spectra


def _sorted_spectrum(wavelength_nm: Sequence[float], absorbance: Sequence[float],
                     field: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(wavelength_nm, dtype=float)
    y = np.asarray(absorbance, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 5:
        raise EngineError(f"{field}: the spectrum has {x.size} finite points; at least 5 "
                          "are needed.")
    order = np.argsort(x, kind="stable")
    return x[order], y[order]


def find_1s_peak(wavelength_nm: Sequence[float], absorbance: Sequence[float], *,
                 field: str = "inputs.absorption", half_window: int = 2) -> dict:
    """The first excitonic (1S) peak of an absorption spectrum.

    The coarse peak is the parser's (``first_excitonic_peak_nm``: the first local maximum
    from the red side above the noise), refined by a least-squares parabola in energy
    through the ``2·half_window + 1`` points around it; ``peak_err_nm`` is the vertex's
    standard error from the fit covariance, at least a tenth of the local sampling step.
    Returns ``peak_nm``, ``peak_err_nm``, ``peak_ev``, ``grid_peak_nm``, ``absorbance``
    (the parabola's value at the vertex) and ``window_nm``. EngineError naming ``field``
    when the spectrum has no excitonic maximum.
    """
    x, y = _sorted_spectrum(wavelength_nm, absorbance, field)
    try:
        coarse = first_excitonic_peak_nm(x, y)
    except ValueError as exc:
        raise EngineError(f"{field}: no excitonic (1S) maximum found in the spectrum "
                          f"({exc}); type the 1S wavelength instead.") from None
    i = int(np.argmin(np.abs(x - coarse)))
    lo, hi = max(0, i - half_window), min(x.size, i + half_window + 1)
    step = float(np.median(np.diff(x[lo:hi]))) if hi - lo > 1 else 0.0
    result = {"grid_peak_nm": float(x[i]), "window_nm": [float(x[lo]), float(x[hi - 1])]}
    if hi - lo >= 4:
        energy = HC_EV_NM / x[lo:hi]
        coeffs, cov = np.polyfit(energy, y[lo:hi], 2, cov=True)
        if coeffs[0] < 0 and np.all(np.isfinite(cov)):
            from uncertainties import correlated_values

            a, b, c = correlated_values(coeffs, cov)
            vertex_ev = -b / (2.0 * a)
            if energy.min() <= vertex_ev.nominal_value <= energy.max():
                vertex_nm = HC_EV_NM / vertex_ev
                return {**result, "peak_nm": float(vertex_nm.nominal_value),
                        "peak_err_nm": max(float(vertex_nm.std_dev), 0.1 * step),
                        "peak_ev": float(vertex_ev.nominal_value),
                        "absorbance": float((a * vertex_ev ** 2 + b * vertex_ev
                                             + c).nominal_value),
                        "refined": True}
    return {**result, "peak_nm": float(x[i]), "peak_err_nm": 0.5 * step,
            "peak_ev": _ev(float(x[i])), "absorbance": float(y[i]), "refined": False}


def absorbance_at(wavelength_nm: Sequence[float], absorbance: Sequence[float], at_nm: float,
                  *, field: str = "inputs.absorption") -> tuple[float, float]:
    """(A, σ_A) at ``at_nm`` by linear interpolation; σ_A is the spectrum's noise level
    (:func:`noise_level`). EngineError naming ``field`` when ``at_nm`` is outside the data
    or the spectrum is saturated there (Cary over-range 10 or above ``MAX_ABSORBANCE``)."""
    x, y = _sorted_spectrum(wavelength_nm, absorbance, field)
    if not x[0] <= at_nm <= x[-1]:
        raise EngineError(f"{field}: {at_nm:g} nm is outside the spectrum "
                          f"({x[0]:g}–{x[-1]:g} nm); measure it there or type the absorbance.")
    j = int(np.searchsorted(x, at_nm))
    near = y[max(0, j - 1):j + 1]
    if np.any(near >= 9.999):
        raise EngineError(f"{field}: the spectrum is saturated (over range) at {at_nm:g} nm; "
                          "dilute the sample and measure again.")
    return float(np.interp(at_nm, x, y)), noise_level(y)


def noise_level(absorbance: Sequence[float] | np.ndarray) -> float:
    """Robust white-noise σ of a spectrum: 1.4826·median|Δ²A|/√6 (second differences, so a
    smooth slope does not count as noise)."""
    d2 = np.diff(np.asarray(absorbance, dtype=float), n=2)
    d2 = d2[np.isfinite(d2)]
    return float(1.4826 * np.median(np.abs(d2)) / math.sqrt(6.0)) if d2.size else 0.0


# ---------------------------------------------------------------- one computation


@dataclass(frozen=True)
class SizingRequest:
    """What one sizing computation reads (see :func:`compute_sizing`).

    ``peak_nm``/``peak_err_nm``: the 1S peak (None for a correlation that gives no size);
    ``peak_field``: where it came from, for messages (``parameters.peak_1s_nm`` or
    ``inputs.absorption``). ``diameter_nm``/``diameter_err_nm``: a given diameter (for
    correlations without a sizing equation). ``absorbance``/``absorbance_err``: A at ε's
    wavelength; ``absorbance_field`` names where it came from. ``mu_absorbance``: A at the
    wavelength eq. 4 is asked at (None: the same as ``absorbance``), ``mu_wavelength_nm``.
    ``volume_fraction``: f_V for eq. 4 (None: from the concentration and D).
    """

    correlation: str
    path_cm: float = 1.0
    path_err_cm: float = 0.0
    dilution: float = 1.0
    dilution_err: float = 0.0
    epsilon_rel_err: float = 0.0
    peak_nm: float | None = None
    peak_err_nm: float = 0.0
    peak_field: str = "parameters.peak_1s_nm"
    diameter_nm: float | None = None
    diameter_err_nm: float = 0.0
    absorbance: float | None = None
    absorbance_err: float = 0.0
    absorbance_field: str = "parameters.absorbance"
    mu_absorbance: float | None = None
    mu_absorbance_err: float = 0.0
    mu_wavelength_nm: float | None = None
    volume_fraction: float | None = None
    volume_fraction_err: float = 0.0


def _u(value: float, err: float, tag: str) -> Number:
    """``value ± err`` as an uncertainties number, or the plain float when err is 0 (a
    zero-σ Variable only adds warnings)."""
    return ufloat(value, err, tag) if err > 0 else float(value)


def _nominal(x: Number) -> float:
    return float(x.nominal_value) if isinstance(x, AffineScalarFunc) else float(x)


def _value(x: Number | None) -> dict:
    if x is None:
        return {"value": None, "err": None}
    if isinstance(x, AffineScalarFunc):
        nominal, err = float(x.nominal_value), float(x.std_dev)
    else:
        nominal, err = float(x), 0.0
    return {"value": _finite(nominal), "err": _finite(err)}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def check_request(req: SizingRequest) -> Correlation:
    """Every check that needs no spectrum: the correlation, the 1S peak or diameter inside
    its range, positive unsaturated absorbances. EngineError naming the field."""
    corr = correlation(req.correlation)
    if corr.sizes:
        if req.peak_nm is None:
            raise EngineError(f"{req.peak_field}: {corr.label} sizes from the 1S peak; give "
                              "the 1S wavelength or an absorption measurement that has it.")
        check_peak_in_range(corr, req.peak_nm, req.peak_field)
    elif req.diameter_nm is None:
        raise EngineError(f"parameters.diameter_nm: {corr.label} gives no size from the 1S "
                          "peak; give the diameter (nm), e.g. from TEM.")
    else:
        check_diameter_in_range(corr, req.diameter_nm, "parameters.diameter_nm")
    if req.absorbance is not None:
        check_absorbance(req.absorbance, req.absorbance_field)
    if req.mu_absorbance is not None:
        check_absorbance(req.mu_absorbance, "parameters.mu_absorbance")
    return corr


def compute_sizing(req: SizingRequest) -> dict:
    """Size, ε, concentration and μ (eq. 4) with propagated 1σ errors, and the correlation's
    curve over its validity range for the plot. Raises EngineError naming the field for a
    peak or diameter outside the correlation's range and for bad absorbances."""
    corr = check_request(req)
    peak = None if req.peak_nm is None else _u(req.peak_nm, req.peak_err_nm, "peak_1s")
    peak_ev = None if peak is None else HC_EV_NM / peak
    if corr.sizes:
        assert peak is not None
        d: Number = diameter_nm(corr, peak)
        check_diameter_in_range(corr, _nominal(d), req.peak_field)
    else:
        assert req.diameter_nm is not None
        d = _u(req.diameter_nm, req.diameter_err_nm, "diameter")
    eps = epsilon_per_m_cm(corr, d, peak_ev) * _u(1.0, req.epsilon_rel_err, "epsilon")
    epsilon_at = corr.epsilon_at_nm if corr.epsilon_at_nm is not None else req.peak_nm
    out: dict[str, Any] = {
        "engine": {"name": ENGINE_NAME, "version": ENGINE_VERSION},
        "correlation": corr.as_json(),
        "peak_1s_nm": _value(peak), "peak_1s_ev": _value(peak_ev),
        "diameter_nm": _value(d), "diameter_from": "correlation" if corr.sizes else "given",
        "epsilon_per_m_cm": _value(eps), "epsilon_at_nm": epsilon_at,
        "path_length_cm": req.path_cm, "dilution_factor": req.dilution,
        "concentration_um": _value(None), "measured_concentration_um": _value(None),
        "intrinsic_absorption": None,
    }
    if req.absorbance is not None:
        path = _u(req.path_cm, req.path_err_cm, "path")
        absorbance = _u(req.absorbance, req.absorbance_err, "absorbance")
        measured_m = absorbance / (eps * path)
        stock_m = measured_m * _u(req.dilution, req.dilution_err, "dilution")
        out.update(absorbance={"value": req.absorbance, "err": req.absorbance_err,
                               "at_nm": epsilon_at},
                   measured_concentration_um=_value(measured_m * 1e6),
                   concentration_um=_value(stock_m * 1e6))
        out["intrinsic_absorption"] = _intrinsic(req, absorbance, measured_m, d, path,
                                                 epsilon_at)
    out["curve"] = correlation_curve(corr)
    return out


def _intrinsic(req: SizingRequest, absorbance: Number, measured_m: Number, d: Number,
               path: Number, epsilon_at: float | None) -> dict:
    """Eq. 4 at the asked wavelength (default: ε's), f_V given or from c and D."""
    if req.mu_absorbance is not None:
        a_mu: Number = _u(req.mu_absorbance, req.mu_absorbance_err, "mu_absorbance")
        at = req.mu_wavelength_nm
    else:
        a_mu, at = absorbance, epsilon_at
    if req.volume_fraction is not None:
        f_v: Number = _u(req.volume_fraction, req.volume_fraction_err, "volume_fraction")
        source = "given"
    else:
        f_v, source = volume_fraction(measured_m, d), "from the concentration and D (spheres)"
    mu = intrinsic_absorption_per_cm(a_mu, f_v, path)
    return {"mu_per_cm": _value(mu), "at_nm": at, "absorbance": _value(a_mu),
            "volume_fraction": _value(f_v), "volume_fraction_from": source,
            "equation": "μ = ln(10)·A/(f_V·L) (seed 004 eq. 4)"}


def correlation_curve(corr: Correlation, points: int = CURVE_POINTS) -> dict:
    """The correlation over its validity range: 1S wavelength/energy, D and ε (sizing
    correlations), or D and ε (ε-only ones); plain lists for the plot."""
    if corr.sizes:
        assert corr.peak_range_nm is not None
        lam = np.linspace(corr.peak_range_nm[0], corr.peak_range_nm[1], points)
        d = np.array([float(diameter_nm(corr, float(v))) for v in lam])
        eps = [float(epsilon_per_m_cm(corr, float(di), _ev(float(li))))
               for di, li in zip(d, lam, strict=True)]
        return {"peak_1s_nm": lam.tolist(), "peak_1s_ev": (HC_EV_NM / lam).tolist(),
                "diameter_nm": d.tolist(), "epsilon_per_m_cm": eps}
    d = np.linspace(corr.diameter_range_nm[0], corr.diameter_range_nm[1], points)
    return {"peak_1s_nm": None, "peak_1s_ev": None, "diameter_nm": d.tolist(),
            "epsilon_per_m_cm": [float(epsilon_per_m_cm(corr, float(v), None)) for v in d]}

