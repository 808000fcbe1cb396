"""Characterization: immutable raw files and the numbers measured on samples.

Every measurement belongs to a sample, optionally to the data file it was parsed from, and
carries ``measured_at`` (age = measured_at − synthesis date) or, for published numbers whose
date is unknown, the age as printed (``age_label``) and ``age_days`` derived from it.
Published numbers keep the printed text in ``as_printed`` so trailing zeros survive.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from characterization.enums import (
    CompositionMethod,
    DataSource,
    FileKind,
    ParseStatus,
    Technique,
    XASMode,
)
from labdb.lib.models import LabRecord
from synthesis.models import Paper, Qualifier, Sample, SynthesisRun


def raw_file_path(instance: DataFile, filename: str) -> str:
    """Content-addressed storage path: raw/ab/cd/<sha256>/<sanitized name>."""
    sha = instance.sha256
    return f"raw/{sha[:2]}/{sha[2:4]}/{sha}/{instance.original_name}"


class DataFile(LabRecord):
    """A file stored byte-for-byte: an instrument file parsed into numbers and a preview, or an
    attachment (photo, PDF, notebook scan, document) kept unchanged with a thumbnail."""

    sample = models.ForeignKey(
        Sample, null=True, blank=True, on_delete=models.PROTECT, related_name="data_files"
    )
    file = models.FileField(upload_to=raw_file_path, max_length=400)
    sha256 = models.CharField(max_length=64, unique=True)
    size_bytes = models.PositiveBigIntegerField()
    original_name = models.CharField(max_length=255)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(
        max_length=10, choices=FileKind.choices, default=FileKind.INSTRUMENT, db_index=True
    )
    content_type = models.CharField(
        max_length=100, blank=True, help_text="MIME type sniffed from the content at upload."
    )
    format = models.CharField(max_length=30, blank=True)
    technique = models.CharField(
        max_length=20, choices=Technique.choices, default=Technique.UNKNOWN
    )
    parser_name = models.CharField(max_length=100, blank=True)
    parser_version = models.CharField(max_length=40, blank=True)
    parse_status = models.CharField(
        max_length=10, choices=ParseStatus.choices, default=ParseStatus.PENDING, db_index=True
    )
    parse_error = models.TextField(blank=True)
    parse_detail = models.TextField(blank=True)
    parsed_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(
        default=dict, blank=True, help_text="Everything the file states, header tree included."
    )
    key_numbers = models.JSONField(default=dict, blank=True)
    declared_xas = models.JSONField(
        default=dict,
        blank=True,
        help_text='Absorber a chemist declared for an XAS file that does not state it: '
        '{"element": "Fe", "edge": "K", "by": user id, "at": ISO time}. Survives re-parses.',
    )
    parser_history = models.JSONField(
        default=list,
        blank=True,
        help_text="Every re-parse that changed the parser version: "
        '[{"at", "parser", "from_version", "to_version", "status"}].',
    )
    series = models.JSONField(
        default=dict, blank=True, help_text="Decimated x/y series for interactive plots."
    )
    preview = models.FileField(upload_to="previews/", blank=True, max_length=300)
    preview_error = models.CharField(
        max_length=300, blank=True, help_text="Why an attachment has no thumbnail."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-uploaded_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(size_bytes__gte=0), name="datafile_size_non_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.sha256[:8]})"


class DataFileLink(models.Model):
    """One stored file belonging to one sample: the same bytes may belong to several samples
    (a split batch, a reference scan used for many fits).

    Unlinking retires the link (``is_active`` False, with who/when/why); relinking reactivates
    the same row, so the history of every link is kept.
    """

    data_file = models.ForeignKey(DataFile, on_delete=models.PROTECT, related_name="links")
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="file_links")
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    linked_at = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True, help_text="Why the file belongs here.")
    is_active = models.BooleanField(default=True, db_index=True)
    unlinked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unlinked_at = models.DateTimeField(null=True, blank=True)
    unlink_reason = models.CharField(max_length=300, blank=True)
    groups = models.JSONField(
        default=list,
        blank=True,
        help_text="For files holding several groups (Athena projects): the 0-based indices of "
        "the groups that are this sample's spectra. Empty: none chosen yet.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["linked_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["data_file", "sample"], name="datafilelink_unique")
        ]

    def __str__(self) -> str:
        state = "" if self.is_active else " (unlinked)"
        return f"{self.data_file_id} → {self.sample_id}{state}"


class DataFileRunLink(models.Model):
    """One stored file belonging to a synthesis run: a photo of the flask, the run's temperature
    log, a UV-vis taken during growth. A sibling of ``DataFileLink`` (which always names a
    sample and derives that sample's measurement rows): a run link derives no rows.

    Recorded and reversible like sample links: unlinking retires the row with who/when/why,
    relinking reactivates the same row.
    """

    data_file = models.ForeignKey(DataFile, on_delete=models.PROTECT, related_name="run_links")
    run = models.ForeignKey(SynthesisRun, on_delete=models.PROTECT, related_name="file_links")
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    linked_at = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True, help_text="Why the file belongs here.")
    is_active = models.BooleanField(default=True, db_index=True)
    unlinked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unlinked_at = models.DateTimeField(null=True, blank=True)
    unlink_reason = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["linked_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["data_file", "run"], name="datafilerunlink_unique"),
            models.CheckConstraint(
                condition=Q(is_active=True) | Q(unlinked_at__isnull=False),
                name="datafilerunlink_unlinked_has_time",
            ),
        ]

    def __str__(self) -> str:
        state = "" if self.is_active else " (unlinked)"
        return f"{self.data_file_id} → run {self.run_id}{state}"


class Measurement(LabRecord):
    """Fields every measurement has."""

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="+")
    data_file = models.ForeignKey(
        DataFile, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    measured_at = models.DateTimeField(null=True, blank=True)
    age_label = models.CharField(max_length=40, blank=True, help_text="Age as printed.")
    age_days = models.FloatField(
        null=True, blank=True, help_text="Age in days when measured_at is unknown."
    )
    source = models.CharField(
        max_length=12, choices=DataSource.choices, default=DataSource.MEASURED
    )
    paper = models.ForeignKey(
        Paper, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    citation = models.CharField(max_length=200, blank=True, help_text="e.g. 'Table S1'")
    as_printed = models.JSONField(default=dict, blank=True)
    qualifier = models.CharField(
        max_length=5, choices=Qualifier.choices, blank=True,
        help_text="How the printed main value relates to the quantity: '<' for 'below 1 %', "
        "'range' when a *_max/value_max gives the upper end, '~' approximate; blank = as given.",
    )
    notes = models.TextField(blank=True)
    extra = models.JSONField(
        default=dict, blank=True, help_text="Transcribed details with no field."
    )

    class Meta:
        abstract = True


class ScanOfFile(models.Model):
    """Which scan of a multi-scan file a derived row is (BRML RawData<N>, an Edinburgh
    emission scan, a Spectrum time-series spectrum …); empty for a file with one scan."""

    scan_index = models.PositiveIntegerField(
        null=True, blank=True, help_text="Position of the scan in the file (0-based)."
    )
    scan_label = models.CharField(max_length=200, blank=True, help_text="The scan's name.")

    class Meta:
        abstract = True


class TEMSizeMeasurement(Measurement):
    length_nm = models.FloatField(null=True, blank=True)
    length_sd_nm = models.FloatField(null=True, blank=True)
    width_nm = models.FloatField(null=True, blank=True)
    width_sd_nm = models.FloatField(null=True, blank=True)
    diameter_nm = models.FloatField(null=True, blank=True)
    diameter_sd_nm = models.FloatField(null=True, blank=True)
    thickness_nm = models.FloatField(null=True, blank=True)
    thickness_sd_nm = models.FloatField(null=True, blank=True)
    edge_nm = models.FloatField(null=True, blank=True, help_text="Edge length (cubes, platelets).")
    edge_sd_nm = models.FloatField(null=True, blank=True)
    n_counted = models.PositiveIntegerField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{name}_sd_nm__gte": 0}) | Q(**{f"{name}_sd_nm": None}),
                    name=f"tem_{name}_sd_non_negative",
                )
                for name in ("length", "width", "diameter", "thickness", "edge")
            ),
            models.CheckConstraint(
                condition=Q(thickness_nm__gt=0) | Q(thickness_nm=None),
                name="tem_thickness_positive",
            ),
            models.CheckConstraint(
                condition=Q(edge_nm__gt=0) | Q(edge_nm=None), name="tem_edge_positive"
            ),
            models.CheckConstraint(
                condition=Q(n_counted__gte=1) | Q(n_counted=None), name="tem_n_counted_at_least_1"
            ),
            models.CheckConstraint(
                condition=Q(length_nm__gt=0) | Q(length_nm=None), name="tem_length_positive"
            ),
            models.CheckConstraint(
                condition=Q(width_nm__gt=0) | Q(width_nm=None), name="tem_width_positive"
            ),
            models.CheckConstraint(
                condition=Q(diameter_nm__gt=0) | Q(diameter_nm=None), name="tem_diameter_positive"
            ),
        ]


class PLMeasurement(Measurement, ScanOfFile):
    peak_nm = models.FloatField(null=True, blank=True)
    fwhm_nm = models.FloatField(null=True, blank=True)
    fwhm_mev = models.FloatField(null=True, blank=True)
    fwhm_nm_max = models.FloatField(
        null=True, blank=True, help_text="Upper end of a printed FWHM range, nm."
    )
    fwhm_mev_max = models.FloatField(
        null=True, blank=True, help_text="Upper end of a printed FWHM range (102–139 meV), meV."
    )
    fwhm_qualifier = models.CharField(
        max_length=5, choices=Qualifier.choices, blank=True,
        help_text="How the printed FWHM relates to the linewidth ('range' with fwhm_*_max, "
        "'~', '<'); the row's ``qualifier`` is that of the QY. Blank = as given.",
    )
    qy_pct = models.FloatField(null=True, blank=True)
    qy_pct_max = models.FloatField(
        null=True, blank=True, help_text="Upper end when a range is printed (88–90 %)."
    )
    qy_pct_err = models.FloatField(
        null=True, blank=True,
        help_text="One standard uncertainty of qy_pct in percentage points (computed QYs).",
    )
    qy_method = models.CharField(max_length=100, blank=True)
    reference_dye = models.CharField(max_length=100, blank=True)
    excitation_nm = models.FloatField(null=True, blank=True)
    solvent = models.CharField(max_length=100, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(qy_pct=None) | (Q(qy_pct__gte=0) & Q(qy_pct__lte=100)),
                name="pl_qy_pct_range",
            ),
            models.CheckConstraint(
                condition=Q(qy_pct_max=None) | (Q(qy_pct_max__gte=0) & Q(qy_pct_max__lte=100)),
                name="pl_qy_pct_max_range",
            ),
            models.CheckConstraint(
                condition=Q(fwhm_nm=None) | Q(fwhm_nm__gt=0), name="pl_fwhm_positive"
            ),
            models.CheckConstraint(
                condition=Q(fwhm_mev_max=None) | Q(fwhm_mev=None)
                | Q(fwhm_mev_max__gte=models.F("fwhm_mev")),
                name="pl_fwhm_mev_range_ordered",
            ),
            models.CheckConstraint(
                condition=Q(fwhm_nm_max=None) | Q(fwhm_nm=None)
                | Q(fwhm_nm_max__gte=models.F("fwhm_nm")),
                name="pl_fwhm_nm_range_ordered",
            ),
            models.CheckConstraint(
                condition=Q(excitation_nm=None) | Q(excitation_nm__gt=0),
                name="pl_excitation_positive",
            ),
        ]


class AbsorptionMeasurement(Measurement, ScanOfFile):
    peak_1s_nm = models.FloatField(null=True, blank=True)
    peak_1s_ev = models.FloatField(null=True, blank=True)
    hwhm_1s_mev = models.FloatField(
        null=True, blank=True,
        help_text="Half width at half maximum of the 1S peak on its low-energy side (meV).",
    )
    peak_to_valley = models.FloatField(
        null=True, blank=True,
        help_text="Absorbance at the 1S peak over the minimum on its high-energy side.",
    )
    history = HistoricalRecords()


class PLLifetimeMeasurement(Measurement):
    average_tau_ns = models.FloatField(null=True, blank=True)
    average_tau_err_ns = models.FloatField(null=True, blank=True)
    average_kind = models.CharField(
        max_length=10, blank=True,
        choices=[("amplitude", "amplitude-weighted Σaτ/Σa"),
                 ("intensity", "intensity-weighted Σaτ²/Σaτ")],
        help_text="Which mean average_tau_ns is; blank = as printed, not stated.",
    )
    amplitude_weighted_tau_ns = models.FloatField(null=True, blank=True)
    amplitude_weighted_tau_err_ns = models.FloatField(null=True, blank=True)
    intensity_weighted_tau_ns = models.FloatField(null=True, blank=True)
    intensity_weighted_tau_err_ns = models.FloatField(null=True, blank=True)
    reduced_chi_square = models.FloatField(null=True, blank=True)
    fit_model = models.CharField(max_length=100, blank=True, default="two-exponential")
    history = HistoricalRecords()


class LifetimeComponent(models.Model):
    measurement = models.ForeignKey(
        PLLifetimeMeasurement, on_delete=models.CASCADE, related_name="components"
    )
    position = models.PositiveIntegerField()
    amplitude = models.FloatField(null=True, blank=True)
    amplitude_err = models.FloatField(null=True, blank=True)
    tau_ns = models.FloatField()
    tau_err_ns = models.FloatField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.CheckConstraint(condition=Q(tau_ns__gt=0), name="lifetime_tau_positive")
        ]


class TEMImageMeasurement(Measurement):
    """The acquisition facts a TEM image file states (sizes are counted elsewhere)."""

    accelerating_voltage_kv = models.FloatField(null=True, blank=True)
    magnification = models.FloatField(null=True, blank=True)
    camera_length_mm = models.FloatField(null=True, blank=True)
    pixel_size_nm = models.FloatField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(accelerating_voltage_kv=None) | Q(accelerating_voltage_kv__gt=0),
                name="temimage_voltage_positive",
            ),
            models.CheckConstraint(
                condition=Q(pixel_size_nm=None) | Q(pixel_size_nm__gt=0),
                name="temimage_pixel_positive",
            ),
        ]


class XRDMeasurement(Measurement, ScanOfFile):
    phase = models.CharField(max_length=50, blank=True)
    wavelength_a = models.FloatField(null=True, blank=True)
    twotheta_min_deg = models.FloatField(null=True, blank=True)
    twotheta_max_deg = models.FloatField(null=True, blank=True)
    reflections = models.JSONField(
        default=list, blank=True, help_text='[{"twotheta_deg": 25.4, "hkl": "111"}]'
    )
    history = HistoricalRecords()


class FTIRMeasurement(Measurement, ScanOfFile):
    wavenumber_min_cm1 = models.FloatField(null=True, blank=True)
    wavenumber_max_cm1 = models.FloatField(null=True, blank=True)
    assignments = models.JSONField(
        default=list, blank=True, help_text='[{"wavenumber_cm1": 2920, "assignment": "C-H"}]'
    )
    history = HistoricalRecords()


class CompositionMeasurement(Measurement):
    method = models.CharField(max_length=20, choices=CompositionMethod.choices)
    ratios = models.JSONField(default=dict, help_text='{"Cd/Se": 1.2} or {"Cd_at_pct": 40}')
    history = HistoricalRecords()


class XASSpectrum(Measurement):
    element = models.CharField(max_length=3)
    edge = models.CharField(max_length=4, help_text="K, L3 …")
    mode = models.CharField(max_length=14, choices=XASMode.choices, default=XASMode.UNKNOWN)
    facility = models.CharField(max_length=100, blank=True)
    beamline = models.CharField(max_length=100, blank=True)
    temperature_k = models.FloatField(null=True, blank=True)
    monochromator = models.CharField(max_length=100, blank=True, help_text="e.g. Si(111)")
    mono_d_spacing_a = models.FloatField(
        null=True, blank=True, help_text="Monochromator crystal d-spacing in Å."
    )
    group_label = models.CharField(
        max_length=200, blank=True, help_text="Athena group (or scan) this spectrum is."
    )
    group_index = models.PositiveIntegerField(
        null=True, blank=True, help_text="Position of the group/scan in the file (0-based)."
    )
    scans_averaged = models.PositiveIntegerField(null=True, blank=True)
    calibration_reference = models.CharField(max_length=100, blank=True)
    e0_ev = models.FloatField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "XAS spectra"

    def __str__(self) -> str:
        return f"{self.sample} {self.element} {self.edge}"


class XASFit(Measurement):
    """A first/second-shell EXAFS fit: published as printed, or computed by labdb."""

    spectrum = models.ForeignKey(
        XASSpectrum, null=True, blank=True, on_delete=models.PROTECT, related_name="fits"
    )
    absorber = models.CharField(max_length=3)
    edge_name = models.CharField(max_length=4, default="K")
    label = models.CharField(max_length=100, blank=True)
    software = models.CharField(max_length=100, blank=True)
    k_min = models.FloatField(null=True, blank=True, help_text="Å⁻¹")
    k_max = models.FloatField(null=True, blank=True, help_text="Å⁻¹")
    r_min_a = models.FloatField(null=True, blank=True)
    r_max_a = models.FloatField(null=True, blank=True)
    k_weight = models.CharField(max_length=20, blank=True, help_text="2 or '1,2,3'")
    window = models.CharField(max_length=30, blank=True)
    delta_e0_ev = models.FloatField(null=True, blank=True)
    delta_e0_err_ev = models.FloatField(null=True, blank=True)
    s02 = models.FloatField(null=True, blank=True)
    s02_err = models.FloatField(null=True, blank=True)
    r_factor = models.FloatField(null=True, blank=True)
    reduced_chi2 = models.FloatField(null=True, blank=True)
    ssr = models.FloatField(null=True, blank=True, help_text="Sum of squared residuals.")
    warnings = models.JSONField(
        default=list, blank=True, help_text="Computed fits: what the chemist should check."
    )
    provenance = models.JSONField(
        default=dict, blank=True, help_text="For computed fits: inputs, parameters, versions."
    )
    is_stale = models.BooleanField(default=False)
    stale_reason = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "XAS fit"
        constraints = [
            models.CheckConstraint(
                condition=Q(r_factor=None) | Q(r_factor__gte=0), name="xasfit_r_factor_non_negative"
            ),
        ]

    @property
    def edge(self) -> str:
        return f"{self.absorber} {self.edge_name}"

    def __str__(self) -> str:
        return f"{self.sample} {self.edge} ({self.source}, {self.citation or self.label})"


class XASPath(models.Model):
    """One absorber–scatterer shell of a fit, with errors as printed or fitted."""

    fit = models.ForeignKey(XASFit, on_delete=models.CASCADE, related_name="paths")
    position = models.PositiveIntegerField()
    absorber = models.CharField(max_length=3)
    scatterer = models.CharField(max_length=20, help_text="Element, or chain for MS: Cd-S")
    n = models.FloatField(null=True, blank=True)
    n_err = models.FloatField(null=True, blank=True)
    n_s02 = models.FloatField(null=True, blank=True, help_text="N·S0² when fitted together.")
    n_s02_err = models.FloatField(null=True, blank=True)
    r_a = models.FloatField(null=True, blank=True)
    r_err_a = models.FloatField(null=True, blank=True)
    sigma2_a2 = models.FloatField(null=True, blank=True)
    sigma2_err_a2 = models.FloatField(null=True, blank=True)
    c3_a3 = models.FloatField(null=True, blank=True)
    c3_err_a3 = models.FloatField(null=True, blank=True)
    delta_e0_ev = models.FloatField(null=True, blank=True)
    delta_e0_err_ev = models.FloatField(null=True, blank=True)
    as_printed = models.JSONField(default=dict, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["fit", "position"], name="xaspath_position_unique"),
            models.CheckConstraint(condition=Q(r_a=None) | Q(r_a__gt=0), name="xaspath_r_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.absorber}–{self.scatterer}"


class ReportedQuantity(Measurement):
    """Any other printed number: a bond angle, a ratio quoted in the text, a stoichiometry."""

    sample = models.ForeignKey(
        Sample, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.CharField(max_length=200)
    value = models.FloatField(null=True, blank=True)
    value_max = models.FloatField(
        null=True, blank=True, help_text="Upper end of a printed range (qualifier 'range')."
    )
    err = models.FloatField(null=True, blank=True)
    unit = models.CharField(max_length=30, blank=True)
    text_value = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(err=None) | Q(err__gte=0), name="reported_err_non_negative"
            ),
        ]
