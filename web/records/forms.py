"""Shape-only forms of the record editors; every rule (units, uniqueness, lineage) is the
services'. ``*_editor(data, instance)`` builds the page's ``Editor``; ``*_kwargs(editor)`` turns
a valid editor into the service's keyword arguments.
"""

from __future__ import annotations

import copy
import re

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from labdb.lib.errors import DomainError
from labdb.lib.units import to_quantity
from synthesis.enums import Atmosphere, DerivationProcess, LayerRole, StepAction
from synthesis.models import (
    Chemical,
    ChemicalLot,
    Recipe,
    Sample,
    StockSolution,
    SynthesisRun,
)
from web.records.editor import Editor, RecordForm, RowForm, row_formset

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
TEXT = forms.Textarea(attrs={"rows": 3})
UNIT = forms.TextInput(attrs={"size": 8, "list": "unit-suggestions", "autocomplete": "off"})
NUMBER = forms.NumberInput(attrs={"step": "any"})


def _num(value) -> str:
    return "" if value is None else f"{value:g}"


def _model_fields(model, names: list[str], **overrides) -> dict[str, forms.Field]:
    fields = forms.fields_for_model(model, fields=names)
    for name, f in fields.items():
        if isinstance(f, forms.FloatField):
            f.widget = copy.deepcopy(NUMBER)
        if name.endswith("_unit"):
            f.widget = copy.deepcopy(UNIT)
        if isinstance(f, forms.DateField):
            f.widget = copy.deepcopy(DATE)
        if isinstance(f, forms.DateTimeField):
            f.widget = copy.deepcopy(DATETIME)
        if isinstance(f.widget, forms.Textarea):
            f.widget = copy.deepcopy(TEXT)
    fields.update(overrides)
    return fields


def live(qs):
    """Only records that are not retired."""
    return qs.filter(is_retired=False)


def _shown(values: dict) -> dict:
    """Initial values as a chemist reads them: 240, not 240.0."""
    return {k: _num(v) if isinstance(v, float) else v for k, v in values.items()}


def _initial(instance, names) -> dict:
    if instance is None:
        return {}
    out = _shown({n: getattr(instance, n) for n in names})
    out["version"] = instance.version
    return out


# --- chemicals and lots --------------------------------------------------------------------

CHEMICAL_FIELDS = ["name", "formula", "cas", "supplier", "purity", "grade", "notes"]
ChemicalForm = type("ChemicalForm", (RecordForm,), _model_fields(Chemical, CHEMICAL_FIELDS))

LOT_FIELDS = ["chemical", "lot_number", "received_on", "opened_on", "quantity_value",
              "quantity_unit", "location"]
LotForm = type("LotForm", (RecordForm,), _model_fields(ChemicalLot, LOT_FIELDS))


def chemical_editor(data, instance: Chemical | None) -> Editor:
    return Editor(main=ChemicalForm(data, initial=_initial(instance, CHEMICAL_FIELDS)))


def lot_editor(data, instance: ChemicalLot | None, *, chemical: Chemical | None = None) -> Editor:
    initial = _initial(instance, LOT_FIELDS) if instance else {"chemical": chemical}
    main = LotForm(data, initial=initial)
    main.fields["chemical"].queryset = live(Chemical.objects.all())
    return Editor(main=main)


# --- components of stocks and additions of recipe steps -------------------------------------

def component_choices() -> list:
    """Grouped choices ``chemical:<id>``, ``lot:<id>``, ``stock:<id>`` (not retired)."""
    return [
        ("", "—"),
        ("Chemicals", [(f"chemical:{c.pk}", c.name)
                       for c in live(Chemical.objects.all()).order_by("name")]),
        ("Chemical lots", [(f"lot:{lot.pk}", str(lot)) for lot in
                           live(ChemicalLot.objects.select_related("chemical"))]),
        ("Stock solutions", [(f"stock:{s.pk}", f"{s.name} ({s.code})")
                             for s in live(StockSolution.objects.all())]),
    ]


