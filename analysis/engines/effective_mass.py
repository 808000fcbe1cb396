"""Effective-mass electron and hole ground states of spherical concentric-layer nanocrystals,
their overlap and the electron's surface localization (seed 004, its eqs. 2–3).

Model (seed 004 Methods, "EMA calculations", after Haus et al. and Smith et al.): spherically
symmetric layers i with outer radius r_i, each with an electron and a hole effective mass
(m_e, m_h in units of m₀) and band edges given as offsets to the surrounding medium: the
electron's potential is V_e = ΔE_C (≤ 0 is a well) and the hole's V_h = −ΔE_V, both 0 outside
the crystal. Seed 004's parameters (its Methods): m_e = 0.112 (CdSe), 0.042 (HgSe);
m_h = 0.469 (CdSe), 0.019 (HgSe); ε∞ = 6.2 (CdSe), 16.5 (HgSe); ΔE_C = −1.36 eV (CdSe),
−2.69 eV (HgSe); ΔE_V = 0.60 eV (CdSe), 1.07 eV (HgSe); Hg_xCd_{1−x}Se by linear interpolation
in x. Read as band-edge offsets from a medium with its CB at 0 and VB at −3.70 eV, the bulk
gap E_g = 3.70 eV + ΔE_C − ΔE_V is 1.74 eV (CdSe) and −0.06 eV (HgSe), the bulk gaps seed 004
uses. Outside: m = 1 (free electron mass), V = 0.

Equation (l = 0, BenDaniel–Duke): −(ħ²/2) r⁻² d/dr [r² m(r)⁻¹ dR/dr] + V(r) R = E R,
R finite at 0, R → 0 far outside; R and m⁻¹ dR/dr continuous at every interface.

Numerics: cell-centred finite volumes (r_j = (j − ½)h, faces at j·h, interfaces moved to the
nearest face, the face r = 0 carrying no flux), face mass 1/m = 2/(m_left + m_right) (the
series combination that keeps the flux m⁻¹ dR/dr continuous), the weighted symmetric problem
W^{-½} A W^{-½} y = E y with W = diag(r_j²) solved for its lowest eigenvalue by
``scipy.linalg.eigh_tridiagonal``. The grid extends ``box_margin_nm`` beyond the crystal with
R = 0 at its end. Wavefunctions normalised to ∫ 4π r² ψ² dr = 1 and made positive.

    φ_total  = ∫₀^∞ 4π r² ψ_e ψ_h dr                              (seed 004 eq. 2)
    φ_e,surf = ∫_{r_NC − a_c/4}^∞ 4π r² ψ_e² dr                   (seed 004 eq. 3)

a_c is the cubic lattice parameter of the outer layer (seed 004 gives none: zinc-blende CdSe
6.052 Å and HgSe 6.084 Å are used, interpolated in x; both parameters).
Optional Coulomb term (first-order perturbation, one dielectric constant ε∞ of the
volume-averaged composition, s states): E_C = −(e²/4πε₀ε∞) ∫∫ P_e(r₁) P_h(r₂) / max(r₁, r₂),
P = 4π r² ψ². Confinement energies E_e, E_h are measured from the medium's band edges
(0 = the medium's CB for electrons; 0 = the medium's VB for holes, downward positive); the
1S–1S gap is E_g,medium + E_e + E_h + E_C with E_g,medium = ``medium_gap_ev``.

Units: radii nm, energies eV, masses m₀, a_c Å. Errors: EngineError naming ``layers``,
``grid_nm`` or ``box_margin_nm``; no bound state in a layer stack is refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from labdb.lib.errors import EngineError

ENGINE_NAME = "labdb.effective_mass"
ENGINE_VERSION = "1.0"

HBAR2_OVER_2M0_EV_NM2 = 0.0380998212  # ħ²/(2 m₀) in eV nm² (CODATA 2018)
COULOMB_EV_NM = 1.439964548  # e²/(4πε₀) in eV nm

# Seed 004 Methods (masses, ε∞, band offsets); lattice parameters: zinc-blende literature
# values (seed 004 names a_c but prints none).
MATERIALS: dict[str, dict[str, float]] = {
    "CdSe": {"m_e": 0.112, "m_h": 0.469, "eps_inf": 6.2, "delta_ec_ev": -1.36,
             "delta_ev_ev": 0.60, "lattice_a": 6.052},
    "HgSe": {"m_e": 0.042, "m_h": 0.019, "eps_inf": 16.5, "delta_ec_ev": -2.69,
             "delta_ev_ev": 1.07, "lattice_a": 6.084},
}
MEDIUM_GAP_EV = 3.70  # the medium's gap implied by seed 004's offsets and bulk gaps


@dataclass(frozen=True)
class Layer:
    """One shell from the previous layer's radius to ``outer_radius_nm``."""

    outer_radius_nm: float
    m_e: float
    m_h: float
    delta_ec_ev: float
    delta_ev_ev: float
    eps_inf: float = 1.0
    lattice_a: float = 6.05
    label: str = ""


