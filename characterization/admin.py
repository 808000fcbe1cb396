"""Curators' admin for files, measurements and XAS fits (history, retire, previews)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from characterization.models import (
    AbsorptionMeasurement,
    CompositionMeasurement,
    DataFile,
    DataFileLink,
    DataFileRunLink,
    FTIRMeasurement,
    LifetimeComponent,
    PLLifetimeMeasurement,
    PLMeasurement,
    ReportedQuantity,
    TEMSizeMeasurement,
    XASFit,
    XASPath,
    XASSpectrum,
    XRDMeasurement,
)
from characterization.services import attach_data_file
from labdb.lib.admin import CuratorsOnly, LabRecordAdmin
from labdb.lib.errors import DomainError
from synthesis.admin import FlaggedRecordAdmin

MEASUREMENT_FILTERS = ("source", "paper", "is_retired")


class DataFileUploadForm(forms.ModelForm):
    """Admin add form: the raw file and its sample; everything else comes from the parse."""

    upload = forms.FileField(label="instrument file", help_text="Stored unchanged, then parsed.")

    class Meta:
        model = DataFile
        fields = ("sample",)


class _FileLinkInline(CuratorsOnly, admin.TabularInline):
    """Who linked the file where, and why — shown, not edited here: linking and unlinking go
    through the services (the sample page / API), which derive or retire the rows and ask
    for a reason."""

    extra = 0
    can_delete = False
    readonly_fields = (
        "linked_by", "linked_at", "reason", "is_active",
        "unlinked_by", "unlinked_at", "unlink_reason",
    )

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class SampleLinkInline(_FileLinkInline):
    model = DataFileLink
    verbose_name = verbose_name_plural = "linked samples"
    fields = ("sample", "groups", *_FileLinkInline.readonly_fields)
    readonly_fields = ("sample", "groups", *_FileLinkInline.readonly_fields)


class RunLinkInline(_FileLinkInline):
    model = DataFileRunLink
    verbose_name = verbose_name_plural = "linked synthesis runs"
    fields = ("run", *_FileLinkInline.readonly_fields)
    readonly_fields = ("run", *_FileLinkInline.readonly_fields)


@admin.register(DataFile)
class DataFileAdmin(FlaggedRecordAdmin):
    list_display = (
        "original_name",
        "sample",
        "format",
        "technique",
        "parse_status",
        "size_bytes",
        "uploaded_by",
        "uploaded_at",
    )
    list_filter = ("parse_status", "format", "technique")
    search_fields = ("original_name", "sha256", "sample__code", "parse_error")
    readonly_fields = LabRecordAdmin.readonly_fields + (
        "preview_image",
        "sha256",
        "size_bytes",
        "original_name",
        "file",
        "format",
        "technique",
        "parser_name",
        "parser_version",
        "parse_status",
        "parse_error",
        "parse_detail",
        "parsed_at",
        "metadata",
        "key_numbers",
        "uploaded_by",
    )
    exclude = ("series", "preview")

    def get_inlines(self, request, obj):
        links = [SampleLinkInline, RunLinkInline] if obj is not None else []
        return [*links, *super().get_inlines(request, obj)]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = DataFileUploadForm
            kwargs["fields"] = ("sample", "upload")
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return super().get_readonly_fields(request, obj) if obj else ()

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("sample", "upload")})]
        return super().get_fieldsets(request, obj)

    def save_model(self, request, obj, form, change):
        """Adding: one call to the attach service (store unchanged, deduplicate, parse)."""
        if change:
            return super().save_model(request, obj, form, change)
        upload = form.cleaned_data["upload"]
        try:
            stored, created = attach_data_file(
                content=upload.read(),
                filename=upload.name,
                sample=form.cleaned_data.get("sample"),
                actor=request.user,
            )
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None
        obj.__dict__.update(stored.__dict__)
        obj._state.adding = False
        if created and stored.parse_status in ("pending", "parsing"):
            self.message_user(
                request, f"{stored.original_name} stored; it is being parsed in the background "
                "(reload this page to see the result).", messages.INFO
            )
        if not created:
            self.message_user(
                request, "Identical content was already stored; showing it.", messages.WARNING
            )

    @admin.display(description="preview")
    def preview_image(self, obj):
        if not obj.preview:
            return "—"
        return format_html(
            '<img src="/api/files/{}/preview/" alt="preview of {}" style="max-width:600px">',
            obj.pk,
            obj.original_name,
        )


class PathInline(CuratorsOnly, admin.TabularInline):
    """A fit's paths: editable, never deleted here (retire the fit and record a new one)."""

    model = XASPath
    extra = 0
    can_delete = False
    fields = (
        "position",
        "absorber",
        "scatterer",
        "n",
        "n_err",
        "r_a",
        "r_err_a",
        "sigma2_a2",
        "sigma2_err_a2",
        "c3_a3",
        "n_s02",
        "n_s02_err",
        "as_printed",
    )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(XASFit)
class XASFitAdmin(FlaggedRecordAdmin):
    list_display = ("sample", "edge", "source", "citation", "age_label", "r_factor", "is_stale")
    list_filter = MEASUREMENT_FILTERS + ("absorber", "is_stale")
    search_fields = ("sample__code", "citation", "label")
    inlines = [PathInline]
    # A revert puts the paths back as they were with that version of the fit.
    history_children = ((XASPath, "fit"),)


@admin.register(XASSpectrum)
class XASSpectrumAdmin(FlaggedRecordAdmin):
    list_display = (
        "sample",
        "element",
        "edge",
        "mode",
        "facility",
        "beamline",
        "age_label",
        "source",
    )
    list_filter = MEASUREMENT_FILTERS + ("element", "mode")
    search_fields = ("sample__code", "beamline", "facility")


class ComponentInline(CuratorsOnly, admin.TabularInline):
    model = LifetimeComponent
    extra = 0


@admin.register(PLLifetimeMeasurement)
class PLLifetimeAdmin(FlaggedRecordAdmin):
    list_display = ("sample", "average_tau_ns", "citation", "source")
    list_filter = MEASUREMENT_FILTERS
    inlines = [ComponentInline]


def _simple(model, columns):
    admin.site.register(
        model,
        type(
            f"{model.__name__}Admin",
            (FlaggedRecordAdmin,),
            {
                "list_display": ("sample", *columns, "citation", "source"),
                "list_filter": MEASUREMENT_FILTERS,
                "search_fields": ("sample__code", "citation"),
            },
        ),
    )


_simple(TEMSizeMeasurement, ("length_nm", "length_sd_nm", "width_nm", "diameter_nm"))
_simple(PLMeasurement, ("peak_nm", "fwhm_nm", "fwhm_mev", "qy_pct"))
_simple(AbsorptionMeasurement, ("peak_1s_nm", "peak_1s_ev"))
_simple(XRDMeasurement, ("phase", "wavelength_a"))
_simple(FTIRMeasurement, ("wavenumber_min_cm1", "wavenumber_max_cm1"))
_simple(CompositionMeasurement, ("method",))
_simple(ReportedQuantity, ("quantity", "value", "err", "unit"))
