"""Serializers of the characterization API (shape only; writes go through services)."""

from __future__ import annotations

from rest_framework import serializers

from characterization.enums import QYMethod, TEMDimension
from characterization.models import (
    AbsorptionMeasurement,
    CompositionMeasurement,
    DataFile,
    FTIRMeasurement,
    LifetimeComponent,
    PLLifetimeMeasurement,
    PLMeasurement,
    ReportedQuantity,
    TEMImageMeasurement,
    TEMSizeMeasurement,
    XASFit,
    XASPath,
    XASSpectrum,
    XRDMeasurement,
)
from characterization.services import MANUAL_KINDS, PATH_FIELDS
from labdb.lib.viewsets import LabRecordSerializer
from synthesis.models import Sample

MEASUREMENT_COMMON = LabRecordSerializer.COMMON + (
    "sample",
    "data_file",
    "measured_at",
    "age_label",
    "age_days",
    "source",
    "paper",
    "citation",
    "as_printed",
    "notes",
    "extra",
)


SCAN_FIELDS = ("scan_index", "scan_label")  # which scan of a multi-scan file a row is


def measurement_serializer(model, extra_fields: tuple[str, ...]) -> type[LabRecordSerializer]:
    """A ModelSerializer for a simple measurement model: common fields + its own."""
    meta = type("Meta", (), {"model": model, "fields": MEASUREMENT_COMMON + extra_fields})
    return type(f"{model.__name__}Serializer", (LabRecordSerializer,), {"Meta": meta})


TEMSizeSerializer = measurement_serializer(
    TEMSizeMeasurement,
    (
        "length_nm",
        "length_sd_nm",
        "width_nm",
        "width_sd_nm",
        "diameter_nm",
        "diameter_sd_nm",
        "thickness_nm",
        "n_counted",
    ),
)
PLSerializer = measurement_serializer(
    PLMeasurement,
    (
        "peak_nm",
        "fwhm_nm",
        "fwhm_mev",
        "fwhm_nm_max",
        "fwhm_mev_max",
        "fwhm_qualifier",
        "qy_pct",
        "qy_pct_max",
        "qy_method",
        "reference_dye",
        "excitation_nm",
        "solvent",
        *SCAN_FIELDS,
    ),
)
AbsorptionSerializer = measurement_serializer(
    AbsorptionMeasurement, ("peak_1s_nm", "peak_1s_ev", *SCAN_FIELDS)
)
XRDSerializer = measurement_serializer(
    XRDMeasurement,
    ("phase", "wavelength_a", "twotheta_min_deg", "twotheta_max_deg", "reflections",
     *SCAN_FIELDS),
)
FTIRSerializer = measurement_serializer(
    FTIRMeasurement, ("wavenumber_min_cm1", "wavenumber_max_cm1", "assignments", *SCAN_FIELDS)
)
CompositionSerializer = measurement_serializer(CompositionMeasurement, ("method", "ratios"))
XASSpectrumSerializer = measurement_serializer(
    XASSpectrum,
    (
        "element",
        "edge",
        "mode",
        "facility",
        "beamline",
        "temperature_k",
        "monochromator",
        "mono_d_spacing_a",
        "group_label",
        "group_index",
        "scans_averaged",
        "calibration_reference",
        "e0_ev",
    ),
)
TEMImageSerializer = measurement_serializer(
    TEMImageMeasurement,
    ("accelerating_voltage_kv", "magnification", "camera_length_mm", "pixel_size_nm"),
)
ReportedQuantitySerializer = measurement_serializer(
    ReportedQuantity, ("quantity", "value", "err", "unit", "text_value")
)


class LifetimeComponentSerializer(serializers.ModelSerializer):
    class Meta:
        model = LifetimeComponent
        fields = ("position", "amplitude", "amplitude_err", "tau_ns", "tau_err_ns")
        read_only_fields = ("position",)


class PLLifetimeSerializer(
    measurement_serializer(PLLifetimeMeasurement, ("average_tau_ns", "fit_model"))
):
    components = LifetimeComponentSerializer(many=True, required=False)

    class Meta:
        model = PLLifetimeMeasurement
        fields = MEASUREMENT_COMMON + ("average_tau_ns", "fit_model", "components")


class XASPathSerializer(serializers.ModelSerializer):
    class Meta:
        model = XASPath
        fields = ("position", *PATH_FIELDS)
        read_only_fields = ("position",)


class XASFitSerializer(LabRecordSerializer):
    edge = serializers.CharField(read_only=True, help_text="Absorber and edge, e.g. 'Cd K'.")
    paths = XASPathSerializer(many=True, required=False)

    class Meta:
        model = XASFit
        fields = MEASUREMENT_COMMON + (
            "edge",
            "absorber",
            "edge_name",
            "spectrum",
            "label",
            "software",
            "k_min",
            "k_max",
            "r_min_a",
            "r_max_a",
            "k_weight",
            "window",
            "delta_e0_ev",
            "delta_e0_err_ev",
            "s02",
            "s02_err",
            "r_factor",
            "reduced_chi2",
            "ssr",
            "is_stale",
            "stale_reason",
            "provenance",
            "paths",
        )
        read_only_fields = ("is_stale", "stale_reason", "provenance")


