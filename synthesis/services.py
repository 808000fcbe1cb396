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
    Chemical,
    ChemicalLot,
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


# Run fields that may change after the run was recorded (not its recipe or inputs).
RUN_EDITABLE_FIELDS = frozenset({"code", "operator", "operator_name", "started_at", "observations"})
RUN_STEP_EDITABLE_FIELDS = frozenset(
    f.name
    for f in RunStep._meta.concrete_fields
    if f.editable and f.name not in {"id", "run", "recipe_step", "position"}
)
RUN_ADDITION_EDITABLE_FIELDS = frozenset(
    {"amount_value", "amount_unit", "equivalents", "equivalents_basis", "at_temperature_c",
     "chemical_lot", "note", "qualifier", "amount_max_value", "equivalents_max"}
)


# --- chemicals and lots --------------------------------------------------------------------


@transaction.atomic
def update_chemical(
    *, chemical: Chemical, expected_version: int | None, changes: dict, actor=None
) -> Chemical:
    """Change a chemical's name, formula, CAS number, supplier, purity, grade or notes.

    Raises ConflictError if it changed since ``expected_version``; DomainError naming the field
    for a duplicate name or a malformed CAS number.
    """
    return update_record(
        chemical, changes=changes, expected_version=expected_version, actor=actor
    )


@transaction.atomic
def update_chemical_lot(
    *, lot: ChemicalLot, expected_version: int | None, changes: dict, actor=None
) -> ChemicalLot:
    """Change a lot (number, dates, quantity with unit, location); units validated by pint."""
    return update_record(lot, changes=changes, expected_version=expected_version, actor=actor)


# --- stock solutions -----------------------------------------------------------------------


def _add_components(stock: StockSolution, components: Iterable[dict]) -> None:
    for index, component in enumerate(components, start=1):
        item = StockComponent(stock_solution=stock, position=index, **component)
        _save_unique(item, prefix=f"components[{index}].")


@transaction.atomic
def create_stock_solution(
    *, data: dict, components: Iterable[dict] = (), actor=None
) -> StockSolution:
    """Create a stock solution with its components (chemical, lot or other stock + amount)."""
    stock = _save_unique(StockSolution(**_with_owner(data, actor)))
    _add_components(stock, components)
    return stock


@transaction.atomic
def update_stock_solution(
    *,
    stock: StockSolution,
    expected_version: int | None,
    changes: dict,
    components: list[dict] | None = None,
    actor=None,
) -> StockSolution:
    """Change a stock solution; ``components`` when given replace the current ones.

    Component errors name ``components[<n>].<field>`` (n counts from 1 in the given order).
    """
    updated = update_record(stock, changes=changes, expected_version=expected_version, actor=actor)
    if components is not None:
        updated.components.all().delete()
        _add_components(updated, components)
    return updated


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


def _edit_run_step(step: RunStep, values: dict) -> None:
    values = dict(values)
    additions = values.pop("additions", None) or []
    where = f"steps[{step.position}]"
    for name, value in values.items():
        if name not in RUN_STEP_EDITABLE_FIELDS:
            raise DomainError(f"{where}.{name}: cannot be changed on a run step.",
                              field=f"{where}.{name}")
        setattr(step, name, value)
    _save_unique(step, prefix=f"{where}.")
    existing = list(step.additions.all())
    if len(additions) > len(existing):
        raise DomainError(
            f"{where}.additions: the step has {len(existing)} addition(s), "
            f"not {len(additions)}.",
            field=f"{where}.additions",
        )
    for index, (addition, changed) in enumerate(zip(existing, additions, strict=False), start=1):
        if not changed:
            continue
        for name, value in changed.items():
            if name not in RUN_ADDITION_EDITABLE_FIELDS:
                raise DomainError(f"{where}.additions[{index}].{name}: cannot be changed.",
                                  field=f"{where}.additions[{index}].{name}")
            setattr(addition, name, value)
        _save_unique(addition, prefix=f"{where}.additions[{index}].")


def _set_products(run: SynthesisRun, products: list[Sample], actor) -> None:
    wanted = {p.pk for p in products}
    for sample in Sample.objects.select_for_update().filter(produced_by=run):
        if sample.pk not in wanted:
            update_record(sample, changes={"produced_by": None},
                          expected_version=sample.version, actor=actor)
    for sample in Sample.objects.select_for_update().filter(pk__in=wanted):
        if sample.produced_by_id not in (None, run.pk):
            raise DomainError(
                f"products: {sample.code} was produced by run {sample.produced_by}; "
                "a sample comes from one run.",
                field="products",
            )
        if sample.produced_by_id is None:
            update_record(sample, changes={"produced_by": run},
                          expected_version=sample.version, actor=actor)


