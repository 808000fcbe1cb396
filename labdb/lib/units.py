"""Quantities with units, validated with pint.

Every quantity keeps the value and unit as entered plus a canonical value for querying. The
canonical unit depends on the dimension: mass → mg, volume → mL, amount of substance → mmol,
concentration → mol/L (M), temperature → °C, temperature rate → °C/min, time → s,
volume flow → mL/h, length → nm, energy → meV.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pint

from labdb.lib.errors import DomainError


@lru_cache(maxsize=1)
def ureg() -> pint.UnitRegistry:
    reg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    reg.define("equivalent = [equivalents] = eq = equiv")
    return reg


# dimension name -> (pint dimensionality string, canonical unit)
DIMENSIONS: dict[str, tuple[str, str]] = {
    "mass": ("[mass]", "mg"),
    "volume": ("[length] ** 3", "mL"),
    "amount": ("[substance]", "mmol"),
    "concentration": ("[substance] / [length] ** 3", "M"),
    "temperature": ("[temperature]", "degC"),
    "temperature_rate": ("[temperature] / [time]", "degC/min"),
    "time": ("[time]", "s"),
    "flow": ("[length] ** 3 / [time]", "mL/h"),
    "length": ("[length]", "nm"),
    "energy": ("[mass] * [length] ** 2 / [time] ** 2", "meV"),
    "mass_concentration": ("[mass] / [length] ** 3", "mg/mL"),
}

# Amount of a component: any one of these dimensions is acceptable.
AMOUNT_DIMENSIONS = ("mass", "volume", "amount", "concentration", "mass_concentration")

_ALIASES = {
    "°C": "degC",
    "ºC": "degC",
    "C": "degC",
    "µL": "uL",
    "μL": "uL",
    "µl": "uL",
    "μl": "uL",
    "ul": "uL",
    "ml": "mL",
    "l": "L",
    "°C/min": "degC/min",
    "C/min": "degC/min",
    "ml/h": "mL/h",
    "µmol": "umol",
    "μmol": "umol",
    "Å": "angstrom",
    "%": "percent",
    "K/min": "kelvin/min",
}


@dataclass(frozen=True)
class Quantity:
    """A validated quantity: what was entered, and the canonical value and its dimension."""

    value: float
    unit: str
    canonical: float
    canonical_unit: str
    dimension: str


def _parse_unit(unit: str, field: str):
    text = _ALIASES.get(unit.strip(), unit.strip())
    if not text:
        raise DomainError(f"{field}: a unit is required.", field=field)
    try:
        return ureg().Unit(text)
    except (
        pint.errors.UndefinedUnitError,
        pint.errors.DefinitionSyntaxError,
        ValueError,
        AttributeError,
        TypeError,
        AssertionError,
    ):
        raise DomainError(f"{field}: unknown unit {unit!r}.", field=field) from None


def dimension_of(unit: str, *, field: str) -> str:
    """The dimension name (see DIMENSIONS) of ``unit``; DomainError if unknown or unsupported."""
    parsed = _parse_unit(unit, field)
    dim = parsed.dimensionality
    for name, (spec, _canonical) in DIMENSIONS.items():
        if dim == ureg().get_dimensionality(spec):
            return name
    raise DomainError(f"{field}: unit {unit!r} is not a supported physical quantity.", field=field)


def to_quantity(
    value: float | int | None,
    unit: str | None,
    *,
    field: str,
    allowed: tuple[str, ...],
    allow_negative: bool = False,
) -> Quantity | None:
    """Validate ``value unit`` for ``field`` and convert it to the canonical unit.

    ``allowed`` lists acceptable dimensions (e.g. ``("temperature",)``). Returns None when both
    value and unit are empty. Raises DomainError naming the field for a missing unit, an unknown
    unit, a unit of the wrong dimension, a non-number or a negative amount.
    """
    if value is None and not unit:
        return None
    if value is None:
        raise DomainError(
            f"{field}: a value is required with unit {unit!r}.", field=field, detail="value"
        )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DomainError(
            f"{field}: {value!r} is not a number.", field=field, detail="value"
        ) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise DomainError(
            f"{field}: {value!r} is not a finite number.", field=field, detail="value"
        )
    if not unit:
        raise DomainError(
            f"{field}: a unit is required (expected {', '.join(allowed)}).", field=field
        )
    dimension = dimension_of(unit, field=field)
    if dimension not in allowed:
        raise DomainError(
            f"{field}: unit {unit!r} is a {dimension.replace('_', ' ')}, "
            f"expected {' or '.join(a.replace('_', ' ') for a in allowed)}.",
            field=field,
        )
    if number < 0 and not allow_negative:
        raise DomainError(
            f"{field}: {number:g} {unit} is negative; amounts must be ≥ 0.",
            field=field,
            detail="value",
        )
    canonical_unit = DIMENSIONS[dimension][1]
    magnitude = ureg().Quantity(number, _parse_unit(unit, field)).to(canonical_unit).magnitude
    return Quantity(number, unit.strip(), float(magnitude), canonical_unit, dimension)
