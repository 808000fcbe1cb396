"""Load the synthesis half of a demo-data file (docs/demo-data-format.md) through the services.

Pure transcription: values go in as printed, with their units, range bounds (``*_max``) and
qualifiers ("<", "~", "range"); what a step says beyond its fields goes into ``details`` (the raw
transcriber's keys stay in ``extra``). Each paper's chemicals become *lots* of that paper carrying
its supplier, purity and grade; the chemical itself keeps only name, formula, CAS and notes.
Deviations the text states ("reacted at room temperature", "no thiol") are applied to the run's
steps as actual values, so the computed deviations show them. Returns a ``DemoContext`` that the
characterization loader continues with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth.models import User

from labdb.lib.errors import DomainError
from synthesis import services
from synthesis.enums import FlagKind
from synthesis.models import Chemical, ChemicalLot, Paper, Recipe, Sample, StockSolution

DEMO_DIR = Path(__file__).resolve().parent / "demo_data"
DEMO_FILES = ("seed000.json", "seed002.json", "seed004.json")


@dataclass
class DemoContext:
    """Lookup tables of one paper's keys → database records."""

    paper: Paper
    actor: User | None
    chemicals: dict[str, Chemical] = field(default_factory=dict)
    lots: dict[str, ChemicalLot] = field(default_factory=dict)
    stocks: dict[str, StockSolution] = field(default_factory=dict)
    recipes: dict[str, Recipe] = field(default_factory=dict)
    samples: dict[str, Sample] = field(default_factory=dict)


def read_demo_file(name: str) -> dict:
    return json.loads((DEMO_DIR / name).read_text(encoding="utf-8"))


def _text(value) -> str:
    return "" if value is None else str(value)


def load_paper(data: dict, actor) -> Paper:
    info = data["paper"]
    return services.create_record(
        model=Paper,
        actor=actor,
        data={
            "key": info["key"],
            "title": info.get("title") or info["key"],
            "authors": _text(info.get("authors")),
            "journal": _text(info.get("journal")),
            "year": info.get("year"),
            "doi": _text(info.get("doi")),
            "source_file": _text(info.get("file")),
            "extra": info.get("extra") or {},
        },
    )


def lot_number(paper: Paper) -> str:
    """The lot number of a chemical as one paper's experimental section names it."""
    return f"as published in {paper.key}"


def load_chemicals(ctx: DemoContext, chemicals: list[dict]) -> None:
    """Chemicals are shared across papers by name (name, formula, CAS, notes); supplier, purity
    and grade belong to this paper's lot of it (``lot_number(paper)``)."""
    for item in chemicals:
        existing = Chemical.objects.filter(name=item["name"]).first()
        chemical = existing or services.create_record(
            model=Chemical,
            actor=ctx.actor,
            data={
                "name": item["name"],
                "formula": _text(item.get("formula")),
                "cas": _text(item.get("cas")),
                "notes": _text(item.get("notes")),
            },
        )
        ctx.chemicals[item["key"]] = chemical
        ctx.lots[item["key"]] = services.create_record(
            model=ChemicalLot,
            actor=ctx.actor,
            data={
                "chemical": chemical,
                "lot_number": lot_number(ctx.paper),
                "supplier": _text(item.get("supplier"))[:100],
                "purity": _text(item.get("purity"))[:50],
                "grade": _text(item.get("grade"))[:100],
                "paper": ctx.paper,
            },
        )


def _component(ctx: DemoContext, item: dict) -> dict:
    if item.get("chemical"):
        return {"chemical": ctx.chemicals[item["chemical"]]}
    if item.get("stock"):
        return {"stock": ctx.stocks[item["stock"]]}
    if item.get("input"):
        return {"input": item["input"]}
    raise DomainError(f"demo addition without a component: {item}")