def alloy_layer(x_hg: float, outer_radius_nm: float, label: str = "") -> Layer:
    """Hg_xCd_{1−x}Se with every parameter interpolated linearly in x (seed 004)."""
    if not 0.0 <= x_hg <= 1.0:
        raise EngineError(f"layers: Hg fraction x = {x_hg} is outside 0…1.", field="layers")
    cd, hg = MATERIALS["CdSe"], MATERIALS["HgSe"]
    mix = {k: (1 - x_hg) * cd[k] + x_hg * hg[k] for k in cd}
    return Layer(outer_radius_nm=outer_radius_nm, label=label or f"Hg{x_hg:g}Cd{1 - x_hg:g}Se",
                 **mix)


@dataclass(frozen=True)
class Medium:
    """The surroundings: effective masses (m₀) and potentials (eV) of electron and hole."""

    m_e: float = 1.0
    m_h: float = 1.0
    v_e_ev: float = 0.0
    v_h_ev: float = 0.0


@dataclass(frozen=True)
class Grid:
    step_nm: float = 0.002
    box_margin_nm: float = 2.0


def _check(layers: Sequence[Layer], grid: Grid) -> None:
    if not layers:
        raise EngineError("layers: give at least one layer.", field="layers")
    radii = [layer.outer_radius_nm for layer in layers]
    if any(not (r > 0) for r in radii) or any(b <= a for a, b in zip(radii, radii[1:])):
        raise EngineError("layers: outer radii must be positive and increase outwards (nm).",
                          field="layers")
    if any(not (m > 0) for layer in layers for m in (layer.m_e, layer.m_h)):
        raise EngineError("layers: effective masses must be positive (units of m₀).",
                          field="layers")
    if not (0 < grid.step_nm <= 0.05):
        raise EngineError("grid_nm: the radial step must be in (0, 0.05] nm.", field="grid_nm")
    if not (grid.box_margin_nm >= 0.5):
        raise EngineError("box_margin_nm: keep at least 0.5 nm of medium outside the crystal.",
                          field="box_margin_nm")
    inner = min(min(b - a for a, b in zip([0.0, *radii], radii)), radii[0])
    if inner < 2 * grid.step_nm:
        raise EngineError(f"grid_nm: the thinnest layer ({inner:g} nm) needs a finer step.",
                          field="grid_nm")


def _profiles(layers: Sequence[Layer], medium: Medium, r: np.ndarray, carrier: str
              ) -> tuple[np.ndarray, np.ndarray]:
    """Mass (m₀) and potential (eV) in each cell for ``carrier`` 'e' or 'h'."""
    mass = np.full(r.shape, medium.m_e if carrier == "e" else medium.m_h)
    pot = np.full(r.shape, medium.v_e_ev if carrier == "e" else medium.v_h_ev)
    inner = 0.0
    for layer in layers:
        inside = (r > inner) & (r < layer.outer_radius_nm)
        mass[inside] = layer.m_e if carrier == "e" else layer.m_h
        pot[inside] = layer.delta_ec_ev if carrier == "e" else -layer.delta_ev_ev
        inner = layer.outer_radius_nm
    return mass, pot


def radial_ground_state(mass: np.ndarray, potential_ev: np.ndarray, step_nm: float
                        ) -> tuple[float, np.ndarray]:
    """Lowest l = 0 eigenpair of −(ħ²/2) r⁻² (r² m⁻¹ R')' + V R = E R on cells r_j = (j−½)h
    (masses in m₀, V in eV, h in nm): (E in eV, R normalised to Σ 4π r² R² h = 1, R ≥ 0)."""
    n = mass.size
    h = step_nm
    r = (np.arange(n) + 0.5) * h
    faces = np.arange(1, n + 1) * h  # face j+½ between cell j and j+1; the last is the wall
    inv_m_face = np.empty(n)
    inv_m_face[:-1] = 2.0 / (mass[:-1] + mass[1:])
    inv_m_face[-1] = 1.0 / mass[-1]  # R = 0 at the next cell centre (the box wall)
    flux = HBAR2_OVER_2M0_EV_NM2 * faces**2 * inv_m_face / h**2
    diag = potential_ev * r**2 + flux + np.concatenate([[0.0], flux[:-1]])
    off = -flux[:-1]
    scale = 1.0 / r  # W^{-1/2}
    values, vectors = linalg.eigh_tridiagonal(diag * scale**2, off * scale[:-1] * scale[1:],
                                              select="i", select_range=(0, 0))
    radial = vectors[:, 0] * scale
    norm = math.sqrt(float(np.sum(4 * math.pi * r**2 * radial**2) * h))
    radial = radial / norm
    if radial[np.argmax(np.abs(radial))] < 0:
        radial = -radial
    return float(values[0]), radial


