"""Small real datasets built through the services (no mocks)."""

from __future__ import annotations

from synthesis import services
from synthesis.models import Chemical


def chemical(name="1-octadecene", actor=None, **extra) -> Chemical:
    return services.create_record(model=Chemical, data={"name": name, **extra}, actor=actor)


def core_recipe(actor=None, slug="cdse-4-5ml", setpoint=240.0):
    """A short 4.5 ML CdSe recipe: degas 90 °C, heat to 240 °C, add Cd(OAc)2, hold 8 min."""
    ode = chemical("1-octadecene", actor=actor)
    cd = chemical("cadmium acetate dihydrate", actor=actor, formula="Cd(OAc)2·2H2O")
    return services.create_recipe(
        data={"slug": slug, "name": "4.5 ML CdSe NPL", "citation": "SI §1.3"},
        steps=[
            {
                "action": "degas",
                "setpoint_value": 90,
                "setpoint_unit": "degC",
                "atmosphere": "vacuum",
                "duration_value": 10,
                "duration_unit": "min",
                "additions": [{"chemical": ode, "amount_value": 30, "amount_unit": "mL"}],
            },
            {
                "action": "heat",
                "setpoint_value": setpoint,
                "setpoint_unit": "degC",
                "ramp_value": 20,
                "ramp_unit": "degC/min",
                "atmosphere": "argon",
            },
            {
                "action": "add",
                "description": "at ~190-200 °C",
                "additions": [{"chemical": cd, "amount_value": 120, "amount_unit": "mg"}],
            },
            {
                "action": "hold",
                "setpoint_value": setpoint,
                "setpoint_unit": "degC",
                "duration_value": 8,
                "duration_unit": "min",
            },
        ],
        actor=actor,
    )


def shell_recipe(actor=None):
    """CdSe/CdZnS shell growth with the octanethiol injection and a 'cores' input."""
    thiol = chemical("octane-1-thiol", actor=actor)
    return services.create_recipe(
        data={"slug": "cdznS-shell", "name": "CdZnS gradient shell", "citation": "SI §1.6"},
        inputs=[{"name": "cores", "description": "CdSe NPL cores"}],
        steps=[
            {
                "action": "add",
                "additions": [
                    {"input": "cores", "equivalents": 1, "equivalents_basis": "per Cd in the cores"}
                ],
            },
            {
                "action": "inject",
                "setpoint_value": 300,
                "setpoint_unit": "degC",
                "injection_rate_value": 10,
                "injection_rate_unit": "mL/h",
                "injection_start_condition": "from ~161 °C",
                "injection_start_c": 161,
                "injection_switch_condition": "when 240 °C is reached",
                "injection_switch_c": 240,
                "injection_rate_after_switch_value": 4,
                "injection_rate_after_switch_unit": "mL/h",
                "additions": [{"chemical": thiol, "amount_value": 140, "amount_unit": "uL"}],
            },
        ],
        actor=actor,
    )


def sample(code, actor=None, core_ml=None, parents=(), **extra):
    data = {
        "code": code,
        "name": code,
        "material": extra.pop("material", "CdSe"),
        "morphology": extra.pop("morphology", "NPL"),
        **extra,
    }
    layers = [{"material": "CdSe", "role": "core", "thickness_ml": core_ml}] if core_ml else []
    return services.create_sample(data=data, layers=layers, parents=list(parents), actor=actor)
