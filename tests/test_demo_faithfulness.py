"""The papers' text as faithfully as their tables: ranges, qualifiers, units, deviations, lots,
step details, distinct references, flags — each an exact assertion on the loaded demo data, and
the structure–property frame's rule for ranges, specific values, bounds and flagged records."""

from __future__ import annotations

import math

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from analysis.demo import load_demo
from analysis.selectors.aging import aging_series
from analysis.selectors.structure_property import structure_property_frame
from characterization.models import PLMeasurement, ReportedQuantity, XASFit, XASSpectrum
from synthesis.models import (
    Chemical,
    ChemicalLot,
    DataFlag,
    Paper,
    RecipeAddition,
    RecipeStep,
    Sample,
    SynthesisRun,
)
from synthesis.selectors import run_deviations
from synthesis.services import flag_record

pytestmark = pytest.mark.django_db

CDZNS_35 = "NPL-CdSe/CdZnS-3.5ML"
CDZNS_45 = "NPL-CdSe/CdZnS-4.5ML"


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The three demo papers (without the computed fits), loaded once, rolled back after."""
    with django_db_blocker.unblock(), transaction.atomic():
        load_demo(report=lambda line: None, with_fits=False)
        yield
        transaction.set_rollback(True)


def _row(frame, code):
    rows = frame[frame["sample_code"] == code]
    assert len(rows) == 1
    return rows.iloc[0]


def _paper_flags():
    return DataFlag.objects.filter(content_type=ContentType.objects.get_for_model(Paper))


# --- 1. ranges, qualifiers, units --------------------------------------------------------------

def test_printed_ranges_keep_their_upper_bound(demo):
    qy = ReportedQuantity.objects.get(paper__key="seed000", quantity__startswith="PL QY reachable")
    assert (qy.value, qy.value_max, qy.unit, qy.qualifier, qy.as_printed) == (
        95.0, 98.0, "percent", "range", {"text": "95-98%"})
    hold = RecipeStep.objects.get(recipe__slug="seed000-prep-cd-precursor-crown",
                                  duration_max_value__isnull=False)
    assert (hold.duration_value, hold.duration_max_value, hold.duration_unit,
            hold.duration_qualifier, hold.duration_s) == (1.0, 2.0, "h", "range", 3600.0)
    ddt = RecipeAddition.objects.get(step__recipe__slug="seed004-s4-hg-ce-ag",
                                     chemical__name="1-dodecanethiol")
    assert (ddt.equivalents, ddt.equivalents_max, ddt.qualifier, ddt.equivalents_basis) == (
        0.6, 1.5, "range", "per Cd in the cores")


def test_below_one_percent_is_a_bound_not_a_value(demo):
    pl = PLMeasurement.objects.get(sample__code="S4-CdSe/HgSe-CE-3.3nm")
    assert (pl.qy_pct, pl.qualifier, pl.as_printed["qy_pct"]) == (1.0, "<", "below 1%")


def test_units_kept_on_text_numbers(demo):
    depth = ReportedQuantity.objects.get(quantity__startswith="depth of Hg²⁺ diffusion")
    assert (depth.value, depth.unit, depth.qualifier) == (2.0, "ML", ">")
    slower = ReportedQuantity.objects.get(quantity__startswith="D at room temperature")
    assert (slower.value, slower.unit, slower.qualifier) == (3.0, "orders of magnitude", "")
    fold = ReportedQuantity.objects.get(quantity__startswith="PL QY increase after thiol")
    assert (fold.value, fold.unit, fold.qualifier) == (100.0, "fold", ">")


# --- 3. deviations stated in the text are actual step values ------------------------------------

def test_room_temperature_and_no_thiol_are_computed_deviations(demo):
    run = SynthesisRun.objects.get(code="RUN-S4-NPL-HgSe-4.5ML")
    found = {(d["position"], d["field"]): (d["recipe_value"], d["actual_value"])
             for d in run_deviations(run)}
    assert found[(2, "setpoint_c")] == (80.0, 25.0)
    assert found[(1, "additions[4].equivalents")] == (0.6, 0.0)
    heat = run.steps.get(position=2)
    assert (heat.setpoint_qualifier, heat.details) == ("~", "at room temperature (taken as ~25 °C)")
    ddt = heat.run.steps.get(position=1).additions.get(chemical__name="1-dodecanethiol")
    assert (ddt.equivalents, ddt.equivalents_max, ddt.note) == (
        0.0, None, "no thiol ligands were applied")
    exchange = SynthesisRun.objects.get(code="RUN-S4-HgSe-from-CdSe-ZB-3.3nm")
    found = {(d["position"], d["field"]): d["actual_value"] for d in run_deviations(exchange)}
    assert found[(4, "duration_s")] == 4 * 3600.0


# --- 4. supplier and purity belong to lots ------------------------------------------------------

def test_each_paper_has_its_own_lot_with_its_supplier(demo):
    methanol = Chemical.objects.get(name="methanol")
    assert (methanol.supplier, methanol.purity, methanol.grade) == ("", "", "")
    lots = {lot.paper.key: (lot.lot_number, lot.supplier)
            for lot in ChemicalLot.objects.filter(chemical=methanol)}
    assert lots == {"seed000": ("as published in seed000", "Aldrich"),
                    "seed004": ("as published in seed004", "Macron Fine Chemicals")}


# --- 5. step details ---------------------------------------------------------------------------

def test_step_details_are_a_field_in_the_api_and_on_the_pages(demo, api, client, member):
    later = RecipeStep.objects.get(recipe__slug="seed000-cdse-5-5ml", position=6)
    assert later.details == "60 s later"
    washes = RecipeStep.objects.get(recipe__slug="seed000-cdse-cdzns-core-shell", position=1)
    assert washes.details == "at least three times"
    cold = RecipeStep.objects.get(recipe__slug="seed002-s2-msc-isomerisation", position=2)
    assert (cold.details, cold.setpoint_c, cold.setpoint_qualifier) == (
        "lower than 25 °C", 25.0, "<")
    body = api.get(f"/api/recipes/{later.recipe_id}/").json()
    assert [s["details"] for s in body["steps"] if s["position"] == 6] == ["60 s later"]
    client.force_login(member)
    page = client.get(f"/recipes/{cold.recipe_id}/").content.decode()
    assert "lower than 25 °C" in page and "&lt; 25" in page
    run = SynthesisRun.objects.get(code="RUN-NPL-CdSe/CdZnS-4.5ML")
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "at least three times" in page


# --- 6. distinct references --------------------------------------------------------------------

def test_two_cds_references_with_their_own_measurements(demo):
    seed000 = Sample.objects.get(code="REF-CdS-bulk")
    seed002 = Sample.objects.get(code="REF-CdS-bulk-ZB")
    assert (seed000.paper.key, seed000.crystal_phase) == ("seed000", "unknown")
    assert (seed002.paper.key, seed002.crystal_phase) == ("seed002", "ZB")
    assert list(XASFit.objects.filter(sample=seed000).values_list("paper__key", "citation")) \
        == [("seed000", "Table 6")]
    assert list(XASSpectrum.objects.filter(sample=seed000).values_list("paper__key", flat=True)) \
        == ["seed000"]
    assert list(XASSpectrum.objects.filter(sample=seed002).values_list("paper__key", flat=True)) \
        == ["seed002", "seed002"]
    assert sorted(ReportedQuantity.objects.filter(sample=seed002).values_list(
        "paper__key", "quantity")) == [
        ("seed002", "Cd–S coordination number (bulk CdS)"),
        ("seed002", "FT magnitude first peak (Cd–S shell), bulk CdS")]
    assert not ReportedQuantity.objects.filter(sample=seed000).exists()


# --- 7. Table S2 is not served as the core/shell sample's data ---------------------------------

def test_table_s2_flagged_duplicate_and_left_out_of_aging(demo, api):
    s2 = XASFit.objects.filter(citation="Table S2")
    assert sorted(s2.values_list("sample__code", flat=True)) == [
        CDZNS_35, CDZNS_45, "NPL-CdSe/CdZnS-5.5ML"]
    kinds = set(DataFlag.objects.filter(
        content_type=ContentType.objects.get_for_model(XASFit),
        object_id__in=s2.values_list("pk", flat=True)).values_list("kind", flat=True))
    assert kinds == {"duplicate"}
    sample = Sample.objects.get(code=CDZNS_35)
    assert "Table S2" not in set(aging_series(sample)["citation"])
    flagged = aging_series(sample, include_flagged=True)
    assert flagged[(flagged["citation"] == "Table S2") & (flagged["property"] == "cd_se_n")][
        "value"].tolist() == [3.165]
    body = api.get("/api/analysis/aging/", {"sample": sample.pk}).json()
    assert "Table S2" not in {r["citation"] for r in body["series"]}
    body = api.get("/api/analysis/aging/", {"sample": sample.pk, "include_flagged": "true"}).json()
    assert "Table S2" in {r["citation"] for r in body["series"]}


def test_frame_leaves_flagged_fits_out_unless_asked(demo):
    s2_ids = set(XASFit.objects.filter(citation="Table S2").values_list("pk", flat=True))
    for choice in ("earliest", "latest"):
        frame = structure_property_frame(fit_choice=choice)
        assert not s2_ids & set(frame["cd_fit_id"].dropna().astype(int))
    assert _row(structure_property_frame(fit_choice="earliest"), CDZNS_35)[
        "cd_fit_citation"] == "Table 3"


def test_include_flagged_brings_a_flagged_measurement_back(demo, api):
    specific = PLMeasurement.objects.get(sample__code=CDZNS_45, qy_pct=89)
    savepoint = transaction.savepoint()
    try:
        flag_record(target=specific, kind="wrong", location="test", message="test flag",
                    actor=None)
        row = _row(structure_property_frame(), CDZNS_45)
        # Without the flagged 89 %, the same paper's 88–90 % represents the sample.
        assert (row["qy_pct"], row["qy_pct_err"], row["qy_pct_qualifier"]) == (
            89.0, 1.0, "range")
        assert row["pl_id"] != specific.pk
        row = _row(structure_property_frame(include_flagged=True), CDZNS_45)
        assert (row["pl_id"], row["qy_pct_qualifier"]) == (specific.pk, None)
        rows = api.get("/api/analysis/frame/", {"sample_code": CDZNS_45,
                                                "include_flagged": "true"}).json()
        assert [r["pl_id"] for r in rows] == [specific.pk]
        rows = api.get("/api/analysis/frame/", {"sample_code": CDZNS_45}).json()
        assert [r["qy_pct_qualifier"] for r in rows] == ["range"]
    finally:
        transaction.savepoint_rollback(savepoint)


# --- 8. the inconsistencies of the text are flagged --------------------------------------------

def test_text_inconsistencies_are_flagged(demo):
    flags = _paper_flags()
    aging = flags.get(location__contains="Fig. S11")
    assert "6 months" in aging.message and "1.5 years" in aging.message
    distance = flags.get(message__contains="2.6172")
    assert "2.5661" in distance.message and "increased" in distance.message
    shell = flags.get(message__contains="5.57 ± 3.25")
    assert "no clear second shell" in shell.message and shell.kind == "inconsistency"


# --- 2. the frame rule -------------------------------------------------------------------------

def test_frame_range_enters_as_midpoint_plus_minus_half_range(demo):
    row = _row(structure_property_frame(), "S4-HgCdSe-IECE-3.3nm")
    assert (row["qy_pct"], row["qy_pct_err"], row["qy_pct_min"], row["qy_pct_max"],
            row["qy_pct_qualifier"], row["qy_pct_censored"]) == (
        17.5, 2.5, 15.0, 20.0, "range", False)


def test_frame_fwhm_range_follows_the_same_rule(demo):
    # seed 004: "~109–143 meV" and "102–139 meV" (Results, Fig. 2h–j and 5e–g)
    frame = structure_property_frame()
    row = _row(frame, "S4-HgCdSe-IECE-3.3nm")
    assert (row["fwhm_mev"], row["fwhm_mev_err"], row["fwhm_mev_min"], row["fwhm_mev_max"],
            row["fwhm_mev_qualifier"], row["fwhm_mev_censored"]) == (
        126.0, 17.0, 109.0, 143.0, "range", False)
    assert _row(frame, "S4-HgSe/CdZnS-3.2nm")["fwhm_mev"] == 120.5
    specific = _row(frame, CDZNS_45)
    assert specific["fwhm_mev_qualifier"] is None and math.isnan(specific["fwhm_mev_err"])


def test_frame_prefers_the_specific_value_over_the_range(demo):
    row = _row(structure_property_frame(), CDZNS_45)
    specific = PLMeasurement.objects.get(sample__code=CDZNS_45, qy_pct=89)
    assert (row["qy_pct"], row["qy_pct_qualifier"], row["pl_id"]) == (89.0, None, specific.pk)
    assert math.isnan(row["qy_pct_err"]) and math.isnan(row["qy_pct_max"])


def test_frame_censors_a_bound_never_one_percent(demo):
    row = _row(structure_property_frame(), "S4-CdSe/HgSe-CE-3.3nm")
    assert math.isnan(row["qy_pct"])
    assert (row["qy_pct_max"], row["qy_pct_qualifier"], row["qy_pct_censored"]) == (
        1.0, "<", True)
    assert math.isnan(row["qy_pct_min"])
    bound = _row(structure_property_frame(include_censored=True), "S4-CdSe/HgSe-CE-3.3nm")
    assert (bound["qy_pct"], bound["qy_pct_censored"]) == (1.0, True)
    low = structure_property_frame(filters={"qy_pct__lt": 2})
    assert "S4-CdSe/HgSe-CE-3.3nm" not in set(low["sample_code"])


def test_frame_over_api_include_censored(demo, api):
    rows = api.get("/api/analysis/frame/", {"sample_code": "S4-CdSe/HgSe-CE-3.3nm"}).json()
    assert [(r["qy_pct"], r["qy_pct_max"], r["qy_pct_censored"]) for r in rows] == [
        (None, 1.0, True)]
    rows = api.get("/api/analysis/frame/", {"sample_code": "S4-CdSe/HgSe-CE-3.3nm",
                                            "include_censored": "true"}).json()
    assert [r["qy_pct"] for r in rows] == [1.0]
