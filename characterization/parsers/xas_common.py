"""μ(E) construction and key numbers shared by the XAS parsers (XDI, Athena, beamline ASCII)."""

from __future__ import annotations

import re

import numpy as np

from . import spectra
from .base import Series

GIVEN_MU_NAMES = ("mutrans", "mufluor", "mu", "xmu", "mu_trans", "mu_fluor", "mu01")
I0_NAMES = ("i0", "io", "i0_eh1", "izero")
IT_NAMES = ("itrans", "it", "i1", "i1_eh1", "itransmission")
IF_NAMES = ("ifluor", "if", "ifl", "fluor", "flatot", "iff")
KEV_THRESHOLD = 100.0  # an energy column whose maximum is below this is in keV


class MuNotFormed(ValueError):
    """No column is named as μ, I0, It or If: the file cannot say which columns form μ."""


def energy_to_ev(energy: np.ndarray, unit: str | None = None) -> tuple[np.ndarray, bool]:
    """(energy in eV, converted?) — keV when the unit says so or when max(E) < 100."""
    energy = np.asarray(energy, dtype=float)
    is_kev = (unit or "").strip().lower() == "kev" or float(np.nanmax(energy)) < KEV_THRESHOLD
    return (energy * 1000.0 if is_kev else energy), is_kev


PATTERNS = {  # beamline spellings: i0_32, prekb_i0, i0_keithley1_c4, it_32, iff, ifch1 …
    I0_NAMES: re.compile(r"^(i0|io)(_|$)|_i0$"),
    IT_NAMES: re.compile(r"^(it|i1|itrans)(_|$)"),
    IF_NAMES: re.compile(r"^(if|iff|ifl|ifluor|fluor|lytle)(_|$)|^if_"),
}


def _pick(columns: dict[str, np.ndarray], names: tuple[str, ...]) -> str | None:
    """Name of the first column whose lower-cased name is in ``names``, else of the first
    matching the beamline spelling pattern for that kind of column."""
    lowered = {k.lower(): k for k in columns}
    found = next((lowered[n] for n in names if n in lowered), None)
    pattern = PATTERNS.get(names)
    if found is None and pattern is not None:
        found = next((k for low, k in lowered.items() if pattern.search(low)), None)
    return found


pick_column = _pick  # public name for the beamline readers