COMPONENT_KEYS = {"chemical": "chemical_id", "lot": "chemical_lot_id", "stock": "stock_id"}
COMPONENT_SERVICE = {"chemical": "component", "chemical_lot": "component", "stock": "component"}


def component_value(item) -> str:
    for key, attr in COMPONENT_KEYS.items():
        if getattr(item, attr, None):
            return f"{key}:{getattr(item, attr)}"
    return ""


def component_data(value: str) -> dict:
    """``lot:3`` → ``{"chemical_lot_id": 3}``."""
    if not value:
        return {}
    key, _sep, pk = value.partition(":")
    return {COMPONENT_KEYS[key]: int(pk)}


class ComponentRow(RowForm):
    """One component of a stock solution: what, and an amount or equivalents."""

    SERVICE_FIELDS = COMPONENT_SERVICE
    component = forms.ChoiceField(required=False, label="Component")
    amount_value = forms.FloatField(required=False, label="Amount", widget=NUMBER)
    amount_unit = forms.CharField(required=False, max_length=20, label="Unit", widget=UNIT)
    equivalents = forms.FloatField(required=False, label="Equivalents", widget=NUMBER)
    equivalents_basis = forms.CharField(required=False, max_length=200, label="Basis")
    note = forms.CharField(required=False, max_length=300, label="Note")

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["component"].choices = choices

    def clean(self):
        data = super().clean()
        if not self.is_blank() and not data.get("component"):
            self.add_error("component", "Choose the chemical, lot or stock solution.")
        return data

    def service_item(self) -> dict:
        d = self.cleaned_data
        return {**component_data(d["component"]), "amount_value": d.get("amount_value"),
                "amount_unit": (d.get("amount_unit") or "").strip(),
                "equivalents": d.get("equivalents"),
                "equivalents_basis": (d.get("equivalents_basis") or "").strip(),
                "note": (d.get("note") or "").strip()}


ComponentFormSet = row_formset(ComponentRow)

STOCK_FIELDS = ["code", "name", "solvent", "concentration_value", "concentration_unit",
                "preparation", "prepared_by", "prepared_at", "citation", "notes"]
StockForm = type("StockForm", (RecordForm,), _model_fields(StockSolution, STOCK_FIELDS))


def stock_editor(data, instance: StockSolution | None) -> Editor:
    main = StockForm(data, initial=_initial(instance, STOCK_FIELDS))
    main.fields["solvent"].queryset = live(Chemical.objects.all())
    main.fields["preparation"].queryset = live(Recipe.objects.all())
    main.fields["prepared_by"].queryset = get_user_model().objects.filter(is_active=True)
    initial = []
    if instance is not None:
        initial = [_shown({"component": component_value(c), "amount_value": c.amount_value,
                           "amount_unit": c.amount_unit, "equivalents": c.equivalents,
                           "equivalents_basis": c.equivalents_basis, "note": c.note})
                   for c in instance.components.all()]
    choices = component_choices()
    components = ComponentFormSet(data, initial=initial, prefix="components",
                                  form_kwargs={"choices": choices})
    return Editor(main=main, formsets={"components": components})


def stock_kwargs(editor: Editor) -> dict:
    return {"data": editor.main.changes(),
            "components": [row.service_item() for row in editor.filled("components")]}


# --- samples -------------------------------------------------------------------------------

SAMPLE_FIELDS = ["code", "name", "material", "morphology", "crystal_phase", "synthesis_date",
                 "storage_conditions", "external_origin", "is_reference", "notes"]
SampleForm = type("SampleForm", (RecordForm,), _model_fields(Sample, SAMPLE_FIELDS))
THICKNESS_UNITS = [("", "—"), ("ML", "ML"), ("nm", "nm"), ("Å", "Å")]


