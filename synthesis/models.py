"""Synthesis domain: chemicals and lots, stock solutions, recipes, runs, samples and lineage.

Units live in field names. Each quantity keeps what was entered (``<x>_value``, ``<x>_unit``)
and a canonical column for querying (``setpoint_c``, ``duration_s``, ``amount_canonical`` …),
filled by ``clean()`` through ``labdb.lib.units``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from labdb.lib.models import LabRecord, QuantityMixin
from labdb.lib.units import AMOUNT_DIMENSIONS
from synthesis.enums import (
    Atmosphere,
    CrystalPhase,
    DerivationProcess,
    FlagKind,
    FlagStatus,
    LayerRole,
    Morphology,
    StepAction,
)


class Qualifier(models.TextChoices):
    """How a printed number relates to the quantity: exact, a bound, approximate or a range."""

    EQ = "=", "="
    LT = "<", "below"
    GT = ">", "above"
    LE = "≤", "at most"
    GE = "≥", "at least"
    APPROX = "~", "about"
    RANGE = "range", "range (value to value_max)"


def bound_errors(qualifier: str, value, upper, *, fields: tuple[str, str, str], what: str,
                 unit: str = "") -> dict[str, str]:
    """Errors of a printed value with a qualifier and an upper end, keyed by field name.

    ``fields`` = (qualifier field, value field, upper-end field). A qualifier needs the value;
    "range" needs both ends with the lower no greater than the upper; an upper end is only
    for a range.
    """
    q_field, value_field, max_field = fields
    unit = f" {unit}" if unit else ""
    if qualifier and qualifier not in (Qualifier.EQ, Qualifier.RANGE) and value is None:
        return {q_field: f"{what}: the qualifier {qualifier} needs a value to qualify; enter "
                         "the value or clear the qualifier."}
    if qualifier == Qualifier.RANGE and (value is None or upper is None):
        return {max_field if value is not None else value_field:
                f"{what}: a range needs both ends (e.g. 1–2 h): enter the lower end as the "
                "value and the upper end."}
    if upper is not None and qualifier != Qualifier.RANGE:
        return {max_field: f"{what}: an upper end is only for a range; choose 'range' as the "
                           "qualifier or leave the upper end empty."}
    if upper is not None and value is not None and value > upper:
        return {max_field: f"{what}: the upper end {upper:g}{unit} is below the lower end "
                           f"{value:g}{unit}; enter the smaller number first."}
    return {}


class Paper(LabRecord):
    """A publication that data was transcribed from (a citation target)."""

    key = models.SlugField(max_length=40, unique=True)
    title = models.TextField()
    authors = models.TextField(blank=True)
    journal = models.CharField(max_length=200, blank=True)
    year = models.PositiveIntegerField(null=True, blank=True)
    doi = models.CharField(max_length=200, blank=True)
    source_file = models.CharField(max_length=200, blank=True)
    extra = models.JSONField(
        default=dict, blank=True, help_text="Transcribed details with no field."
    )
    history = HistoricalRecords()

    def __str__(self) -> str:
        return self.key


class DataFlag(LabRecord):
    """A curator-visible flag on any record: an inconsistency in a paper, a derived value…

    Flags never change the flagged data; curators annotate and acknowledge them.
    """

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    kind = models.CharField(max_length=20, choices=FlagKind.choices, default=FlagKind.NOTE)
    status = models.CharField(max_length=20, choices=FlagStatus.choices, default=FlagStatus.OPEN)
    location = models.CharField(max_length=200, blank=True, help_text="e.g. 'Table 3, row 3.5 ML'")
    message = models.TextField()
    annotation = models.TextField(blank=True, help_text="Curator's comment.")
    history = HistoricalRecords()

    class Meta:
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.location or self.message[:40]}"


class Chemical(LabRecord):
    name = models.CharField(max_length=200, unique=True)
    formula = models.CharField(max_length=100, blank=True)
    cas = models.CharField("CAS number", max_length=20, blank=True)
    supplier = models.CharField(max_length=100, blank=True)
    purity = models.CharField(max_length=50, blank=True, help_text="As labelled, e.g. '99.99%'")
    grade = models.CharField(max_length=100, blank=True)
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(cas="") | Q(cas__regex=r"^[0-9]{2,7}-[0-9]{2}-[0-9]$"),
                name="chemical_cas_format",
                violation_error_message="cas: expected a CAS number such as 7782-49-2.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ChemicalLot(QuantityMixin, LabRecord):
    QUANTITIES = {"quantity": ("quantity_canonical", AMOUNT_DIMENSIONS, False)}

    chemical = models.ForeignKey(Chemical, on_delete=models.PROTECT, related_name="lots")
    lot_number = models.CharField(max_length=100)
    received_on = models.DateField(null=True, blank=True)
    opened_on = models.DateField(null=True, blank=True)
    quantity_value = models.FloatField(null=True, blank=True)
    quantity_unit = models.CharField(max_length=20, blank=True)
    quantity_canonical = models.FloatField(null=True, blank=True, editable=False)
    quantity_dimension = models.CharField(max_length=20, blank=True, editable=False)
    location = models.CharField(max_length=200, blank=True)
    supplier = models.CharField(max_length=100, blank=True)
    purity = models.CharField(max_length=50, blank=True, help_text="As labelled, e.g. '99.99%'")
    grade = models.CharField(max_length=100, blank=True)
    paper = models.ForeignKey(
        Paper, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The paper whose experimental section names this lot (transcribed records).",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["chemical__name", "lot_number"]
        constraints = [
            models.UniqueConstraint(fields=["chemical", "lot_number"], name="lot_unique_number"),
            models.CheckConstraint(
                condition=Q(quantity_value__gte=0) | Q(quantity_value=None),
                name="lot_quantity_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.chemical.name} lot {self.lot_number}"


class Recipe(LabRecord):
    """One version of a procedure. Editing a used recipe creates the next version."""

    slug = models.SlugField(max_length=80, help_text="Stable identity shared by all versions.")
    version_number = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    product_description = models.CharField(max_length=200, blank=True)
    citation = models.CharField(max_length=200, blank=True)
    paper = models.ForeignKey(Paper, null=True, blank=True, on_delete=models.PROTECT)
    previous_version = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="next_version"
    )
    is_current = models.BooleanField(default=True)
    extra = models.JSONField(
        default=dict, blank=True, help_text="Transcribed details with no field."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["slug", "-version_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug", "version_number"], name="recipe_version_unique"
            ),
            models.UniqueConstraint(
                fields=["slug"], condition=Q(is_current=True), name="recipe_one_current_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version_number})"


class RecipeInput(models.Model):
    """A sample the recipe consumes, e.g. 'cores' for a shell growth."""

    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="inputs")
    name = models.SlugField(max_length=50)
    description = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recipe", "name"], name="recipe_input_unique")
        ]

    def __str__(self) -> str:
        return self.name


class StepFields(QuantityMixin, models.Model):
    """What a step says; shared by recipe steps and the steps of a run."""

    QUANTITIES = {
        "setpoint": ("setpoint_c", ("temperature",), True),
        "ramp": ("ramp_c_per_min", ("temperature_rate",), True),
        "duration": ("duration_s", ("time",), False),
        "injection_rate": ("injection_rate_ml_per_h", ("flow",), False),
        "injection_rate_after_switch": ("injection_rate_after_switch_ml_per_h", ("flow",), False),
    }

    position = models.PositiveIntegerField()
    action = models.CharField(max_length=20, choices=StepAction.choices)
    description = models.TextField(blank=True)
    setpoint_value = models.FloatField(null=True, blank=True)
    setpoint_unit = models.CharField(max_length=20, blank=True)
    setpoint_c = models.FloatField(null=True, blank=True, editable=False, db_index=True)
    setpoint_max_c = models.FloatField(
        null=True, blank=True, help_text="Upper end of a range (°C)."
    )
    setpoint_approx = models.BooleanField(default=False)
    setpoint_qualifier = models.CharField(
        max_length=5, choices=Qualifier.choices, blank=True,
        help_text="'<' for 'lower than 25 °C', 'range' with setpoint_max_c; blank = as given.",
    )
    ramp_value = models.FloatField(null=True, blank=True)
    ramp_unit = models.CharField(max_length=20, blank=True)
    ramp_c_per_min = models.FloatField(null=True, blank=True, editable=False)
    duration_value = models.FloatField(null=True, blank=True)
    duration_unit = models.CharField(max_length=20, blank=True)
    duration_s = models.FloatField(null=True, blank=True, editable=False)
    duration_max_value = models.FloatField(
        null=True, blank=True, help_text="Upper end of a printed range, in duration_unit (1–2 h)."
    )
    duration_qualifier = models.CharField(
        max_length=5, choices=Qualifier.choices, blank=True,
        help_text="'≥' for 'at least', 'range' with duration_max_value; blank = as given.",
    )
    atmosphere = models.CharField(max_length=20, choices=Atmosphere.choices, blank=True)
    injection_rate_value = models.FloatField(null=True, blank=True)
    injection_rate_unit = models.CharField(max_length=20, blank=True)
    injection_rate_ml_per_h = models.FloatField(null=True, blank=True, editable=False)
    injection_start_condition = models.CharField(max_length=200, blank=True)
    injection_start_c = models.FloatField(null=True, blank=True)
    injection_switch_condition = models.CharField(max_length=200, blank=True)
    injection_switch_c = models.FloatField(null=True, blank=True)
    injection_rate_after_switch_value = models.FloatField(null=True, blank=True)
    injection_rate_after_switch_unit = models.CharField(max_length=20, blank=True)
    injection_rate_after_switch_ml_per_h = models.FloatField(null=True, blank=True, editable=False)
    injection_stop_condition = models.CharField(max_length=200, blank=True)
    details = models.TextField(
        blank=True,
        help_text="What the text says beyond the fields: '60 s later', 'at least three times'.",
    )
    extra = models.JSONField(
        default=dict, blank=True, help_text="Transcribed details with no field."
    )

    class Meta:
        abstract = True
        ordering = ["position"]

    def __str__(self) -> str:
        return f"{self.position}. {self.action}"

    def clean(self) -> None:
        super().clean()  # derives setpoint_c from (setpoint_value, setpoint_unit)
        errors = bound_errors(
            self.setpoint_qualifier, self.setpoint_c, self.setpoint_max_c, what="set point",
            fields=("setpoint_qualifier", "setpoint_value", "setpoint_max_c"), unit="°C")
        errors.update(bound_errors(
            self.duration_qualifier, self.duration_value, self.duration_max_value,
            what="duration", fields=("duration_qualifier", "duration_value",
                                     "duration_max_value"), unit=self.duration_unit))
        if errors:
            raise ValidationError(errors)


class RecipeStep(StepFields):
    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="steps")
    history = HistoricalRecords()

    class Meta(StepFields.Meta):
        constraints = [
            models.UniqueConstraint(fields=["recipe", "position"], name="recipe_step_position"),
            models.CheckConstraint(
                condition=Q(duration_s__gte=0) | Q(duration_s=None),
                name="recipe_step_duration_non_negative",
            ),
        ]


class AdditionFields(QuantityMixin, models.Model):
    """An amount of something added in a step: an absolute amount or equivalents."""

    QUANTITIES = {"amount": ("amount_canonical", AMOUNT_DIMENSIONS, False)}

    position = models.PositiveIntegerField(default=1)
    chemical = models.ForeignKey(
        Chemical, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    chemical_lot = models.ForeignKey(
        ChemicalLot, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    stock = models.ForeignKey(
        "StockSolution", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    amount_value = models.FloatField(null=True, blank=True)
    amount_unit = models.CharField(max_length=20, blank=True)
    amount_canonical = models.FloatField(null=True, blank=True, editable=False)
    amount_dimension = models.CharField(max_length=20, blank=True, editable=False)
    equivalents = models.FloatField(null=True, blank=True)
    equivalents_basis = models.CharField(
        max_length=200, blank=True, help_text="e.g. 'per Cd in the cores'"
    )
    amount_max_value = models.FloatField(
        null=True, blank=True, help_text="Upper end of a printed range, in amount_unit."
    )
    equivalents_max = models.FloatField(
        null=True, blank=True, help_text="Upper end of a printed range (0.6–1.5 eq → 1.5)."
    )
    qualifier = models.CharField(
        max_length=5, choices=Qualifier.choices, blank=True,
        help_text="Of the amount or equivalents: 'range' with the *_max field, '~', '<' …",
    )
    at_temperature_c = models.FloatField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        abstract = True
        ordering = ["position"]

    def clean(self) -> None:
        super().clean()
        if self.amount_value is not None and self.equivalents is not None:
            raise ValidationError({"equivalents": "Give an amount or equivalents, not both."})
        if self.equivalents is not None or self.equivalents_max is not None:
            errors = bound_errors(self.qualifier, self.equivalents, self.equivalents_max,
                                  fields=("qualifier", "equivalents", "equivalents_max"),
                                  what="equivalents", unit="eq")
        else:
            errors = bound_errors(self.qualifier, self.amount_value, self.amount_max_value,
                                  fields=("qualifier", "amount_value", "amount_max_value"),
                                  what="amount", unit=self.amount_unit)
        if errors:
            raise ValidationError(errors)
        if self.equivalents is not None and not self.equivalents_basis:
            raise ValidationError(
                {"equivalents_basis": "Equivalents need a basis, e.g. 'per Cd in the cores'."}
            )

    def component_label(self) -> str:
        for attr in ("chemical_lot", "chemical", "stock"):
            obj = getattr(self, attr)
            if obj is not None:
                return str(obj)
        input_obj = getattr(self, "recipe_input", None)
        return f"input: {input_obj}" if input_obj is not None else "(unspecified)"


def _addition_constraints(prefix: str, component_fields: tuple[str, ...]) -> list:
    exactly_one = Q()
    for field in component_fields:
        others = [f for f in component_fields if f != field]
        term = Q(**{f"{field}__isnull": False})
        for other in others:
            term &= Q(**{f"{other}__isnull": True})
        exactly_one |= term
    return [
        models.CheckConstraint(condition=exactly_one, name=f"{prefix}_one_component"),
        models.CheckConstraint(
            condition=Q(amount_value__gte=0) | Q(amount_value=None),
            name=f"{prefix}_amount_non_negative",
        ),
        models.CheckConstraint(
            condition=Q(equivalents__gte=0) | Q(equivalents=None),
            name=f"{prefix}_equivalents_non_negative",
        ),
    ]


class RecipeAddition(AdditionFields):
    step = models.ForeignKey(RecipeStep, on_delete=models.CASCADE, related_name="additions")
    recipe_input = models.ForeignKey(
        RecipeInput, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = HistoricalRecords()

    class Meta(AdditionFields.Meta):
        constraints = _addition_constraints(
            "recipe_addition", ("chemical", "chemical_lot", "stock", "recipe_input")
        )


class StockSolution(QuantityMixin, LabRecord):
    """A prepared precursor: Se in ODE, Hg(OAc)2 in oleylamine 0.1 M, cadmium myristate…"""

    QUANTITIES = {
        "concentration": ("concentration_canonical", ("concentration", "mass_concentration"), False)
    }

    code = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    solvent = models.ForeignKey(
        Chemical, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    concentration_value = models.FloatField(null=True, blank=True)
    concentration_unit = models.CharField(max_length=20, blank=True)
    concentration_canonical = models.FloatField(null=True, blank=True, editable=False)
    concentration_dimension = models.CharField(max_length=20, blank=True, editable=False)
    preparation = models.ForeignKey(
        Recipe,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stock_solutions",
        help_text="The recipe that describes how it is prepared.",
    )
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    prepared_at = models.DateTimeField(null=True, blank=True)
    citation = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    extra = models.JSONField(
        default=dict, blank=True, help_text="Transcribed details with no field."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class StockComponent(AdditionFields):
    """What went into a stock: a chemical (lot) or another stock, with its amount."""

    stock_solution = models.ForeignKey(
        StockSolution, on_delete=models.CASCADE, related_name="components"
    )
    history = HistoricalRecords()

    class Meta(AdditionFields.Meta):
        constraints = _addition_constraints(
            "stock_component", ("chemical", "chemical_lot", "stock")
        )

    def clean(self) -> None:
        super().clean()
        if self.stock_id and self.stock_id == self.stock_solution_id:
            raise ValidationError({"stock": "A stock solution cannot contain itself."})


class Sample(LabRecord):
    code = models.CharField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    material = models.CharField(max_length=100, help_text="Overall material, e.g. CdSe/CdS/CdZnS")
    morphology = models.CharField(max_length=10, choices=Morphology.choices)
    crystal_phase = models.CharField(
        max_length=20, choices=CrystalPhase.choices, default=CrystalPhase.UNKNOWN
    )
    synthesis_date = models.DateField(null=True, blank=True, db_index=True)
    storage_conditions = models.CharField(max_length=200, blank=True)
    external_origin = models.CharField(
        max_length=200, blank=True, help_text="Supplier/product for commercial references."
    )
    is_reference = models.BooleanField(default=False)
    produced_by = models.ForeignKey(
        "SynthesisRun", null=True, blank=True, on_delete=models.PROTECT, related_name="products"
    )
    paper = models.ForeignKey(Paper, null=True, blank=True, on_delete=models.PROTECT)
    citation = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    extra = models.JSONField(
        default=dict, blank=True, help_text="Transcribed details with no field."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=~Q(code=""), name="sample_code_not_empty"),
        ]

    def __str__(self) -> str:
        return self.code


class SampleLayer(models.Model):
    """One layer of the ordered stack: core CdSe 4.5 ML; crown CdS; gradient shell CdxZn1-xS."""

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="layers")
    position = models.PositiveIntegerField()
    material = models.CharField(max_length=100)
    role = models.CharField(max_length=10, choices=LayerRole.choices)
    thickness_ml = models.FloatField(null=True, blank=True, db_index=True)
    thickness_nm = models.FloatField(null=True, blank=True)
    composition_x = models.FloatField(null=True, blank=True)
    composition_formula = models.CharField(max_length=100, blank=True)
    gradient = models.BooleanField(default=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["position"]
        # Filters like "samples with a 4.5 ML core" walk this index (benchmarks/api_latency.py).
        indexes = [models.Index(fields=["role", "thickness_ml", "sample"],
                                name="layer_role_thickness")]
        constraints = [
            models.UniqueConstraint(fields=["sample", "position"], name="layer_position_unique"),
            models.CheckConstraint(
                condition=Q(thickness_ml__gt=0) | Q(thickness_ml=None),
                name="layer_thickness_ml_positive",
            ),
            models.CheckConstraint(
                condition=Q(thickness_nm__gt=0) | Q(thickness_nm=None),
                name="layer_thickness_nm_positive",
            ),
            models.CheckConstraint(
                condition=Q(composition_x=None)
                | (Q(composition_x__gte=0) & Q(composition_x__lte=1)),
                name="layer_composition_x_fraction",
            ),
        ]

    def __str__(self) -> str:
        thickness = f" {self.thickness_ml:g} ML" if self.thickness_ml else ""
        return f"{self.role} {self.material}{thickness}"


class SampleParent(models.Model):
    """A lineage edge: ``child`` was derived from ``parent`` by ``process``."""

    child = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="parent_links")
    parent = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="child_links")
    process = models.CharField(max_length=20, choices=DerivationProcess.choices)
    note = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["child", "parent"], name="lineage_edge_unique"),
            models.CheckConstraint(condition=~Q(child=models.F("parent")), name="lineage_no_self"),
        ]

    def __str__(self) -> str:
        return f"{self.parent} → {self.child} ({self.process})"


class SynthesisRun(LabRecord):
    """A synthesis actually performed, following one recipe version."""

    code = models.CharField(max_length=80, unique=True)
    recipe = models.ForeignKey(Recipe, on_delete=models.PROTECT, related_name="runs")
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    operator_name = models.CharField(
        max_length=100, blank=True, help_text="For runs by people without an account."
    )
    started_at = models.DateTimeField(null=True, blank=True, db_index=True)
    observations = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-started_at", "code"]

    def __str__(self) -> str:
        return self.code


class RunInput(models.Model):
    run = models.ForeignKey(SynthesisRun, on_delete=models.CASCADE, related_name="inputs")
    recipe_input = models.ForeignKey(RecipeInput, on_delete=models.PROTECT, related_name="+")
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="used_in_runs")
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "recipe_input"], name="run_input_unique")
        ]


class RunStep(StepFields):
    """A step as actually done. ``recipe_step`` links it to what the recipe said."""

    run = models.ForeignKey(SynthesisRun, on_delete=models.CASCADE, related_name="steps")
    recipe_step = models.ForeignKey(
        RecipeStep, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    deviation_note = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta(StepFields.Meta):
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="run_step_position"),
        ]


class RunAddition(AdditionFields):
    step = models.ForeignKey(RunStep, on_delete=models.CASCADE, related_name="additions")
    recipe_input = models.ForeignKey(
        RecipeInput, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = HistoricalRecords()

    class Meta(AdditionFields.Meta):
        constraints = _addition_constraints(
            "run_addition", ("chemical", "chemical_lot", "stock", "recipe_input")
        )
