"""Analysis records: FEFF calculations, XAS fit runs (background jobs), aging studies."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from analysis.enums import FeffSource, RunStatus, StructureSource
from characterization.models import XASFit, XASSpectrum
from labdb.lib.json_encoding import ArrayJSONEncoder
from labdb.lib.models import LabRecord
from synthesis.models import Sample


class FeffCalculation(models.Model):
    """A FEFF run cached by the hash of (structure, absorber, edge, cluster radius, version),
    or FEFF output files uploaded once (``source`` "uploaded", keyed by the files' sha256s).

    ``paths`` rows: ``{name, index, nleg, reff_a, degen, scatterers, amplitude_ratio_pct,
    sha256, geometry}`` (Å); ``path_files`` is the engine's ``FeffRun`` JSON (every file's text).
    """

    cache_key = models.CharField(max_length=64, unique=True)
    source = models.CharField(
        max_length=10, choices=FeffSource.choices, default=FeffSource.COMPUTED
    )
    structure_source = models.CharField(max_length=12, choices=StructureSource.choices)
    structure = models.JSONField(help_text="What the structure was built from (CIF id, lattice).")
    absorber = models.CharField(max_length=3)
    edge = models.CharField(max_length=4)
    cluster_radius_a = models.FloatField(
        null=True, blank=True, help_text="Å; empty for uploaded files without feff.inp."
    )
    feff_version = models.CharField(max_length=20)
    feff_input = models.TextField(blank=True)
    files_dat = models.TextField(blank=True, help_text="FEFF's files.dat (path list).")
    paths = models.JSONField(default=list, help_text="[{name, index, reff_a, degen, nleg, ...}]")
    path_files = models.JSONField(default=dict, help_text="FeffRun JSON with each path's text.")
    elapsed_s = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"FEFF {self.absorber} {self.edge} r={self.cluster_radius_a} ({self.cache_key[:8]})"


def model_in_order(model, order: list[str] | None):
    """``model`` with its ``parameters`` re-ordered as ``order`` names them (names not in
    ``order`` last); unchanged when either is missing."""
    params = model.get("parameters") if isinstance(model, dict) else None
    if not isinstance(params, dict) or not order:
        return model
    rank = {name: i for i, name in enumerate(order)}
    ordered = dict(sorted(params.items(), key=lambda item: rank.get(item[0], len(rank))))
    return {**model, "parameters": ordered}


EXAFS_FIT_KIND = "exafs_fit"
# Kept by name so the FitRun proxy's saves are recorded too: Django sends a proxy's
# post_save with the proxy as sender, and simple_history listens to the concrete model only.
_RUN_HISTORY = HistoricalRecords(excluded_fields=["result_data", "log", "output"])


class AnalysisRun(LabRecord):
    """One analysis run of any kind (EXAFS fit, LCF, PCA, wavelet, calculators …): a
    background job with its inputs (stored records by id, with their fingerprints), validated
    parameters, engine name + version, status/progress/log, one JSON output, provenance and
    staleness. ``analysis/kinds/`` defines each kind; ``analysis/services/runs.py`` its
    lifecycle.

    The XAS-specific fields (``spectrum``, ``model``, ``feff``, ``result`` …) are filled only
    for kind ``exafs_fit`` (whose proxy is :class:`FitRun`).
    """

    kind = models.CharField(max_length=40, default=EXAFS_FIT_KIND, db_index=True)
    parameters = models.JSONField(
        default=dict, blank=True, help_text="The kind's validated parameters (its schema)."
    )
    inputs = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"role", "type", "id", "label", "sha256"?, "version"?}] at request time.',
    )
    engine_name = models.CharField(max_length=100, blank=True)
    engine_version = models.CharField(max_length=40, blank=True)
    output = models.JSONField(
        null=True, blank=True, encoder=ArrayJSONEncoder,
        help_text="The engine's JSON result (numbers and plot arrays).",
    )
    provenance = models.JSONField(
        default=dict, blank=True, help_text="analysis.kinds.base.PROVENANCE_KEYS."
    )
    stale_reason = models.TextField(blank=True)
    # The samples of the inputs (a spectrum's, a fit's, a file's …), for "runs of sample X"
    # on every database (SQLite has no JSON containment lookup).
    input_samples = models.ManyToManyField(Sample, blank=True, related_name="analysis_runs")
    refit_of_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reruns"
    )
    spectrum = models.ForeignKey(
        XASSpectrum, null=True, blank=True, on_delete=models.PROTECT, related_name="fit_runs"
    )
    refit_of = models.ForeignKey(
        XASFit, null=True, blank=True, on_delete=models.PROTECT, related_name="refit_runs"
    )
    model = models.JSONField(
        default=dict, blank=True, help_text="Declarative fit model (docs/fit-model.md)."
    )
    model_hash = models.CharField(max_length=64, blank=True)
    input_sha256 = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    progress_pct = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=100, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    feff = models.ForeignKey(
        FeffCalculation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    result = models.OneToOneField(
        XASFit, null=True, blank=True, on_delete=models.PROTECT, related_name="fit_run"
    )
    result_data = models.JSONField(
        default=dict, blank=True, encoder=ArrayJSONEncoder,
        help_text="Engine output with plot arrays (fit and μ(E)).",
    )
    elapsed_s = models.FloatField(null=True, blank=True)
    # Reproduction: same model hash, raw files and engine versions as a stored fit — the run
    # stores no new fit; it records which fit it repeated and whether every number agreed.
    reproduces = models.ForeignKey(
        XASFit, null=True, blank=True, on_delete=models.PROTECT, related_name="reproductions"
    )
    reproduced_exactly = models.BooleanField(null=True, blank=True)
    reproduction_differences = models.JSONField(
        default=list, blank=True, help_text="What differed from the reproduced fit (text)."
    )
    # Version: a new fit of the same spectra with a changed model (or engine) links the last one.
    previous_version = models.ForeignKey(
        XASFit, null=True, blank=True, on_delete=models.PROTECT, related_name="next_versions"
    )
    fit_version = models.PositiveSmallIntegerField(
        default=1, help_text="1 for a first fit of these spectra, then 2, 3… (previous_version)."
    )
    version_changes = models.JSONField(
        default=list, blank=True, help_text="What changed since the previous version (text)."
    )
    # PostgreSQL's jsonb does not keep object key order, and the parameter order is the fit's
    # variable order (lmfit's result depends on it in the last digits): kept as a JSON array.
    parameter_order = models.JSONField(
        default=list, blank=True,
        help_text="Names of model.parameters in the order they were given (the variable order).",
    )
    history = _RUN_HISTORY
    # Set by the request services: True when an identical earlier run was returned.
    repeat: bool = False

    def ordered_model(self) -> dict:
        """``model`` with ``parameters`` in the order they were given, on every database."""
        return model_in_order(self.model, self.parameter_order)

    class Meta:
        ordering = ["-queued_at"]
        constraints = [
            models.CheckConstraint(condition=Q(progress_pct__lte=100), name="fitrun_progress_pct"),
            models.CheckConstraint(
                condition=~Q(status="succeeded", kind=EXAFS_FIT_KIND)
                | Q(result__isnull=False)
                | Q(reproduces__isnull=False),
                name="fitrun_succeeded_has_result",
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(kind=EXAFS_FIT_KIND) | Q(output__isnull=False),
                name="analysisrun_succeeded_has_output",
            ),
            models.CheckConstraint(
                condition=Q(result__isnull=True) | Q(reproduces__isnull=True),
                name="fitrun_new_fit_or_reproduction",
            ),
        ]

    def __str__(self) -> str:
        what = "fit run" if self.kind == EXAFS_FIT_KIND else f"{self.kind} run"
        return f"{what} {self.pk} ({self.status})"

    @property
    def fit_id(self) -> int | None:
        """The stored fit holding this run's numbers: its own result, or the fit it
        reproduced."""
        return self.result_id or self.reproduces_id

class FitRunManager(models.Manager["FitRun"]):
    """Only the runs of kind ``exafs_fit``."""

    def get_queryset(self) -> models.QuerySet[FitRun]:
        return super().get_queryset().filter(kind=EXAFS_FIT_KIND)


class FitRun(AnalysisRun):
    """An analysis run of kind ``exafs_fit``: every fit code path, the admin and
    ``/api/fit-runs/`` read and write runs through this proxy."""

    objects = FitRunManager()  # type: ignore[misc]  # the proxy's manager narrows the rows

    class Meta:
        proxy = True
        ordering = ["-queued_at"]

    def save(self, *args, **kwargs) -> None:
        self.kind = EXAFS_FIT_KIND
        super().save(*args, **kwargs)


models.signals.post_save.connect(_RUN_HISTORY.post_save, sender=FitRun, weak=False)
models.signals.post_delete.connect(_RUN_HISTORY.post_delete, sender=FitRun, weak=False)
models.signals.pre_delete.connect(_RUN_HISTORY.pre_delete, sender=FitRun, weak=False)


class FitDataset(models.Model):
    """One spectrum of a fit run (a fit over several spectra has one row per dataset).

    Created with the run (spectrum and the sha256 of its raw file at request time); the
    per-dataset statistics and the link to the stored fit are filled when the result is
    stored. Units: k in Å⁻¹, R in Å.
    """

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="datasets")
    position = models.PositiveSmallIntegerField(help_text="Order of the dataset in the model.")
    dataset_id = models.CharField(max_length=100)
    spectrum = models.ForeignKey(XASSpectrum, on_delete=models.PROTECT, related_name="+")
    input_sha256 = models.CharField(max_length=64, help_text="Raw file sha256 at request time.")
    fit = models.ForeignKey(
        XASFit, null=True, blank=True, on_delete=models.PROTECT, related_name="fit_datasets"
    )
    chi_square = models.FloatField(null=True, blank=True)
    reduced_chi2 = models.FloatField(null=True, blank=True)
    r_factor = models.FloatField(null=True, blank=True)
    n_idp = models.FloatField(null=True, blank=True, help_text="Independent points.")
    k_min = models.FloatField(null=True, blank=True, help_text="Å⁻¹")
    k_max = models.FloatField(null=True, blank=True, help_text="Å⁻¹")
    r_min_a = models.FloatField(null=True, blank=True)
    r_max_a = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="fitdataset_position"),
            models.UniqueConstraint(fields=["run", "dataset_id"], name="fitdataset_id_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset_id} of fit run {self.run_id}"


class AgingStudy(LabRecord):
    """A sample kept under a storage condition and re-measured on planned dates."""

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="aging_studies")
    storage_condition = models.CharField(max_length=200)
    started_on = models.DateField(null=True, blank=True)
    techniques = models.CharField(max_length=200, blank=True, help_text="e.g. 'XAS Cd K, PL'")
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "aging studies"

    def __str__(self) -> str:
        return f"aging of {self.sample} ({self.storage_condition})"


class PlannedRemeasurement(models.Model):
    study = models.ForeignKey(AgingStudy, on_delete=models.CASCADE, related_name="planned")
    due_on = models.DateField()
    label = models.CharField(max_length=60, blank=True, help_text="e.g. '6 months'")
    done_on = models.DateField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["due_on"]


from analysis.models_qy import QYStandard  # noqa: E402, F401  (relative QY standards)