class LayerRow(RowForm):
    """One layer, core outwards. Thickness in monolayers (ML) and/or a length (nm, Å)."""

    SERVICE_FIELDS = {"thickness_ml": "thickness_value", "thickness_nm": "thickness_value",
                      "composition_x": "composition_x", "__all__": None}
    IGNORE_FOR_BLANK = ("DELETE", "gradient")
    role = forms.ChoiceField(required=False, label="Role", choices=[("", "—"), *LayerRole.choices])
    material = forms.CharField(required=False, max_length=100, label="Material")
    thickness_value = forms.FloatField(required=False, label="Thickness", widget=NUMBER)
    thickness_unit = forms.ChoiceField(required=False, label="unit", choices=THICKNESS_UNITS)
    thickness2_value = forms.FloatField(required=False, label="or also", widget=NUMBER)
    thickness2_unit = forms.ChoiceField(required=False, label="unit", choices=THICKNESS_UNITS)
    composition_formula = forms.CharField(required=False, max_length=100, label="Formula",
                                          help_text="e.g. Cd0.5Zn0.5S")
    composition_x = forms.FloatField(
        required=False, label="x", widget=NUMBER, min_value=0, max_value=1,
        error_messages={"min_value": "x is a fraction: between 0 and 1.",
                        "max_value": "x is a fraction: between 0 and 1."})
    gradient = forms.BooleanField(required=False, label="Gradient")

    def clean(self):
        data = super().clean()
        if self.is_blank():
            return data
        if not data.get("role"):
            self.add_error("role", "Say whether this layer is the core, a crown or a shell.")
        if not data.get("material"):
            self.add_error("material", "Give the layer's material, e.g. CdS.")
        self._thickness = {}
        for n in ("", "2"):
            self._one_thickness(data, f"thickness{n}")
        return data

    def _one_thickness(self, data, name):
        value, unit = data.get(f"{name}_value"), data.get(f"{name}_unit")
        if value is None and not unit:
            return
        if value is None or not unit:
            self.add_error(f"{name}_value" if value is None else f"{name}_unit",
                           "Give the thickness with its unit (ML, nm or Å).")
            return
        if value <= 0:
            self.add_error(f"{name}_value", "A layer is thicker than zero.")
            return
        key = "thickness_ml" if unit == "ML" else "thickness_nm"
        if key in self._thickness:
            self.add_error(f"{name}_unit", "Give one thickness in ML and/or one as a length.")
            return
        if unit == "ML":
            self._thickness[key] = value
            return
        try:
            self._thickness[key] = to_quantity(value, "angstrom" if unit == "Å" else unit,
                                               field="thickness", allowed=("length",)).canonical
        except DomainError as exc:
            self.add_error(f"{name}_value", exc.message.removeprefix("thickness: "))

    def service_item(self) -> dict:
        d = self.cleaned_data
        return {"role": d["role"], "material": d["material"].strip(),
                "thickness_ml": self._thickness.get("thickness_ml"),
                "thickness_nm": self._thickness.get("thickness_nm"),
                "composition_formula": (d.get("composition_formula") or "").strip(),
                "composition_x": d.get("composition_x"), "gradient": bool(d.get("gradient"))}


def _layer_initial(layer) -> dict:
    out = {"role": layer.role, "material": layer.material, "gradient": layer.gradient,
           "composition_formula": layer.composition_formula,
           "composition_x": layer.composition_x}
    pairs = [(layer.thickness_ml, "ML"), (layer.thickness_nm, "nm")]
    pairs = [(v, u) for v, u in pairs if v is not None]
    for (value, unit), n in zip(pairs, ("", "2"), strict=False):
        out[f"thickness{n}_value"], out[f"thickness{n}_unit"] = value, unit
    return _shown(out)


