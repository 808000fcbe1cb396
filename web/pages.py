"""Reads that assemble one page each, composed from the apps' selectors (no writes here).

Each view calls one function of this module. Analysis selectors that other engineers deliver
(aging series, due re-measurements, fit runs) are looked up when called, so a page shows
"not available yet" instead of failing while they are missing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.shortcuts import get_object_or_404

import analysis.selectors as analysis_selectors
from analysis.models import AgingStudy, FitRun
from characterization import selectors as char_selectors
from characterization.enums import DataSource
from characterization.models import (
    AbsorptionMeasurement,
    CompositionMeasurement,
    DataFile,
    DataFileLink,
    DataFileRunLink,
    FTIRMeasurement,
    PLMeasurement,
    ReportedQuantity,
    TEMSizeMeasurement,
    XASFit,
    XASSpectrum,
    XRDMeasurement,
)
from synthesis import selectors as syn_selectors
from synthesis.models import Recipe, Sample, SynthesisRun

RECENT = 8
DUE_HORIZON_DAYS = 30


def _records(frame) -> list[dict]:
    """DataFrame rows as dicts with NaN/NA turned into None (templates test for None)."""
    import pandas as pd

    return [{k: (None if not isinstance(v, list | dict) and pd.isna(v) else v)
             for k, v in row.items()} for row in frame.to_dict("records")]


def analysis_function(name: str):
    """``analysis.selectors.<name>`` if it exists yet, else None."""
    return getattr(analysis_selectors, name, None)


# --- dashboard -----------------------------------------------------------------------------

@dataclass
class Dashboard:
    runs: list
    samples: list
    fits: list
    fit_runs: list
    failed_parses: list
    due: list | None  # None: the aging selector is not available yet
    stale_fits: int
    files: list = field(default_factory=list)


def dashboard(*, today: dt.date) -> Dashboard:
    due_fn = analysis_function("due_remeasurements")
    due = _records(due_fn(today, horizon_days=DUE_HORIZON_DAYS)) if due_fn else None
    return Dashboard(
        # Newest logged first (not by code or start time): a run just logged is at the top.
        runs=list(syn_selectors.run_list().prefetch_related(None)
                  .select_related("recipe", "operator").prefetch_related("products")
                  .order_by("-created_at", "-id")[:RECENT]),
        samples=list(syn_selectors.sample_list().order_by("-created_at", "-id")[:RECENT]),
        fits=list(char_selectors.xas_fit_list().order_by("-created_at", "-id")[:RECENT]),
        fit_runs=list(FitRun.objects.select_related("spectrum__sample", "result")
                      .order_by("-queued_at", "-id")[:RECENT]),
        failed_parses=list(char_selectors.failed_parses(RECENT)),
        due=due,
        stale_fits=char_selectors.xas_fit_list().filter(is_stale=True).count(),
        files=list(char_selectors.data_file_list().select_related("sample")
                   .order_by("-uploaded_at", "-id")[:RECENT]),
    )


# --- samples -------------------------------------------------------------------------------

def sample_queryset() -> QuerySet[Sample]:
    return syn_selectors.sample_list()


@dataclass
class SamplePage:
    sample: Sample
    lineage: dict
    layers: list
    tem: list
    pl: list
    absorption: list
    lifetimes: list
    fits: list
    spectra: list
    other: dict[str, list]
    files: list
    aging_studies: list
    aging_series: list | None
    aging_changes: list | None
    aging_available: bool
    runs_used_in: list = field(default_factory=list)
    attachments: list = field(default_factory=list)
    unlinked_links: list = field(default_factory=list)  # DataFileLinks taken off, to relink
    manual: object = None  # web.measurement_forms.ManualSection (forms for the viewer)
    simulated_overlays: list = field(default_factory=list)  # SIMULATED μ(E) to overlay
    model_structure: bool = False  # a reference sample whose spectra are all SIMULATED


def _for_sample(qs: QuerySet, sample: Sample) -> list:
    return list(qs.filter(sample=sample).order_by("measured_at", "age_days", "id"))


def sample_page(*, sample_id: int, viewer=None, bound_form=None) -> SamplePage:
    """Everything on a sample page; ``viewer`` decides the "Add a measurement" forms and edit
    links, ``bound_form`` is a submitted manual-entry form to show again with its errors."""
    from web.measurement_forms import manual_section

    sample = get_object_or_404(syn_selectors.sample_list().select_related(
        "produced_by__recipe", "paper", "owner"), pk=sample_id)
    aging_fn = analysis_function("aging_series")
    changes_fn = analysis_function("aging_changes")
    series = aging_fn(sample) if aging_fn else None
    m = char_selectors.measurement_list
    files = list(char_selectors.with_run_links(char_selectors.files_of_sample(sample.pk)))
    page = SamplePage(
        sample=sample,
        lineage=syn_selectors.sample_lineage(sample),
        layers=list(sample.layers.all()),
        tem=_for_sample(m(TEMSizeMeasurement), sample),
        pl=_for_sample(m(PLMeasurement), sample),
        absorption=_for_sample(m(AbsorptionMeasurement), sample),
        lifetimes=_for_sample(char_selectors.lifetime_list(), sample),
        # Plot arrays stay in the database: the page only asks whether a fit has them.
        fits=_for_sample(char_selectors.xas_fit_list().prefetch_related(
            Prefetch("refit_runs", queryset=FitRun.objects.defer("result_data", "log")))
            .annotate(has_plot_data=Exists(FitRun.objects.filter(result=OuterRef("pk"))
                                           .exclude(result_data={})))
            .select_related("spectrum__data_file"), sample),
        spectra=_for_sample(m(XASSpectrum), sample),
        other={
            "XRD": _for_sample(m(XRDMeasurement), sample),
            "FTIR": _for_sample(m(FTIRMeasurement), sample),
            "Composition": _for_sample(m(CompositionMeasurement), sample),
            "Reported quantities": _for_sample(m(ReportedQuantity), sample),
        },
        files=[f for f in files if f.kind != "attachment"],
        attachments=[f for f in files if f.kind == "attachment"],
        aging_studies=list(AgingStudy.objects.filter(sample=sample, is_retired=False)
                           .prefetch_related("planned")),
        aging_series=_records(series) if series is not None else None,
        aging_changes=(_records(changes_fn(series)) if changes_fn and series is not None
                       else None),
        aging_available=aging_fn is not None,
        runs_used_in=list(SynthesisRun.objects.filter(inputs__sample=sample)
                          .select_related("recipe").distinct()),
        unlinked_links=list(DataFileLink.objects.filter(sample=sample, is_active=False)
                            .select_related("data_file", "unlinked_by")
                            .order_by("-unlinked_at", "-id")),
    )
    rows = [*page.tem, *page.pl, *page.absorption, *page.other["Reported quantities"]]
    page.manual = manual_section(sample, viewer, rows, bound=bound_form)
    page.simulated_overlays = simulated_overlays({sp.element for sp in page.spectra})
    page.model_structure = sample.is_reference and bool(page.spectra) and all(
        sp.source == DataSource.SIMULATED for sp in page.spectra)
    return page


def simulated_overlays(elements: set[str]) -> list[dict]:
    """The SIMULATED spectra a μ(E) plot of these absorbers may overlay (none without
    absorbers, so a page without XAS spends no query): label, file, series URL."""
    if not elements:
        return []
    from django.urls import reverse

    out = []
    for sp in char_selectors.simulated_xas_spectra(elements=elements)[:50]:
        sim = sp.extra.get("simulation") or {}
        kind = "convoluted" if sim.get("convoluted") else sim.get("calculation") or "raw"
        out.append({
            "id": sp.pk, "data_file_id": sp.data_file_id,
            "label": f"SIMULATED · {sp.element} {sp.edge} · {sp.sample.code} · "
                     f"{sim.get('simulation_code', '?')} {kind}",
            "series_url": reverse("web:file-series", args=[sp.data_file_id]),
        })
    return out


def data_file(*, file_id: int) -> DataFile:
    return get_object_or_404(char_selectors.data_file_list(), pk=file_id)


def sample(*, sample_id: int) -> Sample:
    return get_object_or_404(Sample.objects.filter(is_retired=False), pk=sample_id)


# --- runs ----------------------------------------------------------------------------------

def recipes_for_new_run() -> QuerySet[Recipe]:
    return syn_selectors.recipe_list().filter(is_current=True).order_by("name")


def recipe_for_run(*, recipe_id: int) -> Recipe:
    return get_object_or_404(syn_selectors.recipe_list(), pk=recipe_id)


def input_samples() -> QuerySet[Sample]:
    return Sample.objects.filter(is_retired=False).order_by("code")


@dataclass
class RunPage:
    run: SynthesisRun
    deviations: list
    deviation_positions: set
    files: list = field(default_factory=list)
    unlinked_files: list = field(default_factory=list)  # DataFileRunLinks, to link again


def run_page(*, run_id: int) -> RunPage:
    run = get_object_or_404(syn_selectors.run_list().select_related("recipe__paper"), pk=run_id)
    deviations = syn_selectors.run_deviations(run)
    unlinked = (DataFileRunLink.objects.filter(run=run, is_active=False)
                .select_related("data_file", "unlinked_by").order_by("-unlinked_at"))
    return RunPage(run=run, deviations=deviations,
                   deviation_positions={d["position"] for d in deviations},
                   files=list(char_selectors.files_of_run(run.pk)), unlinked_files=list(unlinked))


# --- fits ----------------------------------------------------------------------------------

def xas_fit(*, fit_id: int) -> XASFit:
    return get_object_or_404(char_selectors.xas_fit_list().select_related("spectrum__data_file"),
                             pk=fit_id)


def fit_runs(*, ids: list[int]) -> list[FitRun]:
    runs = FitRun.objects.filter(pk__in=ids).select_related("spectrum__sample", "refit_of",
                                                           "result")
    return sorted(runs, key=lambda r: ids.index(r.pk))


def stale_fits() -> list[XASFit]:
    return list(char_selectors.xas_fit_list().filter(is_stale=True)[:200])