def addition_fields(ctx: DemoContext, item: dict) -> dict:
    """A demo addition → RecipeAddition/StockComponent field dict."""
    out = _component(ctx, item)
    amount = item.get("amount")
    if amount:
        out["amount_value"] = amount["value"]
        out["amount_unit"] = amount["unit"]
    equivalents = item.get("equivalents")
    if equivalents:
        out["equivalents"] = equivalents["value"]
        out["equivalents_basis"] = equivalents.get("basis") or "per Cd"
    quantity = amount or equivalents or {}
    if amount and amount.get("value_max") is not None:
        out["amount_max_value"] = amount["value_max"]
    if equivalents and equivalents.get("value_max") is not None:
        out["equivalents_max"] = equivalents["value_max"]
    out["qualifier"] = _qualifier(quantity)
    if item.get("at_temperature_c") is not None:
        out["at_temperature_c"] = item["at_temperature_c"]
    note = _text(item.get("note"))
    if item.get("extra"):
        note = f"{note} {json.dumps(item['extra'], ensure_ascii=False)}".strip()
    out["note"] = note[:300]
    return out


def _qualifier(quantity: dict) -> str:
    """The stored qualifier of a demo quantity: as transcribed, else "range" when it has a
    ``value_max``, "~" when ``approx``, blank (as given) otherwise."""
    if quantity.get("qualifier"):
        return quantity["qualifier"]
    if quantity.get("value_max") is not None:
        return "range"
    return "~" if quantity.get("approx") else ""


def step_fields(ctx: DemoContext, step: dict) -> dict:
    """A demo STEP → RecipeStep field dict with additions."""
    out = {
        "action": step["action"],
        "description": _text(step.get("description")),
        "atmosphere": step.get("atmosphere") or "",
        "setpoint_approx": bool(step.get("approx")),
        "details": _text(step.get("details")),
        "extra": step.get("extra") or {},
    }
    if step.get("setpoint_c") is not None:
        out.update(setpoint_value=step["setpoint_c"], setpoint_unit="degC")
    if step.get("setpoint_c_max") is not None:
        out["setpoint_max_c"] = step["setpoint_c_max"]
    if step.get("setpoint_qualifier"):
        out["setpoint_qualifier"] = step["setpoint_qualifier"]
    elif step.get("setpoint_c_max") is not None:
        out["setpoint_qualifier"] = "range"
    elif step.get("setpoint_c") is not None and step.get("approx"):
        out["setpoint_qualifier"] = "~"
    if step.get("ramp_c_per_min") is not None:
        out.update(ramp_value=step["ramp_c_per_min"], ramp_unit="degC/min")
    duration = step.get("duration")
    if duration:
        out.update(duration_value=duration["value"], duration_unit=duration["unit"],
                   duration_max_value=duration.get("value_max"),
                   duration_qualifier=_qualifier(duration))
    out.update(_injection_fields(step.get("injection")))
    out["additions"] = [addition_fields(ctx, a) for a in step.get("additions") or []]
    return out


def _injection_fields(injection: dict | None) -> dict:
    if not injection:
        return {}
    out = {
        "injection_start_condition": _text(injection.get("start_condition"))[:200],
        "injection_start_c": injection.get("start_temperature_c"),
        "injection_switch_condition": _text(injection.get("switch_condition"))[:200],
        "injection_switch_c": injection.get("switch_temperature_c"),
        "injection_stop_condition": _text(injection.get("stop_condition"))[:200],
    }
    if injection.get("rate_ml_per_h") is not None:
        out.update(injection_rate_value=injection["rate_ml_per_h"], injection_rate_unit="mL/h")
    if injection.get("rate_after_switch_ml_per_h") is not None:
        out.update(
            injection_rate_after_switch_value=injection["rate_after_switch_ml_per_h"],
            injection_rate_after_switch_unit="mL/h",
        )
    return out