class ParentRow(RowForm):
    SERVICE_FIELDS = {"parent": "parent", "process": "process", "note": "note"}
    parent = forms.ModelChoiceField(queryset=Sample.objects.none(), required=False,
                                    label="Parent sample", empty_label="—")
    process = forms.ChoiceField(required=False, label="Derived by",
                                choices=[("", "—"), *DerivationProcess.choices])
    note = forms.CharField(required=False, max_length=300, label="Note")

    def __init__(self, *args, samples=None, **kwargs):
        super().__init__(*args, **kwargs)
        if samples is not None:
            self.fields["parent"].queryset = samples
            self.fields["parent"].widget.attrs["data-filterable"] = ""

    def clean(self):
        data = super().clean()
        if not self.is_blank():
            if not data.get("parent"):
                self.add_error("parent", "Choose the parent sample.")
            if not data.get("process"):
                self.add_error("process", "Say how it was derived (shell growth, exchange…).")
        return data

    def claims(self, message: str) -> str | None:
        parent = self.cleaned_data.get("parent")
        return "parent" if parent and re.search(rf"\b{re.escape(parent.code)}\b", message) \
            else None

    def service_item(self) -> dict:
        d = self.cleaned_data
        return {"parent": d["parent"], "process": d["process"], "note": d.get("note") or ""}


LayerFormSet = row_formset(LayerRow, extra=2)
ParentFormSet = row_formset(ParentRow)


def sample_editor(data, instance: Sample | None) -> Editor:
    main = SampleForm(data, initial=_initial(instance, SAMPLE_FIELDS))
    layers = [] if instance is None else [_layer_initial(x) for x in instance.layers.all()]
    parents = [] if instance is None else [
        {"parent": link.parent, "process": link.process, "note": link.note}
        for link in instance.parent_links.select_related("parent")]
    samples = live(Sample.objects.all()).order_by("-created_at", "-id")
    if instance is not None:
        samples = samples.exclude(pk=instance.pk)
    return Editor(main=main, formsets={
        "layers": LayerFormSet(data, initial=layers, prefix="layers"),
        "parents": ParentFormSet(data, initial=parents, prefix="parents",
                                 form_kwargs={"samples": samples}),
    })


def sample_kwargs(editor: Editor) -> dict:
    return {"data": editor.main.changes(),
            "layers": [row.service_item() for row in editor.filled("layers")],
            "parents": [row.service_item() for row in editor.filled("parents")]}


# --- recipes -------------------------------------------------------------------------------

# Step quantities with a value and a unit: (prefix, label).
STEP_QUANTITIES = [("setpoint", "Set point"), ("ramp", "Ramp"), ("duration", "Duration"),
                   ("injection_rate", "Injection rate"),
                   ("injection_rate_after_switch", "Rate after the switch")]
INJECTION_TEXT = [("injection_start_condition", "Start injecting"),
                  ("injection_switch_condition", "Switch rate when"),
                  ("injection_stop_condition", "Stop when")]
ADDITION_ROW_FIELDS = ["component", "input", "amount_value", "amount_unit", "equivalents",
                       "equivalents_basis", "note"]
ADDITION_SERVICE = {"chemical": "component", "chemical_lot": "component", "stock": "component",
                    "recipe_input": "input"}
MIN_ADDITION_ROWS = 2


def _step_fields(form: forms.Form) -> None:
    for prefix, label in STEP_QUANTITIES:
        form.fields[f"{prefix}_value"] = forms.FloatField(required=False, label=label,
                                                          widget=NUMBER)
        form.fields[f"{prefix}_unit"] = forms.CharField(required=False, max_length=20,
                                                        label=f"{label} unit", widget=UNIT)
    form.fields["atmosphere"] = forms.ChoiceField(required=False, label="Atmosphere",
                                                  choices=[("", "—"), *Atmosphere.choices])
    for name, label in INJECTION_TEXT:
        form.fields[name] = forms.CharField(required=False, max_length=200, label=label)


