"""Curators' admin for the synthesis domain: inlines, search, filters, history, CSV/XLSX."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.contenttypes.admin import GenericTabularInline
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from import_export.admin import ImportExportMixin

from labdb.lib.admin import CuratorsOnly, LabRecordAdmin
from synthesis.enums import CrystalPhase, DerivationProcess, LayerRole, Morphology
from synthesis.importing import ChemicalResource, SampleResource, choices_text
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


def record_admin_url(content_type, object_id) -> str | None:
    """The admin change page of the record a (content type, id) pair names, if registered."""
    try:
        return reverse(f"admin:{content_type.app_label}_{content_type.model}_change",
                       args=[object_id])
    except NoReverseMatch:
        return None


class DataFlagInline(CuratorsOnly, GenericTabularInline):
    """The curator flags on a record, read-only here; each opens the flag's own page."""

    model = DataFlag
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("kind", "status", "location", "message", "annotation")
    readonly_fields = fields
    verbose_name_plural = "data flags on this record"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class FlaggedRecordAdmin(LabRecordAdmin):
    """A lab record's admin that lists the data flags pointing at it."""

    def get_inlines(self, request, obj):
        return [*super().get_inlines(request, obj), DataFlagInline]


class CuratorImportExport(ImportExportMixin):
    """CSV/XLSX import and export for curators only."""

    def has_import_permission(self, request) -> bool:
        return self.has_change_permission(request)

    def has_export_permission(self, request) -> bool:
        return self.has_view_permission(request)


class LotInline(CuratorsOnly, admin.TabularInline):
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
class ChemicalAdmin(CuratorImportExport, FlaggedRecordAdmin):
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


class StockComponentInline(CuratorsOnly, admin.TabularInline):
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
class StockSolutionAdmin(FlaggedRecordAdmin):
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


class RecipeInputInline(CuratorsOnly, admin.TabularInline):
    model = RecipeInput
    extra = 0


class RecipeStepInline(CuratorsOnly, admin.StackedInline):
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
class RecipeAdmin(FlaggedRecordAdmin):
    list_display = ("name", "slug", "version_number", "is_current", "citation", "paper")
    search_fields = ("name", "slug", "description")
    list_filter = ("is_current", "paper", "is_retired")
    inlines = [RecipeInputInline, RecipeStepInline]


class RecipeAdditionInline(CuratorsOnly, admin.TabularInline):
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
class RecipeStepAdmin(CuratorsOnly, admin.ModelAdmin):
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


class RunInputInline(CuratorsOnly, admin.TabularInline):
    model = RunInput
    extra = 0


class RunStepInline(CuratorsOnly, admin.StackedInline):
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
class SynthesisRunAdmin(FlaggedRecordAdmin):
    list_display = ("code", "recipe", "operator", "operator_name", "started_at")
    search_fields = ("code", "recipe__name", "observations", "operator_name")
    list_filter = ("recipe", "started_at", "is_retired")
    inlines = [RunInputInline, RunStepInline]


class RunAdditionInline(CuratorsOnly, admin.TabularInline):
    model = RunAddition
    extra = 0


@admin.register(RunStep)
class RunStepAdmin(CuratorsOnly, admin.ModelAdmin):
    list_display = ("run", "position", "action", "setpoint_c", "deviation_note")
    inlines = [RunAdditionInline]


class LayerInline(CuratorsOnly, admin.TabularInline):
    model = SampleLayer
    extra = 0


class ParentInline(CuratorsOnly, admin.TabularInline):
    model = SampleParent
    fk_name = "child"
    extra = 0
    autocomplete_fields = ("parent",)
    verbose_name = "parent"
    verbose_name_plural = "parents (lineage)"


@admin.register(Sample)
class SampleAdmin(CuratorImportExport, FlaggedRecordAdmin):
    resource_classes = [SampleResource]
    import_template_name = "admin/synthesis/sample/import.html"
    # A revert puts the layer stack and the lineage back as they were with that version.
    history_children = ((SampleLayer, "sample"), (SampleParent, "child"))
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

    def get_import_context_data(self, **kwargs):
        return {
            **super().get_import_context_data(**kwargs),
            "sample_import_columns": ", ".join(SampleResource._meta.fields),
            "sample_morphologies": choices_text(Morphology),
            "sample_phases": choices_text(CrystalPhase),
            "sample_layer_roles": choices_text(LayerRole),
            "sample_processes": choices_text(DerivationProcess),
        }


@admin.register(Paper)
class PaperAdmin(FlaggedRecordAdmin):
    list_display = ("key", "title", "year", "doi")
    search_fields = ("key", "title", "doi")


@admin.register(DataFlag)
class DataFlagAdmin(LabRecordAdmin):
    list_display = ("location", "kind", "status", "flagged_link", "message")
    list_filter = ("kind", "status", "content_type")
    search_fields = ("location", "message", "annotation")
    list_editable = ("status",)
    list_select_related = ("content_type",)
    readonly_fields = LabRecordAdmin.readonly_fields + ("flagged_record", "content_type",
                                                        "object_id")

    @admin.display(description="flagged record")
    def flagged_link(self, obj):
        """Link built from the content type and id alone (no query per row)."""
        url = record_admin_url(obj.content_type, obj.object_id)
        label = f"{obj.content_type.name} {obj.object_id}"
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.display(description="flagged record")
    def flagged_record(self, obj):
        target = obj.target
        if target is None:
            return f"{obj.content_type.name} {obj.object_id} (no longer exists)"
        url = record_admin_url(obj.content_type, obj.object_id)
        label = f"{obj.content_type.name}: {target}"
        return format_html('<a href="{}">{}</a>', url, label) if url else label
