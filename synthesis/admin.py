"""Curators' admin for the synthesis domain: inlines, search, filters, history, CSV/XLSX."""

from __future__ import annotations

from django.contrib import admin
from import_export.admin import ImportExportMixin

from labdb.lib.admin import LabRecordAdmin
from synthesis.importing import ChemicalResource, SampleResource
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


class LotInline(admin.TabularInline):
    model = ChemicalLot
    extra = 0
    fields = (
        "lot_number",
        "received_on",
        "opened_on",
        "quantity_value",
        "quantity_unit",
        "location",
    )


@admin.register(Chemical)
class ChemicalAdmin(ImportExportMixin, LabRecordAdmin):
    resource_classes = [ChemicalResource]
    list_display = ("name", "formula", "cas", "supplier", "purity", "grade", "is_retired")
    search_fields = ("name", "formula", "cas", "supplier")
    list_filter = ("supplier", "grade", "is_retired")
    inlines = [LotInline]


@admin.register(ChemicalLot)
class ChemicalLotAdmin(LabRecordAdmin):
    list_display = (
        "chemical",
        "lot_number",
        "received_on",
        "opened_on",
        "quantity_value",
        "quantity_unit",
        "location",
    )
    search_fields = ("lot_number", "chemical__name", "location")
    list_filter = ("received_on", "is_retired")
    autocomplete_fields = ("chemical",)


class StockComponentInline(admin.TabularInline):
    model = StockComponent
    fk_name = "stock_solution"
    extra = 0
    fields = (
        "position",
        "chemical",
        "chemical_lot",
        "stock",
        "amount_value",
        "amount_unit",
        "amount_canonical",
        "amount_dimension",
        "note",
    )
    readonly_fields = ("amount_canonical", "amount_dimension")


@admin.register(StockSolution)
class StockSolutionAdmin(LabRecordAdmin):
    list_display = (
        "code",
        "name",
        "concentration_value",
        "concentration_unit",
        "prepared_at",
        "citation",
    )
    search_fields = ("code", "name", "notes")
    list_filter = ("is_retired",)
    inlines = [StockComponentInline]


class RecipeInputInline(admin.TabularInline):
    model = RecipeInput
    extra = 0


class RecipeStepInline(admin.StackedInline):
    model = RecipeStep
    extra = 0
    show_change_link = True
    fields = (
        ("position", "action", "atmosphere"),
        "description",
        ("setpoint_value", "setpoint_unit", "setpoint_c", "setpoint_max_c", "setpoint_approx"),
        ("ramp_value", "ramp_unit", "ramp_c_per_min"),
        ("duration_value", "duration_unit", "duration_s"),
        ("injection_rate_value", "injection_rate_unit", "injection_rate_ml_per_h"),
        (
            "injection_start_condition",
            "injection_switch_condition",
            "injection_rate_after_switch_value",
            "injection_rate_after_switch_unit",
        ),
    )
    readonly_fields = ("setpoint_c", "ramp_c_per_min", "duration_s", "injection_rate_ml_per_h")


@admin.register(Recipe)
class RecipeAdmin(LabRecordAdmin):
    list_display = ("name", "slug", "version_number", "is_current", "citation", "paper")
    search_fields = ("name", "slug", "description")
    list_filter = ("is_current", "paper", "is_retired")
    inlines = [RecipeInputInline, RecipeStepInline]


class RecipeAdditionInline(admin.TabularInline):
    model = RecipeAddition
    extra = 0
    fields = (
        "position",
        "chemical",
        "chemical_lot",
        "stock",
        "recipe_input",
        "amount_value",
        "amount_unit",
        "amount_canonical",
        "equivalents",
        "equivalents_basis",
        "at_temperature_c",
        "note",
    )
    readonly_fields = ("amount_canonical",)


@admin.register(RecipeStep)
class RecipeStepAdmin(admin.ModelAdmin):
    list_display = (
        "recipe",
        "position",
        "action",
        "setpoint_c",
        "duration_s",
        "injection_rate_ml_per_h",
    )
    list_filter = ("action",)
    search_fields = ("recipe__name", "description")
    inlines = [RecipeAdditionInline]


class RunInputInline(admin.TabularInline):
    model = RunInput
    extra = 0


class RunStepInline(admin.StackedInline):
    model = RunStep
    extra = 0
    show_change_link = True
    fields = (
        ("position", "action", "recipe_step"),
        "description",
        ("setpoint_value", "setpoint_unit", "duration_value", "duration_unit"),
        "deviation_note",
    )


@admin.register(SynthesisRun)
class SynthesisRunAdmin(LabRecordAdmin):
    list_display = ("code", "recipe", "operator", "operator_name", "started_at")
    search_fields = ("code", "recipe__name", "observations", "operator_name")
    list_filter = ("recipe", "started_at", "is_retired")
    inlines = [RunInputInline, RunStepInline]


class RunAdditionInline(admin.TabularInline):
    model = RunAddition
    extra = 0


@admin.register(RunStep)
class RunStepAdmin(admin.ModelAdmin):
    list_display = ("run", "position", "action", "setpoint_c", "deviation_note")
    inlines = [RunAdditionInline]


class LayerInline(admin.TabularInline):
    model = SampleLayer
    extra = 0


class ParentInline(admin.TabularInline):
    model = SampleParent
    fk_name = "child"
    extra = 0
    autocomplete_fields = ("parent",)
    verbose_name = "parent"
    verbose_name_plural = "parents (lineage)"


@admin.register(Sample)
class SampleAdmin(ImportExportMixin, LabRecordAdmin):
    resource_classes = [SampleResource]
    list_display = (
        "code",
        "name",
        "material",
        "morphology",
        "crystal_phase",
        "synthesis_date",
        "owner",
        "is_reference",
        "is_retired",
    )
    search_fields = ("code", "name", "material", "notes")
    list_filter = ("morphology", "crystal_phase", "is_reference", "paper", "is_retired")
    inlines = [LayerInline, ParentInline]


@admin.register(Paper)
class PaperAdmin(LabRecordAdmin):
    list_display = ("key", "title", "year", "doi")
    search_fields = ("key", "title", "doi")


@admin.register(DataFlag)
class DataFlagAdmin(LabRecordAdmin):
    list_display = ("location", "kind", "status", "content_type", "object_id", "message")
    list_filter = ("kind", "status", "content_type")
    search_fields = ("location", "message", "annotation")
    list_editable = ("status",)
    readonly_fields = LabRecordAdmin.readonly_fields + ("content_type", "object_id")