class StepRow(RowForm):
    """One recipe step with its set point, ramp, duration, atmosphere, a one- or two-stage
    injection (rate until a condition, then another rate until the stop condition) and the
    additions made in it (a chemical, lot, stock or recipe input: an amount with its unit, or
    equivalents with their basis)."""

    IGNORE_FOR_BLANK = ("DELETE", "addition_rows", "source")
    action = forms.ChoiceField(required=False, label="Action",
                               choices=[("", "—"), *StepAction.choices])
    description = forms.CharField(required=False, label="What is done",
                                  widget=forms.Textarea(attrs={"rows": 2}))
    source = forms.IntegerField(required=False, widget=forms.HiddenInput)
    addition_rows = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, choices=(), sources=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.sources = sources or {}
        _step_fields(self)
        raw = self.data.get(self.add_prefix("addition_rows")) if self.is_bound else None
        wanted = raw if raw and str(raw).isdigit() else self.initial.get("addition_rows")
        self.n_additions = min(max(int(wanted or 0), MIN_ADDITION_ROWS), 20)
        self.initial["addition_rows"] = self.n_additions
        for j in range(1, self.n_additions + 1):
            self.fields[f"add{j}_component"] = forms.ChoiceField(
                required=False, label=f"Addition {j}", choices=choices)
            self.fields[f"add{j}_input"] = forms.CharField(
                required=False, max_length=50, label="or recipe input",
                help_text="e.g. cores")
            self.fields[f"add{j}_amount_value"] = forms.FloatField(
                required=False, label="Amount", widget=NUMBER)
            self.fields[f"add{j}_amount_unit"] = forms.CharField(
                required=False, max_length=20, label="unit", widget=UNIT)
            self.fields[f"add{j}_equivalents"] = forms.FloatField(
                required=False, label="or equivalents", widget=NUMBER)
            self.fields[f"add{j}_equivalents_basis"] = forms.CharField(
                required=False, max_length=200, label="per")
            self.fields[f"add{j}_note"] = forms.CharField(required=False, max_length=300,
                                                          label="Note")
            self.fields[f"add{j}_source"] = forms.IntegerField(required=False,
                                                               widget=forms.HiddenInput)
        self.used_additions: list[int] = []
        self.addition_sources = {a.pk: a for step in self.sources.values()
                                 for a in step.additions.all()}

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", None) or {}
        return all(v in (None, "", False, []) for k, v in data.items()
                   if k not in self.IGNORE_FOR_BLANK and not k.endswith("_source"))

    def quantity_rows(self):
        return [(label, self[f"{p}_value"], self[f"{p}_unit"]) for p, label in STEP_QUANTITIES]

    def injection_fields(self):
        return [self[name] for name, _label in INJECTION_TEXT]

    def addition_grid(self):
        return [[self[f"add{j}_{n}"] for n in ADDITION_ROW_FIELDS]
                for j in range(1, self.n_additions + 1)]

    def clean(self):
        data = super().clean()
        if not self.is_blank() and not data.get("action"):
            self.add_error("action", "Choose what this step does (heat, hold, inject…).")
        for j in range(1, self.n_additions + 1):
            if data.get(f"add{j}_component") and (data.get(f"add{j}_input") or "").strip():
                self.add_error(f"add{j}_input", "Either a chemical/stock or a recipe input.")
        return data

    def locate(self, rest: str) -> str | None:
        if rest.startswith("additions["):
            index, _sep, name = rest[len("additions["):].partition("].")
            if index.isdigit() and 0 < int(index) <= len(self.used_additions):
                target = f"add{self.used_additions[int(index) - 1]}_"
                target += ADDITION_SERVICE.get(name, name)
                return target if target in self.fields else None
            return None
        return super().locate(rest)

    def service_item(self) -> dict:
        """The step as ``create_recipe`` takes it; fields not on the form kept from the step
        it was copied from (``source``)."""
        from synthesis.services import STEP_FIELDS

        d = self.cleaned_data
        source = self.sources.get(d.get("source"))
        item = {f: getattr(source, f) for f in STEP_FIELDS} if source else {}
        item.pop("position", None)
        item.update(action=d["action"], description=(d.get("description") or "").strip(),
                    atmosphere=d.get("atmosphere") or "")
        for prefix, _label in STEP_QUANTITIES:
            item[f"{prefix}_value"] = d.get(f"{prefix}_value")
            item[f"{prefix}_unit"] = (d.get(f"{prefix}_unit") or "").strip()
        for name, _label in INJECTION_TEXT:
            item[name] = (d.get(name) or "").strip()
        item["additions"] = self._additions(d)
        return item

    def _additions(self, d) -> list[dict]:
        out, self.used_additions = [], []
        for j in range(1, self.n_additions + 1):
            values = {n: d.get(f"add{j}_{n}") for n in ADDITION_ROW_FIELDS}
            if all(v in (None, "") for v in values.values()):
                continue
            self.used_additions.append(j)
            item = {**component_data(values["component"] or ""),
                    "amount_value": values["amount_value"],
                    "amount_unit": (values["amount_unit"] or "").strip(),
                    "equivalents": values["equivalents"],
                    "equivalents_basis": (values["equivalents_basis"] or "").strip(),
                    "note": (values["note"] or "").strip()}
            if (values["input"] or "").strip():
                item["input"] = values["input"].strip()
            source = self.addition_sources.get(d.get(f"add{j}_source"))
            if source is not None:  # not on the form: kept from the addition it was copied from
                item["at_temperature_c"] = source.at_temperature_c
            out.append(item)
        return out