class LinkSerializer(serializers.Serializer):
    """One sample a file is linked to."""

    sample = serializers.IntegerField(source="sample_id")
    sample_code = serializers.CharField(source="sample.code")
    linked_at = serializers.DateTimeField()
    reason = serializers.CharField()
    groups = serializers.ListField(child=serializers.IntegerField())


class RunLinkSerializer(serializers.Serializer):
    """One synthesis run a file is linked to."""

    run = serializers.IntegerField(source="run_id")
    run_code = serializers.CharField(source="run.code")
    linked_at = serializers.DateTimeField()
    reason = serializers.CharField()


class DataFileSerializer(LabRecordSerializer):
    """Output of ``/api/files/``: the stored file, its parse outcome and key numbers, and the
    samples it is linked to (``samples``; ``sample`` is the one it was first uploaded for) and
    the synthesis runs (``runs``: a flask photo, a temperature log)."""

    preview_url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    samples = serializers.SerializerMethodField()
    runs = serializers.SerializerMethodField()

    class Meta:
        model = DataFile
        fields = LabRecordSerializer.COMMON + (
            "sample",
            "sha256",
            "size_bytes",
            "original_name",
            "uploaded_by",
            "uploaded_at",
            "kind",
            "content_type",
            "format",
            "technique",
            "parser_name",
            "parser_version",
            "parse_status",
            "parse_error",
            "parsed_at",
            "key_numbers",
            "metadata",
            "declared_xas",
            "parser_history",
            "samples",
            "runs",
            "preview_url",
            "preview_error",
            "download_url",
        )
        read_only_fields = fields

    def get_preview_url(self, obj) -> str | None:
        return f"/api/files/{obj.pk}/preview/" if obj.preview else None

    def get_download_url(self, obj) -> str:
        return f"/api/files/{obj.pk}/download/"

    def get_samples(self, obj) -> list[dict]:
        links = getattr(obj, "active_links", None)
        if links is None:
            links = obj.links.filter(is_active=True).select_related("sample")
        return LinkSerializer(links, many=True).data

    def get_runs(self, obj) -> list[dict]:
        links = getattr(obj, "active_run_links", None)
        if links is None:
            links = obj.run_links.filter(is_active=True).select_related("run")
        return RunLinkSerializer(links, many=True).data


class PlotSeriesSerializer(serializers.Serializer):
    """One decimated x/y series (characterization.previews.series_to_json); NaN/inf are null."""

    name = serializers.CharField()
    x = serializers.ListField(child=serializers.FloatField(allow_null=True))
    y = serializers.ListField(child=serializers.FloatField(allow_null=True))
    x_label = serializers.CharField(allow_blank=True)
    x_unit = serializers.CharField(allow_blank=True)
    y_label = serializers.CharField(allow_blank=True)
    y_unit = serializers.CharField(allow_blank=True)
    n_points = serializers.IntegerField(help_text="Points in the file (before decimation).")


class FileSeriesSerializer(serializers.Serializer):
    """``GET /api/files/{id}/series/``: ``{}`` for a file without plottable series."""

    format = serializers.CharField(required=False)
    technique = serializers.CharField(required=False)
    title = serializers.CharField(required=False)
    series = PlotSeriesSerializer(many=True, required=False)


class DataFileUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The instrument file, sent unchanged.")
    sample = serializers.IntegerField(
        required=False, allow_null=True, help_text="Id of the sample the file belongs to."
    )
    run = serializers.IntegerField(
        required=False, allow_null=True,
        help_text="Id of the synthesis run the file belongs to (a flask photo, a temperature "
        "log, a UV-vis taken during growth); may be given with or instead of ``sample``.",
    )
    groups = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Athena projects: the 0-based group numbers that are this sample's spectra, "
        "comma-separated (e.g. '1,2'). None is taken by default when the project has several.",
    )


def _one_target(attrs: dict) -> dict:
    """Exactly one of ``sample`` and ``run``."""
    if (attrs.get("sample") is None) == (attrs.get("run") is None):
        raise serializers.ValidationError(
            {"sample": "give the id of a sample or of a run (one of the two)."}
        )
    return attrs