@transaction.atomic
def update_run(
    *,
    run: SynthesisRun,
    expected_version: int | None,
    changes: dict,
    steps: dict[int, dict] | None = None,
    products: list[Sample] | None = None,
    actor=None,
) -> SynthesisRun:
    """Correct a recorded run: its code, operator, start, observations, what each step did.

    ``steps`` maps a step position to the changed RunStep fields (values with their units,
    injection rates and conditions, ``deviation_note``) plus ``additions``: one dict per
    addition of that step, in order, with the changed amount fields. ``products`` when given is
    the full list of samples this run produced. The recipe and the inputs cannot change.
    Raises ConflictError for a stale ``expected_version``; DomainError naming the field.
    """
    for name in changes:
        if name not in RUN_EDITABLE_FIELDS:
            raise DomainError(f"{name}: cannot be changed after the run was recorded.",
                              field=name)
    updated = update_record(run, changes=changes, expected_version=expected_version, actor=actor)
    run_steps = {s.position: s for s in updated.steps.all()}
    unknown = sorted(set(steps or {}) - set(run_steps))
    if unknown:
        raise DomainError(f"steps: the run has no step(s) {unknown}.", field="steps")
    for position, values in sorted((steps or {}).items()):
        _edit_run_step(run_steps[position], values)
    if products is not None:
        _set_products(updated, list(products), actor)
    return updated


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


# Apps whose records members may flag (a flag names its target by model name, e.g. "sample").
FLAGGABLE_APPS = ("synthesis", "characterization", "analysis")
# Only curators change these: the flag's review state and the curator's comment.
FLAG_CURATOR_FIELDS = ("status", "annotation")
_STATUS_VERBS = {"open": "reopen", "acknowledged": "acknowledge", "resolved": "resolve"}


@transaction.atomic
def raise_flag(
    *, target_type: str, object_id: int, message: str, kind: str = "note", location: str = "",
    actor,
) -> DataFlag:
    """A lab member flags any lab record (``target_type`` is its model name: ``sample``,
    ``synthesisrun``, ``plmeasurement``, ``xasfit`` …); the flag starts open, owned by
    ``actor``. Raises DomainError naming ``target_type``, ``object_id`` or ``message``."""
    content_type = ContentType.objects.filter(
        model=(target_type or "").strip().lower(), app_label__in=FLAGGABLE_APPS
    ).first()
    if content_type is None:
        raise DomainError(
            f"target_type: expected the kind of record to flag, such as sample, synthesisrun, "
            f"plmeasurement or xasfit; got {target_type!r}.", field="target_type")
    target = content_type.model_class()._default_manager.filter(pk=object_id).first()
    if target is None:
        raise DomainError(f"object_id: there is no {content_type.name} with id {object_id}.",
                          field="object_id")
    if not (message or "").strip():
        raise DomainError("message: say what looks wrong (e.g. 'QY above 100 %').",
                          field="message")
    return flag_record(target=target, message=message.strip(), kind=kind,
                       location=(location or "").strip(), actor=actor)


def _require_flag_rights(flag: DataFlag, changes: dict, actor) -> None:
    from django.core.exceptions import PermissionDenied

    from labdb.lib.permissions import can_edit, is_curator

    curator_only = [name for name in FLAG_CURATOR_FIELDS
                    if name in changes and changes[name] != getattr(flag, name)]
    if curator_only and not is_curator(actor):
        if "status" in curator_only:
            verb = _STATUS_VERBS.get(changes["status"], "change the status of")
            what = f"{verb} a data flag"
        else:
            what = "write the curator's annotation on a data flag"
        mine = ", even one you raised" if flag.owner_id == getattr(actor, "id", None) else ""
        raise PermissionDenied(
            f"Only curators can {what}{mine}; ask a curator to review flag {flag.pk} "
            f"({flag.location or flag.message[:40]}).")
    if not can_edit(actor, flag):
        raise PermissionDenied(
            "Only the member who raised this flag or a curator can change it.")


@transaction.atomic
def update_flag(
    *, flag: DataFlag, expected_version: int | None, changes: dict, actor
) -> DataFlag:
    """Change a data flag. Its author edits kind, location and message; only curators change
    ``status`` (acknowledge, resolve, reopen) or the ``annotation`` (PermissionDenied, with a
    sentence, otherwise — also for the author). ConflictError for a stale version."""
    _require_flag_rights(flag, changes, actor)
    return update_record(flag, changes=changes, expected_version=expected_version, actor=actor)
