"""Forms of the web UI: shape validation only; the rules live in the services.

``RunEntry`` bundles the forms of "log a synthesis run": the run itself, one sample per recipe
input, one form per recipe step (prefilled from the recipe, editable, with a deviation note) and
the product samples. ``service_kwargs()`` turns valid forms into the arguments of
``synthesis.services.record_synthesis_run``; ``show_domain_error()`` puts a ``DomainError``
beside the field it names (``steps[2].setpoint_unit`` → step 2's "setpoint unit" box).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django import forms
from django.db.models import Q

from labdb.lib.errors import DomainError
from synthesis.enums import Atmosphere, CrystalPhase, DerivationProcess, LayerRole, Morphology
from synthesis.models import Recipe, RecipeStep, Sample

# Editable step quantities: (field prefix, label). Each has <prefix>_value and <prefix>_unit.
STEP_QUANTITIES = [
    ("setpoint", "Set point"),
    ("ramp", "Ramp rate"),
    ("duration", "Duration"),
    ("injection_rate", "Injection rate"),
    ("injection_rate_after_switch", "Injection rate after the switch"),
]
ADDITION_FIELDS = [("amount_value", "Amount"), ("amount_unit", "unit"),
                   ("equivalents", "Equivalents")]
LAYER_ROWS = 3
_FIELD = re.compile(r"^(?P<head>[a-z_]+)(?:\[(?P<index>\d+)\])?(?:\.(?P<rest>.+))?$")


class RunForm(forms.Form):
    code = forms.CharField(max_length=80, label="Run code",
                           help_text="Unique, e.g. RUN-2025-014")
    started_at = forms.DateTimeField(
        required=False, label="Started at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    operator_name = forms.CharField(max_length=100, required=False, label="Operator (if not you)")
    observations = forms.CharField(required=False, label="Observations",
                                   widget=forms.Textarea(attrs={"rows": 3}))


# Options shown per group of the input picker (any live sample is still accepted).
PICKER_LIMIT = 300
_WORD = re.compile(r"[A-Za-z0-9/()\-]{2,}")


def compatible_materials(recipe: Recipe, recipe_input) -> set[str]:
    """Materials that plausibly feed ``recipe_input``, lower-cased.

    The rule: materials of the samples used for an input of the same name in earlier runs of
    any version of this recipe, plus words of the input's description and of the recipe's
    name that are the material of some live sample (``CdSe NPL cores`` → ``cdse``).
    """
    used = Sample.objects.filter(
        used_in_runs__recipe_input__name=recipe_input.name,
        used_in_runs__run__recipe__slug=recipe.slug,
    ).values_list("material", flat=True)
    words = {w.lower() for w in _WORD.findall(f"{recipe_input.description} {recipe.name}")}
    known = set()
    if words:
        query = Q()
        for word in sorted(words)[:20]:
            query |= Q(material__iexact=word)
        known = set(Sample.objects.filter(query, is_retired=False)
                    .values_list("material", flat=True).distinct()[:20])
    return {m.lower() for m in set(used) | known}


def plausible_parents(samples, materials: set[str]) -> tuple[list, list]:
    """(compatible, other): live samples, newest first, split by material."""
    live = samples.filter(is_retired=False).order_by("-created_at", "-id")
    match = Q()
    for material in sorted(materials):
        match |= Q(material__iexact=material)
    if not materials:
        return [], list(live[:PICKER_LIMIT])
    return list(live.filter(match)[:PICKER_LIMIT]), list(live.exclude(match)[:PICKER_LIMIT])


def _option(sample: Sample) -> tuple[int, str]:
    return sample.pk, sample.code


class PickerSelect(forms.Select):
    """A select whose options carry ``data-search`` (code, name, material) for the filter box."""

    def __init__(self, *args, search: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.search = search or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        key = getattr(value, "value", value)
        if key in self.search:
            option["attrs"]["data-search"] = self.search[key]
        return option


class InputsForm(forms.Form):
    """One sample chooser per recipe input (e.g. 'cores' for a shell growth).

    The chooser lists live samples, those of a compatible material first (see
    ``compatible_materials``), each group newest first; a text box filters it in the browser
    (without JavaScript it is a plain select).
    """

    def __init__(self, *args, recipe: Recipe, samples, **kwargs):
        super().__init__(*args, **kwargs)
        self.recipe_inputs = list(recipe.inputs.all())
        for ri in self.recipe_inputs:
            label = f"Input “{ri.name}”" + (f" — {ri.description}" if ri.description else "")
            field = forms.ModelChoiceField(
                queryset=samples.filter(is_retired=False), label=label,
                empty_label="choose a sample…",
                widget=PickerSelect(attrs={"data-filterable": ""}))
            materials = compatible_materials(recipe, ri)
            compatible, other = plausible_parents(samples, materials)
            field.widget.search = {s.pk: f"{s.code} {s.name} {s.material}"
                                   for s in (*compatible, *other)}
            groups = [("", "choose a sample…")]
            if compatible:
                names = ", ".join(sorted({s.material for s in compatible}))
                groups.append((f"Compatible material ({names})", [_option(s) for s in compatible]))
            groups.append(("Other samples, newest first" if compatible else "Samples, newest first",
                           [_option(s) for s in other]))
            field.widget.choices = groups
            self.fields[f"input_{ri.name}"] = field

    def chosen(self) -> dict[str, Sample]:
        return {ri.name: self.cleaned_data[f"input_{ri.name}"] for ri in self.recipe_inputs}


def _number(value) -> str:
    return "" if value is None else f"{value:g}"


class StepForm(forms.Form):
    """What was actually done in one recipe step; initial values are what the recipe says."""

    def __init__(self, *args, step: RecipeStep, **kwargs):
        self.step = step
        self.additions = list(step.additions.all())
        initial = {"atmosphere": step.atmosphere, "deviation_note": ""}
        for prefix, _label in STEP_QUANTITIES:
            initial[f"{prefix}_value"] = _number(getattr(step, f"{prefix}_value"))
            initial[f"{prefix}_unit"] = getattr(step, f"{prefix}_unit")
        for i, addition in enumerate(self.additions, start=1):
            for name, _label in ADDITION_FIELDS:
                value = getattr(addition, name)
                initial[f"add{i}_{name}"] = _number(value) if isinstance(value, float) else value
        super().__init__(*args, initial=initial, prefix=f"step{step.position}", **kwargs)
        for prefix, label in STEP_QUANTITIES:
            self.fields[f"{prefix}_value"] = forms.FloatField(required=False, label=label)
            self.fields[f"{prefix}_unit"] = forms.CharField(required=False, max_length=20,
                                                            label=f"{label} unit")
        self.fields["atmosphere"] = forms.ChoiceField(
            required=False, label="Atmosphere", choices=[("", "—"), *Atmosphere.choices])
        for i, addition in enumerate(self.additions, start=1):
            what = addition.component_label()
            self.fields[f"add{i}_amount_value"] = forms.FloatField(
                required=False, label=f"Amount of {what}")
            self.fields[f"add{i}_amount_unit"] = forms.CharField(
                required=False, max_length=20, label=f"Unit of {what}")
            self.fields[f"add{i}_equivalents"] = forms.FloatField(
                required=False, label=f"Equivalents of {what}")
        self.fields["deviation_note"] = forms.CharField(
            required=False, label="Deviation note",
            help_text="What was done differently and why",
            widget=forms.Textarea(attrs={"rows": 2}))

    def _quantity_rows(self, in_recipe: bool):
        for prefix, label in STEP_QUANTITIES:
            value = getattr(self.step, f"{prefix}_value")
            unit = getattr(self.step, f"{prefix}_unit")
            if (value is not None or bool(unit)) != in_recipe:
                continue
            planned = f"{_number(value)} {unit}".strip() or "—"
            yield label, self[f"{prefix}_value"], self[f"{prefix}_unit"], planned

    def quantity_rows(self):
        """(label, value field, unit field, recipe text) of quantities the recipe states."""
        return list(self._quantity_rows(True))

    def extra_quantity_rows(self):
        """The same for quantities the recipe leaves empty (shown folded)."""
        return list(self._quantity_rows(False))

    def extra_open(self) -> bool:
        """Unfold the extra quantities when one of them was filled in or has an error."""
        if not self.is_bound:
            return False
        step = self.step
        names = [f"{p}_{s}" for p, _ in STEP_QUANTITIES for s in ("value", "unit")
                 if getattr(step, f"{p}_value") is None and not getattr(step, f"{p}_unit")]
        return any(self.data.get(self.add_prefix(n)) or n in self.errors for n in names)

    def addition_rows(self):
        for i, addition in enumerate(self.additions, start=1):
            planned = (f"{_number(addition.amount_value)} {addition.amount_unit}".strip()
                       if addition.amount_value is not None else
                       f"{_number(addition.equivalents)} eq {addition.equivalents_basis}".strip()
                       if addition.equivalents is not None else "—")
            yield (addition.component_label(), self[f"add{i}_amount_value"],
                   self[f"add{i}_amount_unit"], self[f"add{i}_equivalents"], planned)

    def changes(self) -> dict:
        """Only what differs from the recipe (plus the note): the run step's ``actual`` dict."""
        data = self.cleaned_data
        out: dict = {}
        for prefix, _label in STEP_QUANTITIES:
            for suffix in ("value", "unit"):
                name = f"{prefix}_{suffix}"
                if _differs(data.get(name), getattr(self.step, name)):
                    out[name] = data.get(name) if suffix == "value" else (data.get(name) or "")
        if _differs(data.get("atmosphere"), self.step.atmosphere):
            out["atmosphere"] = data.get("atmosphere") or ""
        additions = []
        for i, addition in enumerate(self.additions, start=1):
            changed = {}
            for name, _label in ADDITION_FIELDS:
                new = data.get(f"add{i}_{name}")
                if _differs(new, getattr(addition, name)):
                    changed[name] = new if name != "amount_unit" else (new or "")
            additions.append(changed)
        if any(additions):
            out["additions"] = additions
        note = (data.get("deviation_note") or "").strip()
        if note:
            out["deviation_note"] = note
        return out