class FileLinkSerializer(serializers.Serializer):
    sample = serializers.IntegerField(required=False, help_text="Id of the sample.")
    run = serializers.IntegerField(required=False, help_text="Id of the synthesis run.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300)
    groups = serializers.ListField(
        child=serializers.IntegerField(min_value=0), required=False, allow_null=True
    )

    def validate(self, attrs):
        return _one_target(attrs)


class FileUnlinkSerializer(serializers.Serializer):
    sample = serializers.IntegerField(required=False, help_text="Id of the sample.")
    run = serializers.IntegerField(required=False, help_text="Id of the synthesis run.")
    reason = serializers.CharField(
        allow_blank=True, max_length=300, help_text="Why the file does not belong there."
    )

    def validate(self, attrs):
        return _one_target(attrs)


class DeclareXASSerializer(serializers.Serializer):
    """Element and edge; for a column table whose μ the file does not name
    (``key_numbers.mu_formed = false``) also the columns that form μ."""

    element = serializers.CharField(max_length=3, help_text="Absorbing element, e.g. 'Fe'.")
    edge = serializers.CharField(max_length=4, help_text="Edge, e.g. 'K' or 'L3'.")
    energy_column = serializers.CharField(
        required=False, max_length=100, help_text="Energy column: number (1 = first) or name."
    )
    energy_unit = serializers.CharField(required=False, max_length=3, help_text="eV or keV.")
    mode = serializers.CharField(
        required=False, max_length=14,
        help_text="transmission: μ = ln(numerator/denominator) (I0/It); "
        "fluorescence: μ = numerator/denominator (If/I0).",
    )
    numerator = serializers.CharField(required=False, max_length=100, help_text="Column.")
    denominator = serializers.CharField(required=False, max_length=100, help_text="Column.")

    COLUMN_FIELDS = ("energy_column", "energy_unit", "mode", "numerator", "denominator")

    def columns(self) -> dict | None:
        """The declared μ columns, None when none were sent."""
        found = {k: self.validated_data[k] for k in self.COLUMN_FIELDS if k in self.validated_data}
        return found or None


# --- manual measurements: shape only; the service checks ranges, units and permissions -------


class ManualEntrySerializer(serializers.Serializer):
    """Entry fields of a hand-entered measurement; which apply depends on ``kind``.

    qy: qualifier, qy_pct, qy_pct_max, qy_method (absolute | relative), reference_dye, solvent,
    excitation_nm · pl: peak_nm, fwhm_qualifier, fwhm_nm, fwhm_nm_max, excitation_nm, solvent ·
    absorption: peak_1s_nm · tem: dimension (length | width | diameter | thickness | edge),
    mean_nm, sd_nm, n_counted · quantity: quantity, qualifier, value, value_max, err, unit
    (pint) · all: measured_on (date), notes. A qualifier is <, ≤, ~ (≈), >, ≥ or "range"
    (then the value is the lower end and ``*_max`` the upper end); empty = as measured.
    """

    qualifier = serializers.CharField(required=False, allow_blank=True, max_length=30)
    qy_pct_max = serializers.FloatField(required=False, allow_null=True)
    fwhm_qualifier = serializers.CharField(required=False, allow_blank=True, max_length=30)
    fwhm_nm_max = serializers.FloatField(required=False, allow_null=True)
    value_max = serializers.FloatField(required=False, allow_null=True)

    qy_pct = serializers.FloatField(required=False, allow_null=True, help_text="QY in %, 0–100")
    qy_method = serializers.ChoiceField(choices=QYMethod.choices, required=False)
    reference_dye = serializers.CharField(required=False, allow_blank=True, max_length=100)
    solvent = serializers.CharField(required=False, allow_blank=True, max_length=100)
    excitation_nm = serializers.FloatField(required=False, allow_null=True)
    peak_nm = serializers.FloatField(required=False, allow_null=True)
    fwhm_nm = serializers.FloatField(required=False, allow_null=True)
    peak_1s_nm = serializers.FloatField(required=False, allow_null=True)
    dimension = serializers.ChoiceField(choices=TEMDimension.choices, required=False)
    mean_nm = serializers.FloatField(required=False, allow_null=True)
    sd_nm = serializers.FloatField(required=False, allow_null=True)
    n_counted = serializers.IntegerField(required=False, allow_null=True)
    quantity = serializers.CharField(required=False, allow_blank=True, max_length=200)
    value = serializers.FloatField(required=False, allow_null=True)
    err = serializers.FloatField(required=False, allow_null=True)
    unit = serializers.CharField(required=False, allow_blank=True, max_length=30)
    measured_on = serializers.DateField(required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True)


class ManualCreateSerializer(ManualEntrySerializer):
    kind = serializers.ChoiceField(choices=list(MANUAL_KINDS))
    sample = serializers.PrimaryKeyRelatedField(queryset=Sample.objects.filter(is_retired=False))


class ManualUpdateSerializer(ManualEntrySerializer):
    version = serializers.IntegerField(help_text="The version you read (409 if it changed).")


class ManualMeasurementSerializer(serializers.Serializer):
    """Output: the stored record with its entry fields and where the full row is listed."""

    kind = serializers.CharField()
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    sample = serializers.IntegerField(source="sample_id")
    source = serializers.CharField()
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    is_retired = serializers.BooleanField()
    retired_reason = serializers.CharField()
    entry = serializers.DictField()
    measurement_url = serializers.CharField()