def load_stocks(ctx: DemoContext, stocks: list[dict]) -> None:
    prefix = ctx.paper.key
    for item in stocks:
        prep = services.create_recipe(
            actor=ctx.actor,
            data={
                "slug": f"{prefix}-prep-{item['key']}".replace("_", "-")[:80],
                "name": f"Preparation of {item['name']}",
                "citation": _text(item.get("citation")),
                "paper": ctx.paper,
                "product_description": item["name"],
            },
            steps=[step_fields(ctx, s) for s in item.get("steps") or []],
        )
        data = {
            "code": f"{prefix}-{item['key']}".replace("_", "-")[:80],
            "name": item["name"],
            "preparation": prep,
            "citation": _text(item.get("citation")),
            "notes": _text(item.get("notes")),
            "extra": item.get("extra") or {},
        }
        if item.get("solvent"):
            data["solvent"] = ctx.chemicals[item["solvent"]]
        concentration = item.get("nominal_concentration")
        if concentration:
            data.update(
                concentration_value=concentration["value"], concentration_unit=concentration["unit"]
            )
        components = [addition_fields(ctx, c) for c in item.get("components") or []]
        ctx.stocks[item["key"]] = services.create_stock_solution(
            data=data, components=components, actor=ctx.actor
        )


def load_recipes(ctx: DemoContext, recipes: list[dict]) -> None:
    for item in recipes:
        description = _text(item.get("description"))
        ctx.recipes[item["key"]] = services.create_recipe(
            actor=ctx.actor,
            data={
                "slug": f"{ctx.paper.key}-{item['key']}".replace("_", "-")[:80],
                "name": item["name"],
                "description": description,
                "product_description": _text(item.get("product"))[:200],
                "citation": _text(item.get("citation")),
                "paper": ctx.paper,
                "extra": item.get("extra") or {},
            },
            inputs=[
                {"name": i["name"], "description": _text(i.get("description"))[:300]}
                for i in item.get("inputs") or []
            ],
            steps=[step_fields(ctx, s) for s in item["steps"]],
        )


def _layers(sample: dict) -> list[dict]:
    return [
        {
            "material": layer["material"],
            "role": layer["role"],
            "thickness_ml": layer.get("thickness_ml"),
            "thickness_nm": layer.get("thickness_nm"),
            "composition_x": layer.get("composition_x"),
            "composition_formula": _text(layer.get("composition_formula")),
            "gradient": bool(layer.get("gradient")),
        }
        for layer in sample.get("layers") or []
    ]


def _sample_data(ctx: DemoContext, item: dict) -> dict:
    return {
        "code": item["code"],
        "name": item["name"],
        "material": item["material"],
        "morphology": item["morphology"],
        "crystal_phase": item.get("crystal_phase") or "unknown",
        "synthesis_date": item.get("synthesis_date"),
        "storage_conditions": _text(item.get("storage_conditions"))[:200],
        "external_origin": _text(item.get("external_origin"))[:200],
        "is_reference": bool(item.get("is_reference")),
        "paper": ctx.paper,
        "citation": _text(item.get("citation"))[:200],
        "notes": _text(item.get("notes")),
        "extra": item.get("extra") or {},
    }


def _deviation_text(deviation: dict) -> str:
    return (
        f"{deviation.get('field')}: recipe {deviation.get('recipe_value')!s}, actual "
        f"{deviation.get('actual_value')!s}. {_text(deviation.get('note'))}"
    ).strip()


def _run_for(ctx: DemoContext, item: dict):
    """The published run of a sample; each deviation goes on its step once (or, when it names
    no step of the recipe, into the run's observations)."""
    run = item.get("run")
    if not run or not run.get("recipe"):
        return None
    recipe = ctx.recipes[run["recipe"]]
    inputs = {name: ctx.samples[code] for name, code in (run.get("inputs") or {}).items() if code}
    unknown = [name for name, code in (run.get("inputs") or {}).items() if not code]
    steps = {s.position: s for s in recipe.steps.prefetch_related("additions")}
    actual: dict[int, dict] = {}
    unplaced = []
    for deviation in run.get("deviations") or []:
        position = deviation.get("step")
        if position in steps:
            step = actual.setdefault(position, {"deviation_note": ""})
            step["deviation_note"] = f"{step['deviation_note']} {_deviation_text(deviation)}"
            step["deviation_note"] = step["deviation_note"].strip()
            step.update(deviation.get("actual") or {})
            if deviation.get("actual_addition"):
                _apply_addition(ctx, step, steps[position], deviation["actual_addition"])
        else:
            unplaced.append(f"step {position}: {_deviation_text(deviation)}")
    observations = "; ".join(filter(None, [_text(run.get("observations")), *unplaced]))
    return services.record_synthesis_run(
        data={
            "code": f"RUN-{item['code']}"[:80],
            "operator_name": "as published",
            "observations": observations,
        },
        recipe=recipe,
        inputs=inputs,
        unknown_inputs=unknown,
        actual_steps=actual,
        actor=ctx.actor,
    )