def _step_initial(step) -> dict:
    out = {"action": step.action, "description": step.description, "source": step.pk,
           "atmosphere": step.atmosphere}
    for prefix, _label in STEP_QUANTITIES:
        out[f"{prefix}_value"] = getattr(step, f"{prefix}_value")
        out[f"{prefix}_unit"] = getattr(step, f"{prefix}_unit")
    for name, _label in INJECTION_TEXT:
        out[name] = getattr(step, name)
    additions = list(step.additions.all())
    out["addition_rows"] = len(additions) + 1
    for j, a in enumerate(additions, start=1):
        out[f"add{j}_component"] = component_value(a)
        out[f"add{j}_input"] = a.recipe_input.name if a.recipe_input_id else ""
        out[f"add{j}_source"] = a.pk
        for n in ("amount_value", "amount_unit", "equivalents", "equivalents_basis", "note"):
            out[f"add{j}_{n}"] = getattr(a, n)
    return _shown(out)


class InputRow(RowForm):
    name = forms.SlugField(required=False, max_length=50, label="Input name",
                           help_text="e.g. cores")
    description = forms.CharField(required=False, max_length=300, label="Description",
                                  help_text="e.g. 4.5 ML CdSe NPL cores")

    def clean(self):
        data = super().clean()
        if not self.is_blank() and not data.get("name"):
            self.add_error("name", "Give the input a short name, e.g. cores.")
        return data

    def service_item(self) -> dict:
        return {"name": self.cleaned_data["name"],
                "description": (self.cleaned_data.get("description") or "").strip()}


StepFormSet = row_formset(StepRow, extra=1)
InputFormSet = row_formset(InputRow, extra=1, can_delete=False)
RECIPE_FIELDS = ["name", "description", "product_description", "citation"]
RecipeForm = type("RecipeForm", (RecordForm,), _model_fields(Recipe, ["slug", *RECIPE_FIELDS]))


def recipe_editor(data, instance: Recipe | None, *, copy_of: Recipe | None = None) -> Editor:
    """New recipe (``instance`` None, optionally prefilled from ``copy_of``) or an edit."""
    template = instance or copy_of
    initial = _initial(instance, RECIPE_FIELDS)
    if copy_of is not None:
        initial = {f: getattr(copy_of, f) for f in RECIPE_FIELDS}
        initial["name"] = f"{copy_of.name} (copy)"
    main = RecipeForm(data, initial=initial)
    main.fields["slug"].required = False
    main.fields["slug"].help_text = "Leave empty to derive it from the name."
    if instance is not None:
        del main.fields["slug"]
    steps = list(template.steps.all()) if template else []
    sources = {s.pk: s for s in steps}
    formsets = {"steps": StepFormSet(
        data, initial=[_step_initial(s) for s in steps], prefix="steps",
        form_kwargs={"choices": component_choices(), "sources": sources})}
    if instance is None:
        inputs = ([{"name": i.name, "description": i.description}
                   for i in template.inputs.all()] if template else [])
        formsets["inputs"] = InputFormSet(data, initial=inputs, prefix="inputs")
    return Editor(main=main, formsets=formsets)


