"""Writes of the synthesis domain. Every write that has rules goes through here.

All services are keyword-only, atomic, validate with ``full_clean()`` and raise
``DomainError`` naming the offending field (``steps[2].setpoint_unit: unknown unit 'degF/s'``).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils.text import slugify

from labdb.lib.errors import DomainError
from labdb.lib.records import create_record as create_record
from labdb.lib.records import save_unique as _save_unique
from labdb.lib.records import update_record
from labdb.lib.records import with_owner as _with_owner
from synthesis.models import (
    DataFlag,
    Recipe,
    RecipeAddition,
    RecipeInput,
    RecipeStep,
    RunAddition,
    RunInput,
    RunStep,
    Sample,
    SampleLayer,
    SampleParent,
    StockComponent,
    StockSolution,
    SynthesisRun,
)
from synthesis.selectors import ancestor_ids

STEP_FIELDS = [
    f.name
    for f in RecipeStep._meta.concrete_fields
    if f.name not in {"id", "recipe"} and f.editable
]
ADDITION_FIELDS = [
    f.name
    for f in RecipeAddition._meta.concrete_fields
    if f.name not in {"id", "step"} and f.editable
]


# --- stock solutions -----------------------------------------------------------------------


@transaction.atomic
def create_stock_solution(
    *, data: dict, components: Iterable[dict] = (), actor=None
) -> StockSolution:
    """Create a stock solution with its components (chemical, lot or other stock + amount)."""
    stock = _save_unique(StockSolution(**_with_owner(data, actor)))
    for index, component in enumerate(components, start=1):
        item = StockComponent(stock_solution=stock, position=index, **component)
        _save_unique(item, prefix=f"components[{index}].")
    return stock


# --- recipes -------------------------------------------------------------------------------


def _add_steps(recipe: Recipe, steps: Iterable[dict]) -> None:
    inputs = {ri.name: ri for ri in recipe.inputs.all()}
    for index, step_data in enumerate(steps, start=1):
        step_data = dict(step_data)
        additions = step_data.pop("additions", [])
        step_data.setdefault("position", index)
        step = _save_unique(RecipeStep(recipe=recipe, **step_data), prefix=f"steps[{index}].")
        for a_index, addition in enumerate(additions, start=1):
            addition = _resolve_input(
                dict(addition), inputs, f"steps[{index}].additions[{a_index}]"
            )
            addition.setdefault("position", a_index)
            _save_unique(
                RecipeAddition(step=step, **addition),
                prefix=f"steps[{index}].additions[{a_index}].",
            )


def _resolve_input(addition: dict, inputs: dict[str, RecipeInput], where: str) -> dict:
    name = addition.pop("input", None)
    if name is None:
        return addition
    if name not in inputs:
        raise DomainError(
            f"{where}.input: the recipe has no input named {name!r} "
            f"(inputs: {', '.join(inputs) or 'none'}).",
            field=f"{where}.input",
        )
    addition["recipe_input"] = inputs[name]
    return addition


@transaction.atomic
def create_recipe(
    *, data: dict, inputs: Iterable[dict] = (), steps: Iterable[dict] = (), actor=None
) -> Recipe:
    """Create version 1 of a recipe with its sample inputs and ordered steps.

    ``steps`` are dicts of RecipeStep fields plus ``additions`` (RecipeAddition fields; an
    addition may name a recipe input with ``"input": "cores"``).
    """
    data = dict(data)
    data.setdefault("slug", slugify(data.get("name", ""))[:80])
    if Recipe.objects.filter(slug=data["slug"]).exists():
        raise DomainError(
            f"slug: a recipe {data['slug']!r} exists already; revise it instead.", field="slug"
        )
    recipe = _save_unique(Recipe(**_with_owner(data, actor), version_number=1, is_current=True))
    for index, item in enumerate(inputs, start=1):
        _save_unique(RecipeInput(recipe=recipe, **item), prefix=f"inputs[{index}].")
    _add_steps(recipe, steps)
    return recipe


def recipe_as_data(recipe: Recipe) -> tuple[dict, list[dict], list[dict]]:
    """(fields, inputs, steps) of a recipe, in the shape ``create_recipe`` takes."""
    fields = {
        f: getattr(recipe, f)
        for f in (
            "slug",
            "name",
            "description",
            "product_description",
            "citation",
            "paper",
            "owner",
        )
    }
    inputs = [{"name": ri.name, "description": ri.description} for ri in recipe.inputs.all()]
    steps = []
    for step in recipe.steps.all():
        item = {f: getattr(step, f) for f in STEP_FIELDS}
        item["additions"] = []
        for addition in step.additions.all():
            a = {f: getattr(addition, f) for f in ADDITION_FIELDS if f != "recipe_input"}
            if addition.recipe_input_id:
                a["input"] = addition.recipe_input.name
            item["additions"].append(a)
        steps.append(item)
    return fields, inputs, steps


@transaction.atomic
def revise_recipe(
    *,
    recipe: Recipe,
    expected_version: int | None,
    changes: dict | None = None,
    steps: list[dict] | None = None,
    actor=None,
) -> Recipe:
    """Edit a recipe. If any run used this version, a new version is created instead.

    Returns the recipe version that now holds the edit (the same object, or the new version).
    Old runs keep pointing at the version they followed.
    """
    changes = changes or {}
    if not recipe.is_current:
        raise DomainError(
            f"recipe {recipe}: only the current version can be revised.", field="version_number"
        )
    if not recipe.runs.exists():
        updated = update_record(
            recipe, changes=changes, expected_version=expected_version, actor=actor
        )
        if steps is not None:
            updated.steps.all().delete()
            _add_steps(updated, steps)
        return updated
    update_record(
        recipe, changes={"is_current": False}, expected_version=expected_version, actor=actor
    )
    fields, inputs, old_steps = recipe_as_data(recipe)
    fields.update(changes)
    new = _save_unique(
        Recipe(
            **fields,
            version_number=recipe.version_number + 1,
            previous_version=recipe,
            is_current=True,
        )
    )
    for item in inputs:
        _save_unique(RecipeInput(recipe=new, **item))
    _add_steps(new, steps if steps is not None else old_steps)
    return new


# --- samples and lineage -------------------------------------------------------------------


def _add_layers(sample: Sample, layers: Iterable[dict]) -> None:
    for index, layer in enumerate(layers, start=1):
        layer = dict(layer)
        layer.setdefault("position", index)
        _save_unique(SampleLayer(sample=sample, **layer), prefix=f"layers[{index}].")


def add_parent(*, child: Sample, parent: Sample, process: str, note: str = "") -> SampleParent:
    """Link ``child`` to ``parent``; refuses self-links and cycles (parent descends from child)."""
    if parent.pk == child.pk:
        raise DomainError(f"parents: {child.code} cannot be its own parent.", field="parents")
    if child.pk in ancestor_ids(parent.pk):
        raise DomainError(
            f"parents: {parent.code} descends from {child.code}; linking it as a "
            "parent would make a cycle.",
            field="parents",
        )
    return _save_unique(
        SampleParent(child=child, parent=parent, process=process, note=note), prefix="parents."
    )


@transaction.atomic
def create_sample(
    *, data: dict, layers: Iterable[dict] = (), parents: Iterable[dict] = (), actor=None
) -> Sample:
    """Create a sample with its ordered layer stack and its parents.

    ``parents`` items: ``{"parent": Sample, "process": DerivationProcess, "note": str}``.
    Raises DomainError for a duplicate code, bad layer values or a lineage cycle.
    """
    code = (data.get("code") or "").strip()
    if code and Sample.objects.filter(code=code).exists():
        raise DomainError(f"code: a sample with code {code!r} exists already.", field="code")
    sample = Sample(**_with_owner(data, actor))
    if actor is not None:
        sample._history_user = actor
    sample = _save_unique(sample)
    _add_layers(sample, layers)
    for link in parents:
        add_parent(child=sample, **link)
    return sample


@transaction.atomic
def update_sample(
    *,
    sample: Sample,
    expected_version: int | None,
    changes: dict,
    layers: list[dict] | None = None,
    parents: list[dict] | None = None,
    actor=None,
) -> Sample:
    """Change a sample; ``layers``/``parents`` when given replace the current ones."""
    updated = update_record(sample, changes=changes, expected_version=expected_version, actor=actor)
    if layers is not None:
        updated.layers.all().delete()
        _add_layers(updated, layers)
    if parents is not None:
        updated.parent_links.all().delete()
        for link in parents:
            add_parent(child=updated, **link)
    return updated


# --- synthesis runs ------------------------------------------------------------------------


def _copy_step(run: SynthesisRun, recipe_step: RecipeStep, actual: dict | None) -> RunStep:
    values = {f: getattr(recipe_step, f) for f in STEP_FIELDS}
    actual = dict(actual or {})
    actual_additions = actual.pop("additions", None)
    values.update(actual)
    position = values["position"]
    step = _save_unique(
        RunStep(run=run, recipe_step=recipe_step, **values), prefix=f"steps[{position}]."
    )
    recipe_additions = list(recipe_step.additions.all())
    for index, addition in enumerate(recipe_additions, start=1):
        a = {f: getattr(addition, f) for f in ADDITION_FIELDS}
        if actual_additions and index <= len(actual_additions) and actual_additions[index - 1]:
            a.update(actual_additions[index - 1])
        _save_unique(RunAddition(step=step, **a), prefix=f"steps[{position}].additions[{index}].")
    return step


@transaction.atomic
def record_synthesis_run(
    *,
    data: dict,
    recipe: Recipe,
    inputs: dict[str, Sample] | None = None,
    actual_steps: dict[int, dict] | None = None,
    products: Iterable[dict] = (),
    unknown_inputs: Iterable[str] = (),
    actor=None,
) -> SynthesisRun:
    """Record a run of ``recipe``: copy its steps, apply what was actually done, make products.

    ``actual_steps`` maps a step position to changed fields (e.g. ``{3: {"setpoint_value": 245,
    "setpoint_unit": "degC", "deviation_note": "overshoot"}}``); unchanged steps are copied.
    ``inputs`` maps recipe input names to samples; ``unknown_inputs`` names inputs whose sample
    is genuinely unknown (transcribed records) — every other input is required.
    ``products`` are ``create_sample`` kwargs (``data``, ``layers``, optional ``process``);
    each product gets the inputs as parents.
    """
    inputs = inputs or {}
    actual_steps = actual_steps or {}
    recipe_inputs = {ri.name: ri for ri in recipe.inputs.all()}
    missing = sorted(set(recipe_inputs) - set(inputs) - set(unknown_inputs))
    unknown = sorted(set(inputs) - set(recipe_inputs))
    if missing or unknown:
        raise DomainError(
            f"inputs: recipe {recipe} needs {sorted(recipe_inputs) or 'no inputs'}; "
            f"missing {missing}, unknown {unknown}.",
            field="inputs",
        )
    data = _with_owner(dict(data), actor)
    data.setdefault("operator", actor)
    run = _save_unique(SynthesisRun(recipe=recipe, **data))
    for name, sample in inputs.items():
        _save_unique(
            RunInput(run=run, recipe_input=recipe_inputs[name], sample=sample),
            prefix=f"inputs.{name}.",
        )
    recipe_steps = {s.position: s for s in recipe.steps.all()}
    bad = sorted(set(actual_steps) - set(recipe_steps))
    if bad:
        raise DomainError(f"steps: the recipe has no step(s) {bad}.", field="steps")
    for position, recipe_step in sorted(recipe_steps.items()):
        _copy_step(run, recipe_step, actual_steps.get(position))
    for product in products:
        product = dict(product)
        process = product.pop("process", "other")
        parents = [{"parent": s, "process": process} for s in inputs.values()]
        product_data = {**product.pop("data"), "produced_by": run}
        create_sample(data=product_data, parents=parents, actor=actor, **product)
    return run


# --- curator flags -------------------------------------------------------------------------


def flag_record(
    *, target: models.Model, message: str, kind: str = "note", location: str = "", actor=None
) -> DataFlag:
    """Attach a curator-visible flag to any record (idempotent on target + location + message).

    ``kind`` is a FlagKind value; anything else is a DomainError naming ``flag.kind``.
    """
    content_type = ContentType.objects.get_for_model(type(target))
    existing = DataFlag.objects.filter(
        content_type=content_type, object_id=target.pk, location=location, message=message
    ).first()
    if existing is not None:
        return existing
    flag = DataFlag(
        content_type=content_type,
        object_id=target.pk,
        location=location,
        message=message,
        kind=kind,
        owner=actor,
    )
    return _save_unique(flag, prefix="flag.")
