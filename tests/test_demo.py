"""The demo loader: exact counts, idempotence, printed values and curator flags."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

from analysis.demo import load_demo
from characterization.models import PLMeasurement, TEMSizeMeasurement, XASFit, XASPath
from synthesis.models import (
    DataFlag,
    Paper,
    Recipe,
    RecipeStep,
    Sample,
    SampleParent,
    StockSolution,
    SynthesisRun,
)

pytestmark = pytest.mark.django_db

EXPECTED_COUNTS = {
    Paper: 3,
    Sample: 60,
    SampleParent: 34,
    Recipe: 35,
    RecipeStep: 196,
    StockSolution: 17,
    SynthesisRun: 52,
    XASFit: 48,
    XASPath: 76,
    PLMeasurement: 14,
    TEMSizeMeasurement: 21,
}


def _counts():
    return {model: model.objects.count() for model in EXPECTED_COUNTS}


@pytest.mark.slow
def test_load_demo_exact_counts_and_idempotent(
    django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    with django_capture_on_commit_callbacks(execute=True):
        first = load_demo(report=lambda line: None)
    assert first == {"seed000": "loaded", "seed002": "loaded", "seed004": "loaded"}
    assert _counts() == EXPECTED_COUNTS
    from analysis.models import AgingStudy

    assert list(AgingStudy.objects.values_list("sample__code", flat=True)) == [
        "NPL-CdSe/CdZnS-4.5ML"]
    computed = XASFit.objects.filter(source="computed")
    assert sorted(f.edge for f in computed) == ["Cd K", "Se K", "Zn K"]
    assert all(f.sample.is_reference for f in computed)
    cds = computed.get(absorber="Cd")
    n_total = sum(p.n for p in cds.paths.all())
    assert abs(n_total - 4) < 2 * max(p.n_err for p in cds.paths.all()) + 0.5
    r_mean = sum(p.r_a * p.n for p in cds.paths.all()) / n_total
    assert abs(r_mean - 2.528) < 0.02  # greenockite Cd–S, degeneracy-weighted
    with django_capture_on_commit_callbacks(execute=True):
        second = load_demo(report=lambda line: None)
    assert set(second.values()) == {"already loaded"}
    assert _counts() == EXPECTED_COUNTS


def test_demo_published_values_exact_and_flagged():
    load_demo(report=lambda line: None, with_fits=False)
    # Table 3, 3.5 ML CdSe/CdZnS, Cd–Se: printed N = 4.108 ± 4.681 (text says 4.68) — kept.
    fit = XASFit.objects.get(sample__code="NPL-CdSe/CdZnS-3.5ML", citation="Table 3")
    cd_se = fit.paths.get(scatterer="Se")
    assert (cd_se.n, cd_se.n_err, cd_se.as_printed["n"], cd_se.as_printed["n_err"]) == (
        4.108,
        4.681,
        "4.108",
        "4.681",
    )
    flags = DataFlag.objects.filter(content_type=ContentType.objects.get_for_model(Paper))
    assert flags.filter(message__contains="4.68").exists()
    # Table 6 aging of 4.5 ML CdSe/CdZnS: Cd–S N 3.5 ± 0.3 at 2.5 months → 2.7 ± 0.7 at 6 months.
    aging = {
        f.age_label: f.paths.get(scatterer="S")
        for f in XASFit.objects.filter(sample__code="NPL-CdSe/CdZnS-4.5ML", citation="Table 6")
    }
    assert {label: (p.n, p.n_err) for label, p in aging.items()} == {
        "2.5 months": (3.5, 0.3),
        "6 months": (2.7, 0.7),
    }
    # Table S2 kept under the printed names, and flagged.
    assert DataFlag.objects.filter(location__contains="Table S2").exists()


def test_demo_lineage_core_crown_shell():
    load_demo(report=lambda line: None, with_fits=False)
    shell = Sample.objects.get(code="NPL-CdSe/CdS/CdZnS-4.5ML")
    crown = shell.parent_links.get().parent
    core = crown.parent_links.get().parent
    assert (crown.code, core.code) == ("NPL-CdSe/CdS-4.5ML", "NPL-CdSe-4.5ML")
    assert [(la.role, la.thickness_ml) for la in core.layers.all()] == [("core", 4.5)]
    hgse = Sample.objects.get(code="S4-HgSe-from-CdSe-ZB-3.3nm")
    assert hgse.parent_links.get().process == "cation_exchange"
    for code in (
        "MSC-311",
        "MSC-322",
        "RQD-355",
        "REF-CdS-bulk",
        "REF-CdS-bulk-ZB",
        "REF-ZnS-bulk",
        "REF-CdO-bulk",
        "REF-EviDots-CdSe/ZnS",
    ):
        assert Sample.objects.filter(code=code).exists(), code


def test_demo_injection_step_of_shell_recipe():
    load_demo(report=lambda line: None, with_fits=False)
    inject = RecipeStep.objects.filter(
        recipe__slug__startswith="seed000", injection_rate_ml_per_h=10
    ).first()
    assert (
        inject.injection_start_c,
        inject.injection_switch_c,
        inject.injection_rate_after_switch_ml_per_h,
    ) == (161.0, 240.0, 4.0)
