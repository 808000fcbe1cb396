"""Runs in a chemist's words: deviations in the recipe's own units, units as printed.

``{% run_deviation_rows run deviations as rows %}`` turns ``run_deviations`` (canonical values:
``duration_s 2700.0 → 4500.0``) into ``hold 45 → 75 min``, ``injection 10 → 8 mL/h``,
``set point 250 → 240 °C``, ``cadmium myristate 120 → 150 mg``.
"""

from __future__ import annotations

from django import template

from labdb.lib.permissions import can_edit
from labdb.lib.units import _ALIASES, DIMENSIONS, ureg

register = template.Library()

PRINTED_UNITS = {"degC": "°C", "degC/min": "°C/min", "uL": "µL", "umol": "µmol",
                 "angstrom": "Å", "uL/min": "µL/min", "kelvin": "K"}

# canonical field of a step -> (quantity prefix or None, canonical unit, label; None = action)
STEP_QUANTITY_FIELDS = {
    "setpoint_c": ("setpoint", "degC", "set point"),
    "setpoint_max_c": (None, "degC", "set point (upper end)"),
    "ramp_c_per_min": ("ramp", "degC/min", "ramp"),
    "duration_s": ("duration", "s", None),
    "injection_rate_ml_per_h": ("injection_rate", "mL/h", "injection"),
    "injection_rate_after_switch_ml_per_h": ("injection_rate_after_switch", "mL/h",
                                             "injection after the switch"),
    "injection_start_c": (None, "degC", "injection starts at"),
    "injection_switch_c": (None, "degC", "rate switches at"),
}
ADDITION_LABELS = {"chemical_id": "chemical", "chemical_lot_id": "lot", "stock_id": "stock",
                   "at_temperature_c": "added at (°C)"}


@register.filter
def unit(text) -> str:
    """A unit as a chemist prints it: ``degC`` → ``°C``, ``uL`` → ``µL``."""
    text = (text or "").strip()
    return PRINTED_UNITS.get(text, text)


@register.filter
def may_edit(user, obj) -> bool:
    """The owner or a curator (the API's rule)."""
    return bool(user and user.is_authenticated and can_edit(user, obj))


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.6g}"


def convert(value: float | None, from_unit: str, to_unit: str) -> float | None:
    """``value`` in ``from_unit`` expressed in ``to_unit`` (pint; offsets for °C handled)."""
    if value is None:
        return None
    reg = ureg()
    target = reg.Unit(_ALIASES.get(to_unit.strip(), to_unit.strip()))
    return float(reg.Quantity(value, reg.Unit(from_unit)).to(target).magnitude)


def _quantity_text(label, recipe_value, actual_value, canonical, display) -> str:
    try:
        before = convert(recipe_value, canonical, display)
        after = convert(actual_value, canonical, display)
    except Exception:  # an odd stored unit: show the canonical values rather than fail
        before, after, display = recipe_value, actual_value, canonical
    return f"{label} {_fmt(before)} → {_fmt(after)} {unit(display)}".strip()


def _step_text(d: dict, step) -> str:
    field = d["field"]
    planned = step.recipe_step if step is not None else None
    if field in STEP_QUANTITY_FIELDS:
        prefix, canonical, label = STEP_QUANTITY_FIELDS[field]
        label = label or (step.get_action_display() if step is not None else field)
        display = ""
        if prefix:
            display = (getattr(planned, f"{prefix}_unit", "") or
                       getattr(step, f"{prefix}_unit", "") or "")
        return _quantity_text(label, d["recipe_value"], d["actual_value"], canonical,
                              display or canonical)
    if field == "step":
        return f"extra step: {d['actual_value']}"
    if field == "note":
        return "noted"
    if field.startswith("additions["):
        return _addition_text(d, step)
    return f"{field.replace('_', ' ')} {d['recipe_value'] or '—'} → {d['actual_value'] or '—'}"


def _addition_text(d: dict, step) -> str:
    index_text, _sep, name = d["field"][len("additions["):].partition("].")
    index = int(index_text) - 1
    additions = list(step.additions.all()) if step is not None else []
    planned = list(step.recipe_step.additions.all()) if step and step.recipe_step else []
    actual = additions[index] if index < len(additions) else None
    reference = planned[index] if index < len(planned) else None
    what = (actual or reference).component_label() if (actual or reference) else "addition"
    if name == "amount_canonical":
        display = (reference.amount_unit if reference and reference.amount_unit else
                   actual.amount_unit if actual else "")
        dimension = (reference or actual).amount_dimension if (reference or actual) else ""
        canonical = DIMENSIONS.get(dimension, ("", display))[1]
        return _quantity_text(what, d["recipe_value"], d["actual_value"], canonical,
                              display or canonical)
    if name == "equivalents":
        return f"{what} {_fmt(d['recipe_value'])} → {_fmt(d['actual_value'])} eq"
    return f"{what}: {ADDITION_LABELS.get(name, name)} changed"


@register.simple_tag
def run_deviation_rows(run, deviations) -> list[dict]:
    """Each deviation with ``text`` in the recipe's units (uses the run's prefetched steps)."""
    steps = {s.position: s for s in run.steps.all()}
    return [{**d, "text": _step_text(d, steps.get(d["position"]))} for d in deviations]