def _differs(new, old) -> bool:
    if new in (None, "") and old in (None, ""):
        return False
    if isinstance(old, float | int) and isinstance(new, float | int):
        return float(new) != float(old)
    return (str(new).strip() if new is not None else "") != (str(old) if old is not None else "")


class ProductForm(forms.Form):
    code = forms.CharField(max_length=80, label="Sample code")
    name = forms.CharField(max_length=200, label="Name")
    material = forms.CharField(max_length=100, label="Material", help_text="e.g. CdSe/CdS")
    morphology = forms.ChoiceField(choices=Morphology.choices, label="Morphology")
    crystal_phase = forms.ChoiceField(choices=CrystalPhase.choices, label="Crystal phase",
                                      initial=CrystalPhase.UNKNOWN)
    process = forms.ChoiceField(choices=DerivationProcess.choices, label="Derived from inputs by",
                                initial=DerivationProcess.OTHER)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for i in range(1, LAYER_ROWS + 1):
            self.fields[f"layer{i}_role"] = forms.ChoiceField(
                required=False, label=f"Layer {i} role", choices=[("", "—"), *LayerRole.choices])
            self.fields[f"layer{i}_material"] = forms.CharField(
                required=False, max_length=100, label=f"Layer {i} material")
            self.fields[f"layer{i}_thickness_ml"] = forms.FloatField(
                required=False, label=f"Layer {i} thickness (ML)")

    def layer_rows(self):
        for i in range(1, LAYER_ROWS + 1):
            yield i, self[f"layer{i}_role"], self[f"layer{i}_material"], \
                self[f"layer{i}_thickness_ml"]

    def clean(self):
        data = super().clean()
        for i in range(1, LAYER_ROWS + 1):
            filled = [data.get(f"layer{i}_{n}") not in (None, "")
                      for n in ("role", "material", "thickness_ml")]
            if any(filled) and not all(filled[:2]):
                self.add_error(f"layer{i}_material" if filled[0] else f"layer{i}_role",
                               "A layer needs both a role and a material.")
        return data

    def product(self) -> dict:
        data = self.cleaned_data
        layers = []
        for i in range(1, LAYER_ROWS + 1):
            if data.get(f"layer{i}_role") and data.get(f"layer{i}_material"):
                layers.append({"role": data[f"layer{i}_role"],
                               "material": data[f"layer{i}_material"].strip(),
                               "thickness_ml": data.get(f"layer{i}_thickness_ml")})
        return {"data": {k: data[k].strip() if isinstance(data[k], str) else data[k]
                         for k in ("code", "name", "material", "morphology", "crystal_phase")},
                "layers": layers, "process": data["process"]}


class BaseProductFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        codes = [f.cleaned_data.get("code") for f in self.forms if f.cleaned_data]
        if len(codes) != len(set(codes)):
            raise forms.ValidationError("Two products have the same sample code.")


ProductFormSet = forms.formset_factory(ProductForm, formset=BaseProductFormSet, extra=1,
                                       max_num=20)


@dataclass
class RunEntry:
    """All forms of one "log a run" page, bound to the request data (or unbound on GET)."""

    recipe: Recipe
    run: RunForm
    inputs: InputsForm
    steps: list[StepForm]
    products: forms.BaseFormSet
    errors: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, recipe: Recipe, samples, data=None) -> RunEntry:
        return cls(recipe=recipe, run=RunForm(data),
                   inputs=InputsForm(data, recipe=recipe, samples=samples),
                   steps=[StepForm(data, step=s) for s in recipe.steps.all()],
                   products=ProductFormSet(data, prefix="products"))

    def is_valid(self) -> bool:
        results = [self.run.is_valid(), self.inputs.is_valid(), self.products.is_valid(),
                   *(s.is_valid() for s in self.steps)]
        return all(results)

    def service_kwargs(self) -> dict:
        products = [f.product() for f in self.products.forms
                    if f.cleaned_data and f.cleaned_data.get("code")]
        return {
            "recipe": self.recipe,
            "data": {k: v for k, v in self.run.cleaned_data.items() if v not in (None, "")},
            "inputs": self.inputs.chosen(),
            "actual_steps": {s.step.position: c for s in self.steps if (c := s.changes())},
            "products": products,
        }

    def show_domain_error(self, exc: DomainError) -> None:
        """Put the service's message beside the form field that ``exc.field`` names."""
        name = exc.field or ""
        text = _strip_field(exc.message, name)
        form, form_field = self._locate(name, exc.message)
        if form is not None and form_field in form.fields:
            form.add_error(form_field, text)
        elif form is not None:
            form.add_error(None, exc.message)
        else:
            self.errors.append(exc.message)

    def _locate(self, name: str, message: str):
        match = _FIELD.match(name)
        if not match:
            return None, None
        head, index, rest = match["head"], match["index"], match["rest"] or ""
        if head == "steps":
            step = next((s for s in self.steps if index and s.step.position == int(index)), None)
            if step is None:
                return None, None
            sub = _FIELD.match(rest) if rest else None
            if sub and sub["head"] == "additions" and sub["index"]:
                return step, f"add{sub['index']}_{sub['rest'] or ''}"
            return step, rest
        if head == "inputs":
            return self.inputs, f"input_{rest.split('.')[0]}" if rest else None
        product = self._product_for(message)
        if head == "code" and product is None:
            return self.run, "code"
        if head in RunForm.base_fields and head != "code":
            return self.run, head
        if product is not None and head == "layers":
            return product, f"layer{index}_{rest}"
        if product is not None:
            return product, head
        return None, None

    def _product_for(self, message: str):
        """The product form a sample-level error belongs to (by its code in the message)."""
        filled = [f for f in self.products.forms if f.cleaned_data and f.cleaned_data.get("code")]
        if "a sample with code" in message:
            return next((f for f in filled if repr(f.cleaned_data["code"]) in message), None)
        if "sample" in message.lower() or "layer" in message.lower():
            return filled[0] if filled else None
        return filled[0] if filled and "run" not in message.lower() else None


def _strip_field(message: str, name: str) -> str:
    prefix = f"{name}: "
    return message[len(prefix):] if name and message.startswith(prefix) else message