def recipe_kwargs(editor: Editor, *, create: bool) -> dict:
    steps = [row.service_item() for row in editor.filled("steps")]
    data = editor.main.changes()
    if create:
        if not data.get("slug"):
            data.pop("slug", None)
        inputs = [row.service_item() for row in editor.filled("inputs")]
        return {"data": data, "inputs": inputs, "steps": steps}
    return {"changes": data, "steps": steps}


# --- runs ----------------------------------------------------------------------------------

RUN_FIELDS = ["code", "operator", "operator_name", "started_at", "observations"]
RUN_ADDITION_FIELDS = [("qualifier", "Qualifier"), ("amount_value", "Amount"),
                       ("amount_max_value", "Amount upper end"), ("amount_unit", "unit"),
                       ("equivalents", "Equivalents"), ("equivalents_max", "Equivalents upper end")]
QUALIFIER_CHOICES = [
    ("", "= as given"), ("<", "< below"), ("≤", "≤ at most"), ("~", "≈ about"), (">", "> above"),
    ("≥", "≥ at least"), ("range", "range (lower–upper)"),
]
# Printed bounds of a run step: (qualifier field, upper-end field, labels).
STEP_BOUNDS = [("setpoint_qualifier", "setpoint_max_c", "Set point qualifier",
                "Set point upper end (°C)"),
               ("duration_qualifier", "duration_max_value", "Duration qualifier",
                "Duration upper end (same unit)")]
BOUND_FIELDS = [n for q, m, _lq, _lm in STEP_BOUNDS for n in (q, m)]


def _qualifier_field(label: str) -> forms.ChoiceField:
    return forms.ChoiceField(required=False, label=label, choices=QUALIFIER_CHOICES,
                             help_text="'range': the value is the lower end")


class RunForm(RecordForm):
    code = forms.CharField(max_length=80, label="Run code")
    operator = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False,
                                      label="Operator", empty_label="—")
    operator_name = forms.CharField(max_length=100, required=False,
                                    label="Operator (no account)")
    started_at = forms.DateTimeField(required=False, label="Started at", widget=DATETIME)
    observations = forms.CharField(required=False, label="Observations", widget=TEXT)
    products = forms.ModelMultipleChoiceField(
        queryset=Sample.objects.none(), required=False, label="Product samples",
        widget=forms.SelectMultiple(attrs={"size": 8, "data-filterable": ""}),
        help_text="The samples this run made (a sample comes from one run).")

    def changes(self) -> dict:
        out = super().changes()
        out.pop("products", None)
        return out