def _coulomb_ev(r: np.ndarray, p_e: np.ndarray, p_h: np.ndarray, h: float, eps: float) -> float:
    """−(e²/4πε₀ε) ∫∫ P_e(r1) P_h(r2)/max(r1, r2) dr1 dr2 (s states), P = 4π r² ψ²."""
    # ∫∫ P_e P_h / max = Σ_i P_e,i [ (1/r_i) Σ_{j≤i} P_h,j + Σ_{j>i} P_h,j / r_j ] h²
    cum_h = np.cumsum(p_h) * h
    tail = (np.cumsum((p_h / r)[::-1])[::-1] - p_h / r) * h
    inner = cum_h / r + tail
    return -COULOMB_EV_NM / eps * float(np.sum(p_e * inner) * h)


def solve_overlap(layers: Sequence[Layer], *, medium: Medium = Medium(), grid: Grid = Grid(),
                  coulomb: bool = True, medium_gap_ev: float = MEDIUM_GAP_EV) -> dict:
    """Electron and hole ground states of ``layers`` in ``medium``; overlap (eq. 2), electron
    surface localization (eq. 3), confinement energies, 1S–1S gap; plain JSON with the radial
    wavefunctions (nm⁻³ᐟ²) and potentials for plotting. EngineError for bad layers or a
    carrier without a bound state."""
    _check(layers, grid)
    r_nc = layers[-1].outer_radius_nm
    n = int(round((r_nc + grid.box_margin_nm) / grid.step_nm))
    h = (r_nc + grid.box_margin_nm) / n
    r = (np.arange(n) + 0.5) * h
    states = {}
    for carrier in ("e", "h"):
        mass, pot = _profiles(layers, medium, r, carrier)
        energy, psi = radial_ground_state(mass, pot, h)
        barrier = medium.v_e_ev if carrier == "e" else medium.v_h_ev
        if energy >= barrier:
            raise EngineError(
                f"layers: the {'electron' if carrier == 'e' else 'hole'} has no bound state "
                f"(lowest level {energy:.3f} eV at or above the medium's band edge).",
                field="layers")
        states[carrier] = (energy, psi, pot, mass)
    psi_e, psi_h = states["e"][1], states["h"][1]
    weight = 4 * math.pi * r**2 * h
    overlap = float(np.sum(weight * psi_e * psi_h))
    a_c_nm = layers[-1].lattice_a / 10.0
    surface = r >= r_nc - a_c_nm / 4.0
    surf_e = float(np.sum((weight * psi_e**2)[surface]))
    surf_h = float(np.sum((weight * psi_h**2)[surface]))
    volumes = np.diff([0.0, *[layer.outer_radius_nm**3 for layer in layers]])
    eps = float(np.dot(volumes, [layer.eps_inf for layer in layers]) / volumes.sum())
    e_coul = (_coulomb_ev(r, weight / h * psi_e**2, weight / h * psi_h**2, h, eps)
              if coulomb else None)
    e_e, e_h = states["e"][0], states["h"][0]
    gap = medium_gap_ev + e_e + e_h + (e_coul or 0.0)
    keep = r <= r_nc + min(grid.box_margin_nm, 1.0)
    stride = max(1, int(keep.sum() // 600))
    return {
        "engine": {"name": ENGINE_NAME, "version": ENGINE_VERSION},
        "model": "effective mass, l = 0, BenDaniel–Duke, finite wells (seed 004 eqs. 2–3)",
        "overlap": overlap, "electron_surface_fraction": surf_e,
        "hole_surface_fraction": surf_h,
        "surface_shell_nm": a_c_nm / 4.0, "nc_radius_nm": r_nc,
        "electron_energy_ev": e_e, "hole_energy_ev": e_h,
        "coulomb_ev": e_coul, "eps_inf": eps, "gap_1s_ev": gap, "medium_gap_ev": medium_gap_ev,
        "grid": {"step_nm": h, "box_nm": r_nc + grid.box_margin_nm, "cells": n},
        "layers": [{"label": layer.label, "outer_radius_nm": layer.outer_radius_nm,
                    "m_e": layer.m_e, "m_h": layer.m_h, "delta_ec_ev": layer.delta_ec_ev,
                    "delta_ev_ev": layer.delta_ev_ev, "eps_inf": layer.eps_inf,
                    "lattice_a": layer.lattice_a} for layer in layers],
        "medium": {"m_e": medium.m_e, "m_h": medium.m_h, "v_e_ev": medium.v_e_ev,
                   "v_h_ev": medium.v_h_ev},
        "curves": {"r_nm": r[keep][::stride].tolist(),
                   "psi_e": psi_e[keep][::stride].tolist(),
                   "psi_h": psi_h[keep][::stride].tolist(),
                   "v_e_ev": states["e"][2][keep][::stride].tolist(),
                   "v_h_ev": states["h"][2][keep][::stride].tolist()},
    }