def _first(columns: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray | None:
    """The column ``_pick`` chooses, or None."""
    name = _pick(columns, names)
    return None if name is None else columns[name]


def mu_columns(columns: dict[str, np.ndarray], mode: str) -> list[str | None]:
    """The names of the columns ``mu_from_columns`` used for ``mode`` (for provenance)."""
    if mode in ("transmission", "fluorescence") and _pick(columns, GIVEN_MU_NAMES) is None:
        other = IT_NAMES if mode == "transmission" else IF_NAMES
        return [_pick(columns, I0_NAMES), _pick(columns, other)]
    return [_pick(columns, GIVEN_MU_NAMES)]


def mu_from_columns(columns: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
    """(μ, mode): a given μ column, else transmission ln(I0/It), else fluorescence If/I0.

    ``mode`` is ``transmission`` or ``fluorescence`` when the column says so (``mutrans``,
    ``mufluor``) or the ratio is formed here, ``given`` for a bare ``mu``/``xmu`` column.

    Raises MuNotFormed (a ValueError) when no column is named as μ, I0, It or If, ValueError
    when the ratio needs non-positive intensities.
    """
    given = _first(columns, GIVEN_MU_NAMES)
    if given is not None:
        name = next(n for n in GIVEN_MU_NAMES if n in {k.lower() for k in columns})
        mode = "transmission" if "trans" in name else "fluorescence" if "fluor" in name else "given"
        return np.asarray(given, dtype=float), mode
    i0, it, i_f = (_first(columns, names) for names in (I0_NAMES, IT_NAMES, IF_NAMES))
    if i0 is not None and it is not None and np.all(i0 > 0) and np.all(it > 0):
        return np.log(i0 / it), "transmission"
    if i0 is not None and i_f is not None and np.all(i0 != 0):
        return i_f / i0, "fluorescence"
    if i0 is not None and it is not None:
        raise ValueError(
            "μ = ln(I0/It) needs positive I0 and It, but one of them has zeros or negative "
            "values, and no fluorescence column (If, Iff, Lytle …) is named; the columns are "
            f"{', '.join(sorted(columns)[:12])}"
        )
    raise MuNotFormed(
        "no μ column and no I0 with It or If among the columns "
        f"{', '.join(sorted(columns)[:12])}; name the detector columns in the header"
    )


def mu_series(energy_ev: np.ndarray, mu: np.ndarray, name: str, mode: str) -> Series:
    """μ(E) as a Series (energy in eV)."""
    return Series(
        name=name,
        x=np.asarray(energy_ev, dtype=float),
        y=np.asarray(mu, dtype=float),
        x_label="Energy",
        x_unit="eV",
        y_label=f"μ(E) ({mode})",
        y_unit="",
    )


def check_energy(energy_ev: np.ndarray) -> None:
    """Raise ValueError unless energies are ≥ 5 finite, positive, increasing values.

    A scan's energy axis always increases; a column that does not is not the energy (columns
    shifted or swapped) and must not be stored as one. Read-back jitter is tolerated: a repeat
    or a step back of less than half the median step, at most once per fifty points; a larger
    step back never.
    """
    e = np.asarray(energy_ev, dtype=float)
    if e.ndim != 1 or e.size < 5 or not np.all(np.isfinite(e)) or np.any(e <= 0):
        raise ValueError("the energy column needs at least 5 finite positive values")
    steps = np.diff(e)
    jitter = 0.5 * float(np.median(np.abs(steps)))  # read-back noise, far below one step
    bad = np.flatnonzero(steps < -jitter)
    repeats = np.flatnonzero(steps <= 0)
    if bad.size or repeats.size > max(1, e.size // 50):
        k = int(bad[0] if bad.size else repeats[-1])
        raise ValueError(
            "energies must increase from row to row, but data row "
            f"{k + 2} has {e[k + 1]:g} eV after {e[k]:g} eV"
        )


def xas_key_numbers(
    energy_ev: np.ndarray,
    mu: np.ndarray,
    *,
    element: str | None,
    edge: str | None,
    e0_stated_ev: float | None,
) -> dict:
    """``element``, ``edge``, ``e0_ev`` (stated, else max dμ/dE), ``e0_source``, ``n_points``,
    ``energy_min_ev``, ``energy_max_ev``."""
    if e0_stated_ev is not None:
        e0, source = float(e0_stated_ev), "file"
    else:
        e0, source = spectra.edge_energy_max_derivative(energy_ev, mu), "max_derivative"
    return {
        "element": element,
        "edge": edge,
        "e0_ev": e0,
        "e0_source": source,
        "n_points": int(np.asarray(energy_ev).size),
        "energy_min_ev": float(np.min(energy_ev)),
        "energy_max_ev": float(np.max(energy_ev)),
    }


def xas_mode(mu_mode: str, stated: str | None = None) -> str:
    """XASMode value: the header's statement if any, else the μ column's, else ``unknown``."""
    for text in (stated or "", mu_mode):
        lowered = text.lower()
        if "trans" in lowered:
            return "transmission"
        if "fluor" in lowered:
            return "fluorescence"
    return "unknown"


def temperature_k(text: str | None) -> float | None:
    """A stated sample temperature in kelvin (``300 K``, ``10K``, ``25 C``, ``room``→None)."""
    import re

    if not text:
        return None
    m = re.match(r"^\s*([-+]?\d+(?:\.\d*)?)\s*(K|C|°C|degC)?\b", text.strip(), re.IGNORECASE)
    if not m:
        return None
    value = float(m.group(1))
    unit = (m.group(2) or "K").upper()
    return value if unit == "K" else value + 273.15