class RunStepForm(forms.Form):
    """What one step of a recorded run actually did; initial values are what is stored."""

    def __init__(self, *args, step, **kwargs):
        self.step = step
        self.additions = list(step.additions.all())
        initial = {"description": step.description, "deviation_note": step.deviation_note,
                   "atmosphere": step.atmosphere}
        for prefix, _label in STEP_QUANTITIES:
            initial[f"{prefix}_value"] = getattr(step, f"{prefix}_value")
            initial[f"{prefix}_unit"] = getattr(step, f"{prefix}_unit")
        for name, _label in INJECTION_TEXT:
            initial[name] = getattr(step, name)
        for name in BOUND_FIELDS:
            initial[name] = getattr(step, name)
        for i, a in enumerate(self.additions, start=1):
            for name, _label in RUN_ADDITION_FIELDS:
                initial[f"add{i}_{name}"] = getattr(a, name)
        super().__init__(*args, initial=_shown(initial), prefix=f"step{step.position}",
                         **kwargs)
        _step_fields(self)
        for q_name, max_name, q_label, max_label in STEP_BOUNDS:
            self.fields[q_name] = _qualifier_field(q_label)
            self.fields[max_name] = forms.FloatField(required=False, label=max_label,
                                                     widget=NUMBER)
        self.fields["description"] = forms.CharField(
            required=False, label="What was done", widget=forms.Textarea(attrs={"rows": 2}))
        for i, a in enumerate(self.additions, start=1):
            what = a.component_label()
            self.fields[f"add{i}_amount_value"] = forms.FloatField(
                required=False, label=f"Amount of {what}", widget=NUMBER)
            self.fields[f"add{i}_amount_unit"] = forms.CharField(
                required=False, max_length=20, label=f"Unit of {what}", widget=UNIT)
            self.fields[f"add{i}_equivalents"] = forms.FloatField(
                required=False, label=f"Equivalents of {what}", widget=NUMBER)
            self.fields[f"add{i}_qualifier"] = _qualifier_field(f"Qualifier of {what}")
            self.fields[f"add{i}_amount_max_value"] = forms.FloatField(
                required=False, label=f"Upper end of the amount of {what}", widget=NUMBER)
            self.fields[f"add{i}_equivalents_max"] = forms.FloatField(
                required=False, label=f"Upper end of the equivalents of {what}", widget=NUMBER)
        self.fields["deviation_note"] = forms.CharField(
            required=False, label="Deviation note", widget=forms.Textarea(attrs={"rows": 2}))

    def quantity_rows(self):
        return [(label, self[f"{p}_value"], self[f"{p}_unit"]) for p, label in STEP_QUANTITIES]

    def bound_rows(self):
        """(qualifier, upper end) of the set point and of the duration."""
        return [(self[q], self[m]) for q, m, _lq, _lm in STEP_BOUNDS]

    def injection_fields(self):
        return [self[name] for name, _label in INJECTION_TEXT]

    def addition_grid(self):
        return [[self[f"add{i}_{n}"] for n, _l in RUN_ADDITION_FIELDS]
                for i in range(1, len(self.additions) + 1)]

    def locate(self, rest: str) -> str | None:
        if rest.startswith("additions["):
            index, _sep, name = rest[len("additions["):].partition("].")
            target = f"add{index}_{name}"
            return target if target in self.fields else None
        return rest if rest in self.fields else None

    def changes(self) -> dict:
        """Only the fields that differ from what is stored (``update_run``'s step dict)."""
        d = self.cleaned_data
        out = {}
        names = [f"{p}_{s}" for p, _l in STEP_QUANTITIES for s in ("value", "unit")]
        names += [n for n, _l in INJECTION_TEXT] + ["atmosphere", "description",
                                                    "deviation_note", *BOUND_FIELDS]
        for name in names:
            new = d.get(name)
            new = new.strip() if isinstance(new, str) else new
            old = getattr(self.step, name)
            if _changed(new, old):
                numeric = name.endswith(("_value", "_max_c"))
                out[name] = "" if new is None and not numeric else new
        additions = []
        for i, a in enumerate(self.additions, start=1):
            changed = {}
            for name, _label in RUN_ADDITION_FIELDS:
                new = d.get(f"add{i}_{name}")
                if _changed(new, getattr(a, name)):
                    changed[name] = new if new is not None or name != "amount_unit" else ""
            additions.append(changed)
        if any(additions):
            out["additions"] = additions
        return out


def _changed(new, old) -> bool:
    if new in (None, "") and old in (None, ""):
        return False
    if isinstance(new, float | int) and isinstance(old, float | int):
        return float(new) != float(old)
    return new != old


def run_editor(data, run: SynthesisRun) -> Editor:
    main = RunForm(data, initial={**_initial(run, RUN_FIELDS),
                                  "products": list(run.products.all())})
    main.fields["operator"].queryset = get_user_model().objects.filter(is_active=True)
    main.fields["products"].queryset = live(Sample.objects.filter(
        Q(produced_by=None) | Q(produced_by=run))).order_by("-created_at", "-id")
    steps = [RunStepForm(data, step=s) for s in run.steps.all()]
    editor = Editor(main=main, extra_forms=steps)
    editor.rows["steps"] = {form.step.position: form for form in steps}
    editor.steps = steps
    return editor


def run_kwargs(editor: Editor) -> dict:
    return {"changes": editor.main.changes(),
            "steps": {f.step.position: c for f in editor.steps if (c := f.changes())},
            "products": list(editor.main.cleaned_data["products"])}