def _apply_addition(ctx: DemoContext, step: dict, recipe_step, change: dict) -> None:
    """Put ``change`` (what was actually added of ``change["chemical"]``) at the index of that
    chemical's addition in the recipe step, as ``record_synthesis_run`` expects."""
    change = dict(change)
    chemical = ctx.chemicals[change.pop("chemical")]
    additions = list(recipe_step.additions.all())
    index = next((i for i, a in enumerate(additions) if a.chemical_id == chemical.pk), None)
    if index is None:
        raise DomainError(f"demo deviation: step {recipe_step.position} adds no {chemical}.")
    changes = step.setdefault("additions", [None] * len(additions))
    changes[index] = change


def load_samples(ctx: DemoContext, samples: list[dict]) -> None:
    """Samples in dependency order (parents first), each with its run when it was synthesized."""
    pending = list(samples)
    while pending:
        ready = [
            s
            for s in pending
            if all(
                p["code"] in ctx.samples or Sample.objects.filter(code=p["code"]).exists()
                for p in s.get("parents") or []
            )
        ]
        if not ready:
            raise DomainError(
                f"demo samples with unresolved parents: {[s['code'] for s in pending]}"
            )
        for item in ready:
            pending.remove(item)
            existing = Sample.objects.filter(code=item["code"]).first()
            if existing:  # shared references (REF-CdS-bulk) are defined by several papers
                ctx.samples[item["code"]] = existing
                continue
            parents = [
                {
                    "parent": ctx.samples.get(p["code"]) or Sample.objects.get(code=p["code"]),
                    "process": p["process"],
                }
                for p in item.get("parents") or []
            ]
            run = _run_for(ctx, item)
            data = {**_sample_data(ctx, item), "produced_by": run}
            ctx.samples[item["code"]] = services.create_sample(
                data=data, layers=_layers(item), parents=parents, actor=ctx.actor
            )


def flag_kind(kind: str) -> tuple[str, str]:
    """Transcribers' finer flag words ("ambiguity", "wrong_reference") → (FlagKind, original).

    ``original`` is "" when ``kind`` already is a FlagKind value.
    """
    if kind in FlagKind.values:
        return kind, ""
    low = kind.lower()
    if "inconsisten" in low:
        return FlagKind.INCONSISTENCY, kind
    if "typo" in low or "notation" in low or "rounding" in low:
        return FlagKind.TYPO, kind
    if "missing" in low or "omission" in low:
        return FlagKind.MISSING, kind
    return FlagKind.NOTE, kind


def load_flags(ctx: DemoContext, flags: list[dict]) -> None:
    """Paper-level flags; a transcriber's own kind word is kept at the start of the message."""
    for item in flags:
        kind, original = flag_kind(item.get("kind") or "inconsistency")
        message = _text(item.get("what"))
        services.flag_record(
            target=ctx.paper,
            kind=kind,
            location=_text(item.get("where"))[:200],
            message=f"[{original}] {message}" if original else message,
            actor=ctx.actor,
        )


def load_synthesis(data: dict, *, actor) -> DemoContext:
    """Paper, chemicals, stock solutions, recipes, samples with runs, and paper-level flags."""
    ctx = DemoContext(paper=load_paper(data, actor), actor=actor)
    load_chemicals(ctx, data.get("chemicals") or [])
    load_stocks(ctx, data.get("stock_solutions") or [])
    load_recipes(ctx, data.get("recipes") or [])
    load_samples(ctx, data.get("samples") or [])
    load_flags(ctx, data.get("flags") or [])
    return ctx
