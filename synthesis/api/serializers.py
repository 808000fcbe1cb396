"""Serializers of the synthesis API. Shape only: writes go through synthesis.services."""

from __future__ import annotations

from rest_framework import serializers

from labdb.lib.viewsets import LabRecordSerializer
from synthesis.enums import FlagKind
from synthesis.models import (
    Chemical,
    ChemicalLot,
    DataFlag,
    Paper,
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
from synthesis.selectors import run_deviations

DERIVED_STEP = (
    "setpoint_c",
    "ramp_c_per_min",
    "duration_s",
    "injection_rate_ml_per_h",
    "injection_rate_after_switch_ml_per_h",
)
DERIVED_AMOUNT = ("amount_canonical", "amount_dimension")


class PaperSerializer(LabRecordSerializer):
    class Meta:
        model = Paper
        fields = LabRecordSerializer.COMMON + (
            "key",
            "title",
            "authors",
            "journal",
            "year",
            "doi",
            "source_file",
        )


class DataFlagSerializer(LabRecordSerializer):
    target_type = serializers.CharField(source="content_type.model", read_only=True)

    class Meta:
        model = DataFlag
        fields = LabRecordSerializer.COMMON + (
            "target_type",
            "object_id",
            "kind",
            "status",
            "location",
            "message",
            "annotation",
        )
        read_only_fields = ("object_id",)


class DataFlagCreateSerializer(serializers.Serializer):
    """Raise a flag on any lab record: its kind (model name) and id, and what looks wrong."""

    target_type = serializers.CharField(help_text="Model name: sample, synthesisrun, "
                                        "plmeasurement, xasfit …")
    object_id = serializers.IntegerField(min_value=1)
    kind = serializers.ChoiceField(choices=FlagKind.choices, default=FlagKind.NOTE)
    location = serializers.CharField(max_length=200, required=False, allow_blank=True)
    message = serializers.CharField()


class ChemicalSerializer(LabRecordSerializer):
    class Meta:
        model = Chemical
        fields = LabRecordSerializer.COMMON + (
            "name",
            "formula",
            "cas",
            "supplier",
            "purity",
            "grade",
            "notes",
        )


class ChemicalLotSerializer(LabRecordSerializer):
    class Meta:
        model = ChemicalLot
        fields = LabRecordSerializer.COMMON + (
            "chemical",
            "lot_number",
            "received_on",
            "opened_on",
            "quantity_value",
            "quantity_unit",
            "quantity_canonical",
            "quantity_dimension",
            "location",
            "supplier",
            "purity",
            "grade",
            "paper",
        )
        read_only_fields = ("quantity_canonical", "quantity_dimension")


ADDITION_COMMON = (
    "id",
    "position",
    "chemical",
    "chemical_lot",
    "stock",
    "amount_value",
    "amount_unit",
    "amount_canonical",
    "amount_dimension",
    "equivalents",
    "equivalents_basis",
    "amount_max_value",
    "equivalents_max",
    "qualifier",
    "at_temperature_c",
    "note",
)


class StockComponentSerializer(serializers.ModelSerializer):
    class Meta:
        model = StockComponent
        fields = ADDITION_COMMON
        read_only_fields = ("id", "position") + DERIVED_AMOUNT


class StockSolutionSerializer(LabRecordSerializer):
    components = StockComponentSerializer(many=True, required=False)

    class Meta:
        model = StockSolution
        fields = LabRecordSerializer.COMMON + (
            "code",
            "name",
            "solvent",
            "concentration_value",
            "concentration_unit",
            "concentration_canonical",
            "concentration_dimension",
            "preparation",
            "prepared_by",
            "prepared_at",
            "citation",
            "notes",
            "components",
        )
        read_only_fields = ("concentration_canonical", "concentration_dimension")


class RecipeInputSerializer(serializers.ModelSerializer):
    class Meta:
        model = RecipeInput
        fields = ("id", "name", "description")
        read_only_fields = ("id",)


class RecipeAdditionSerializer(serializers.ModelSerializer):
    input = serializers.SlugRelatedField(
        source="recipe_input", slug_field="name", read_only=True, allow_null=True
    )
    input_name = serializers.CharField(
        write_only=True, required=False, help_text="Name of a recipe input, e.g. 'cores'."
    )

    class Meta:
        model = RecipeAddition
        fields = ADDITION_COMMON + ("input", "input_name")
        read_only_fields = ("id",) + DERIVED_AMOUNT


STEP_FIELDS_OUT = (
    "id",
    "position",
    "action",
    "description",
    "setpoint_value",
    "setpoint_unit",
    "setpoint_c",
    "setpoint_max_c",
    "setpoint_approx",
    "setpoint_qualifier",
    "ramp_value",
    "ramp_unit",
    "ramp_c_per_min",
    "duration_value",
    "duration_unit",
    "duration_s",
    "duration_max_value",
    "duration_qualifier",
    "atmosphere",
    "injection_rate_value",
    "injection_rate_unit",
    "injection_rate_ml_per_h",
    "injection_start_condition",
    "injection_start_c",
    "injection_switch_condition",
    "injection_switch_c",
    "injection_rate_after_switch_value",
    "injection_rate_after_switch_unit",
    "injection_rate_after_switch_ml_per_h",
    "injection_stop_condition",
    "details",
)


class RecipeStepSerializer(serializers.ModelSerializer):
    additions = RecipeAdditionSerializer(many=True, required=False)

    class Meta:
        model = RecipeStep
        fields = STEP_FIELDS_OUT + ("additions",)
        read_only_fields = ("id",) + DERIVED_STEP
        extra_kwargs = {"position": {"required": False}}


class RecipeSerializer(LabRecordSerializer):
    inputs = RecipeInputSerializer(many=True, required=False)
    steps = RecipeStepSerializer(many=True, required=False)
    max_setpoint_c = serializers.FloatField(
        read_only=True, allow_null=True, help_text="Highest step setpoint (°C); null without one."
    )

    class Meta:
        model = Recipe
        fields = LabRecordSerializer.COMMON + (
            "slug",
            "version_number",
            "name",
            "description",
            "product_description",
            "citation",
            "paper",
            "previous_version",
            "is_current",
            "max_setpoint_c",
            "inputs",
            "steps",
        )
        read_only_fields = ("version_number", "previous_version", "is_current")
        extra_kwargs = {"slug": {"required": False}}
        validators: list = []  # uniqueness of (slug, version) is the service's job


class SampleLayerSerializer(serializers.ModelSerializer):
    class Meta:
        model = SampleLayer
        fields = (
            "id",
            "position",
            "material",
            "role",
            "thickness_ml",
            "thickness_nm",
            "composition_x",
            "composition_formula",
            "gradient",
        )
        read_only_fields = ("id",)
        extra_kwargs = {"position": {"required": False}}


class SampleParentSerializer(serializers.ModelSerializer):
    parent_code = serializers.CharField(source="parent.code", read_only=True)
    child_code = serializers.CharField(source="child.code", read_only=True)

    class Meta:
        model = SampleParent
        fields = ("id", "child", "parent", "parent_code", "child_code", "process", "note")
        read_only_fields = ("id", "child")


class ParentLinkInputSerializer(serializers.Serializer):
    parent = serializers.PrimaryKeyRelatedField(queryset=Sample.objects.all())
    process = serializers.ChoiceField(choices=SampleParent._meta.get_field("process").choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class SampleSerializer(LabRecordSerializer):
    layers = SampleLayerSerializer(many=True, required=False)
    parents = serializers.SerializerMethodField(help_text="Ids of the parent samples.")
    parent_links = ParentLinkInputSerializer(many=True, required=False, write_only=True)
    lineage = serializers.SerializerMethodField(help_text="Parent links with the process.")

    class Meta:
        model = Sample
        fields = LabRecordSerializer.COMMON + (
            "code",
            "name",
            "material",
            "morphology",
            "crystal_phase",
            "synthesis_date",
            "storage_conditions",
            "external_origin",
            "is_reference",
            "produced_by",
            "paper",
            "citation",
            "notes",
            "layers",
            "parents",
            "parent_links",
            "lineage",
        )
        read_only_fields = ("produced_by",)

    def get_parents(self, obj) -> list[int]:
        return [link.parent_id for link in obj.parent_links.all()]

    def get_lineage(self, obj) -> list[dict]:
        return [
            {"parent": link.parent_id, "process": link.process, "note": link.note}
            for link in obj.parent_links.all()
        ]


class RunAdditionSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunAddition
        fields = ADDITION_COMMON
        read_only_fields = ("id",) + DERIVED_AMOUNT


class RunStepSerializer(serializers.ModelSerializer):
    additions = RunAdditionSerializer(many=True, read_only=True)

    class Meta:
        model = RunStep
        fields = STEP_FIELDS_OUT + ("recipe_step", "deviation_note", "additions")
        read_only_fields = ("id", "recipe_step") + DERIVED_STEP


class RunInputSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="recipe_input.name", read_only=True)

    class Meta:
        model = RunInput
        fields = ("name", "sample")


class ActualStepSerializer(serializers.Serializer):
    """What was done differently at one recipe step (fields absent = as in the recipe)."""

    position = serializers.IntegerField(min_value=1)
    setpoint_value = serializers.FloatField(required=False, allow_null=True)
    setpoint_unit = serializers.CharField(required=False, allow_blank=True)
    ramp_value = serializers.FloatField(required=False, allow_null=True)
    ramp_unit = serializers.CharField(required=False, allow_blank=True)
    duration_value = serializers.FloatField(required=False, allow_null=True)
    duration_unit = serializers.CharField(required=False, allow_blank=True)
    injection_rate_value = serializers.FloatField(required=False, allow_null=True)
    injection_rate_unit = serializers.CharField(required=False, allow_blank=True)
    injection_start_condition = serializers.CharField(required=False, allow_blank=True)
    injection_switch_condition = serializers.CharField(required=False, allow_blank=True)
    injection_rate_after_switch_value = serializers.FloatField(required=False, allow_null=True)
    injection_rate_after_switch_unit = serializers.CharField(required=False, allow_blank=True)
    injection_stop_condition = serializers.CharField(required=False, allow_blank=True)
    atmosphere = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    deviation_note = serializers.CharField(required=False, allow_blank=True)
    additions = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Per recipe addition, the changed amount fields.",
    )


class ProductSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    material = serializers.CharField()
    morphology = serializers.CharField()
    crystal_phase = serializers.CharField(required=False, default="unknown")
    synthesis_date = serializers.DateField(required=False, allow_null=True)
    process = serializers.CharField(required=False, default="other")
    layers = SampleLayerSerializer(many=True, required=False)


class SynthesisRunSerializer(LabRecordSerializer):
    steps = RunStepSerializer(many=True, read_only=True)
    input_samples = RunInputSerializer(source="inputs", many=True, read_only=True)
    inputs = serializers.DictField(
        child=serializers.PrimaryKeyRelatedField(queryset=Sample.objects.all()),
        required=False,
        write_only=True,
        help_text="Recipe input name → sample id.",
    )
    actual_steps = ActualStepSerializer(many=True, required=False, write_only=True)
    products = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    new_products = ProductSerializer(many=True, required=False, write_only=True)
    deviations = serializers.SerializerMethodField()
    max_setpoint_c = serializers.FloatField(
        read_only=True, allow_null=True, help_text="Highest step setpoint (°C); null without one."
    )

    class Meta:
        model = SynthesisRun
        fields = LabRecordSerializer.COMMON + (
            "code",
            "recipe",
            "operator",
            "operator_name",
            "started_at",
            "observations",
            "max_setpoint_c",
            "input_samples",
            "inputs",
            "actual_steps",
            "steps",
            "products",
            "new_products",
            "deviations",
        )
        read_only_fields = ("operator",)

    def get_deviations(self, obj) -> list[dict]:
        return [
            {k: (v if not hasattr(v, "pk") else v.pk) for k, v in d.items()}
            for d in run_deviations(obj)
        ]
