"""Qualifiers (<, ≤, ≈, >, ≥, range) and lower/upper bounds typed in the web UI: on manual
measurements (QY, PL FWHM, any quantity) and on the steps and additions of a recorded run.

A "< 1 %" QY shows as "< 1" under "QY (%)" and enters the structure–property frame censored; a
range "88–90 %" keeps both ends and enters as 89 ± 1. Bad combinations are refused beside the
field: an upper end below the lower, a qualifier without a value, a range without both ends.
"""

from __future__ import annotations

import re
from html import unescape

import pytest

from analysis.selectors.structure_property import structure_property_frame
from characterization.models import PLMeasurement, ReportedQuantity
from synthesis import services
from synthesis.models import RunAddition, RunStep
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

QY = {"qy-qy_method": "absolute", "qy-measured_on": "", "qy-notes": ""}


@pytest.fixture
def sample(member):
    return builders.sample("NPL-BOUNDS", actor=member, core_ml=4.5)


def _add(web, sample, kind, data):
    return web.post(f"/samples/{sample.pk}/measurements/{kind}/", data)


def _row_text(html: str, row_id: str) -> str:
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", cell) for cell in re.split(r"</td>\s*<td>", row)]
    return " | ".join(" ".join(unescape(cell).split()) for cell in cells)


def _error(html: str, field_id: str) -> str:
    """The message shown beside the input ``field_id`` (its ``…_error`` paragraph)."""
    found = re.search(rf'<p class="field-error" id="{field_id}_error">(.*?)</p>', html, re.S)
    assert found, f"no error beside {field_id}"
    return " ".join(unescape(re.sub(r"<[^>]+>", "", found.group(1))).split())


def _frame_row(code):
    frame = structure_property_frame()
    rows = frame[frame["sample_code"] == code]
    assert len(rows) == 1
    return rows.iloc[0]


# --- manual measurements -----------------------------------------------------------------

def test_qy_below_one_percent_shows_as_a_bound_and_is_censored_in_the_frame(web, sample):
    response = _add(web, sample, "qy", {**QY, "qy-qualifier": "<", "qy-qy_pct": "1"})
    pl = PLMeasurement.objects.get()
    assert response.status_code == 302
    assert (pl.qy_pct, pl.qualifier, pl.qy_pct_max) == (1.0, "<", None)
    html = web.get(f"/samples/{sample.pk}/").content.decode()
    assert _row_text(html, f"m-qy-{pl.pk}").split(" | ")[:4] == ["—", "—", "—", "< 1"]
    assert '<th scope="col">QY (%)</th>' in html
    row = _frame_row("NPL-BOUNDS")
    assert (row["qy_pct_qualifier"], bool(row["qy_pct_censored"]), row["qy_pct_max"]) == (
        "<", True, 1.0)
    assert row["qy_pct"] != row["qy_pct"]  # NaN: a bound is not a measured 1 %


def test_qy_range_keeps_both_ends_and_enters_the_frame_as_midpoint(web, sample):
    _add(web, sample, "qy", {**QY, "qy-qualifier": "range", "qy-qy_pct": "88",
                             "qy-qy_pct_max": "90"})
    pl = PLMeasurement.objects.get()
    assert (pl.qy_pct, pl.qy_pct_max, pl.qualifier) == (88.0, 90.0, "range")
    html = web.get(f"/samples/{sample.pk}/").content.decode()
    assert _row_text(html, f"m-qy-{pl.pk}").split(" | ")[3] == "88–90"
    row = _frame_row("NPL-BOUNDS")
    assert (row["qy_pct"], row["qy_pct_err"], row["qy_pct_min"], row["qy_pct_max"],
            row["qy_pct_qualifier"], bool(row["qy_pct_censored"])) == (
        89.0, 1.0, 88.0, 90.0, "range", False)


def test_qy_edit_form_shows_the_stored_qualifier_and_changes_it(web, sample):
    _add(web, sample, "qy", {**QY, "qy-qualifier": "~", "qy-qy_pct": "30"})
    pl = PLMeasurement.objects.get()
    url = f"/measurements/qy/{pl.pk}/edit/"
    page = web.get(url).content.decode()
    assert '<option value="~" selected>≈ about</option>' in page
    changed = web.post(url, {**QY, "version": "1", "qy-qualifier": "≥", "qy-qy_pct": "30"})
    assert changed.status_code == 302
    pl.refresh_from_db()
    assert (pl.qualifier, pl.qy_pct, pl.version) == ("≥", 30.0, 2)
    html = web.get(f"/samples/{sample.pk}/").content.decode()
    assert _row_text(html, f"m-qy-{pl.pk}").split(" | ")[3] == "≥ 30"


@pytest.mark.parametrize(("post", "field_id", "message"), [
    ({"qy-qualifier": "range", "qy-qy_pct": "90", "qy-qy_pct_max": "88"}, "id_qy-qy_pct_max",
     "QY (%): the upper end 88 is below the lower end 90; enter the smaller number first."),
    ({"qy-qualifier": "range", "qy-qy_pct": "88"}, "id_qy-qy_pct_max",
     "QY (%): a range needs both ends; enter the lower end in the value field and the upper "
     "end here."),
    ({"qy-qualifier": "", "qy-qy_pct": "88", "qy-qy_pct_max": "90"}, "id_qy-qy_pct_max",
     "QY (%): an upper end is only for a range; choose 'range' as the qualifier or leave the "
     "upper end empty."),
    ({"qy-qualifier": "<", "qy-qy_pct": ""}, "id_qy-qy_pct", "Enter the QY in %."),
    ({"qy-qualifier": "range", "qy-qy_pct": "88", "qy-qy_pct_max": "120"}, "id_qy-qy_pct_max",
     "QY (%), upper end: 120 % is not plausible; expected at least 0 and at most 100 %."),
])
def test_qy_bad_bounds_are_refused_beside_the_field(web, sample, post, field_id, message):
    response = _add(web, sample, "qy", {**QY, **post})
    assert response.status_code == 400
    assert _error(response.content.decode(), field_id) == f"✗ {message}"
    assert PLMeasurement.objects.count() == 0


def test_pl_fwhm_range_and_its_errors(web, sample):
    bad = _add(web, sample, "pl", {"pl-peak_nm": "512", "pl-fwhm_qualifier": "range",
                                   "pl-fwhm_nm": "24", "pl-fwhm_nm_max": "22"})
    assert _error(bad.content.decode(), "id_pl-fwhm_nm_max") == (
        "✗ FWHM (nm): the upper end 22 is below the lower end 24; enter the smaller number "
        "first.")
    no_value = _add(web, sample, "pl", {"pl-peak_nm": "512", "pl-fwhm_qualifier": "<"})
    assert _error(no_value.content.decode(), "id_pl-fwhm_qualifier") == (
        "✗ FWHM (nm): the qualifier < needs a value to qualify; enter the value or clear the "
        "qualifier.")
    assert PLMeasurement.objects.count() == 0
    _add(web, sample, "pl", {"pl-peak_nm": "512", "pl-fwhm_qualifier": "range",
                             "pl-fwhm_nm": "22", "pl-fwhm_nm_max": "24"})
    pl = PLMeasurement.objects.get()
    assert (pl.fwhm_nm, pl.fwhm_nm_max, pl.fwhm_qualifier, pl.qualifier) == (
        22.0, 24.0, "range", "")
    html = web.get(f"/samples/{sample.pk}/").content.decode()
    assert _row_text(html, f"m-pl-{pl.pk}").split(" | ")[:3] == ["512", "22–24", "—"]


def test_quantity_range_and_bound_and_their_errors(web, sample):
    base = {"quantity-quantity": "reaction time", "quantity-unit": "h", "quantity-err": ""}
    no_upper = _add(web, sample, "quantity", {**base, "quantity-qualifier": "range",
                                              "quantity-value": "1"})
    assert _error(no_upper.content.decode(), "id_quantity-value_max") == (
        "✗ value: a range needs both ends; enter the lower end in the value field and the "
        "upper end here.")
    _add(web, sample, "quantity", {**base, "quantity-qualifier": "range", "quantity-value": "1",
                                   "quantity-value_max": "2"})
    _add(web, sample, "quantity", {**base, "quantity-quantity": "shell depth",
                                   "quantity-unit": "ML", "quantity-qualifier": ">",
                                   "quantity-value": "2"})
    rows = {q.quantity: q for q in ReportedQuantity.objects.all()}
    assert [(q.value, q.value_max, q.qualifier, q.unit) for q in rows.values()] == [
        (1.0, 2.0, "range", "h"), (2.0, None, ">", "ML")]
    html = web.get(f"/samples/{sample.pk}/").content.decode()
    time, depth = rows["reaction time"], rows["shell depth"]
    assert _row_text(html, f"m-quantity-{time.pk}").split(" | ")[:2] == ["reaction time",
                                                                          "1–2 h"]
    assert _row_text(html, f"m-quantity-{depth.pk}").split(" | ")[:2] == ["shell depth",
                                                                           "> 2 ML"]


# --- run steps and additions -------------------------------------------------------------

@pytest.fixture
def run(member):
    return services.record_synthesis_run(
        data={"code": "RUN-BOUNDS"}, recipe=builders.core_recipe(actor=member), actor=member)


def _run_post(run) -> dict:
    """What the run edit page posts when nothing is changed (read from the form itself)."""
    from web.records.forms import run_editor

    editor = run_editor(None, run)
    data = {"version": str(run.version)}
    for form in [editor.main, *editor.steps]:
        for bound in form:
            value = bound.value()
            if value is None or bound.name == "products":
                continue
            data[bound.html_name] = "" if value is None else str(value)
    return data


def _step_with_addition(run):
    step = next(s for s in run.steps.all() if s.additions.exists())
    return step, step.additions.first()


def test_run_step_setpoint_and_duration_ranges_are_saved_and_shown(web, run):
    heat = next(s for s in run.steps.all() if s.action == "heat")  # to 240 °C
    hold = next(s for s in run.steps.all() if s.action == "hold")  # 8 min
    p, h = f"step{heat.position}-", f"step{hold.position}-"
    post = {**_run_post(run), f"{p}setpoint_qualifier": "range", f"{p}setpoint_max_c": "250",
            f"{h}duration_qualifier": "≥"}
    response = web.post(f"/runs/{run.pk}/edit/", post)
    assert response.status_code == 302, response.content.decode()[:3000]
    heat, hold = RunStep.objects.get(pk=heat.pk), RunStep.objects.get(pk=hold.pk)
    assert (heat.setpoint_c, heat.setpoint_max_c, heat.setpoint_qualifier) == (
        240.0, 250.0, "range")
    assert (hold.duration_value, hold.duration_qualifier, hold.duration_max_value) == (
        8.0, "≥", None)
    page = web.get(f"/runs/{run.pk}/edit/").content.decode()
    assert f'name="{p}setpoint_max_c" value="250"' in page
    assert '<option value="range" selected>range (lower–upper)</option>' in page
    shown = web.get(f"/runs/{run.pk}/").content.decode()
    assert " · 240–250 °C · ramp 20 °C/min" in shown and " · ≥ 8 min" in shown


def test_run_addition_equivalents_or_amount_range_and_bad_bounds(web, run):
    step, addition = _step_with_addition(run)
    a = f"step{step.position}-add1_"
    upper = (addition.amount_value or 0) + 50
    post = {**_run_post(run), f"{a}qualifier": "range", f"{a}amount_max_value": str(upper)}
    assert web.post(f"/runs/{run.pk}/edit/", post).status_code == 302
    addition = RunAddition.objects.get(pk=addition.pk)
    assert (addition.qualifier, addition.amount_max_value) == ("range", upper)
    shown = web.get(f"/runs/{run.pk}/").content.decode()
    assert f"{addition.amount_value:g}–{upper:g} {addition.amount_unit}" in shown

    run.refresh_from_db()
    below = {**_run_post(run), f"{a}amount_max_value": "1"}
    response = web.post(f"/runs/{run.pk}/edit/", below)
    assert response.status_code == 400
    assert _error(response.content.decode(), f"id_{a}amount_max_value") == (
        f"✗ amount: the upper end 1 {addition.amount_unit} is below the lower end "
        f"{addition.amount_value:g} {addition.amount_unit}; enter the smaller number first.")
    assert RunAddition.objects.get(pk=addition.pk).amount_max_value == upper  # nothing saved


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"setpoint_qualifier": "range"}, "setpoint_max_c",
     "set point: a range needs both ends (e.g. 1–2 h): enter the lower end as the value and "
     "the upper end."),
    ({"setpoint_max_c": "260"}, "setpoint_max_c",
     "set point: an upper end is only for a range; choose 'range' as the qualifier or leave "
     "the upper end empty."),
    ({"setpoint_qualifier": "range", "setpoint_max_c": "200"}, "setpoint_max_c",
     "set point: the upper end 200 °C is below the lower end 240 °C; enter the smaller number "
     "first."),
    ({"setpoint_qualifier": "<", "setpoint_value": "", "setpoint_unit": ""},
     "setpoint_qualifier",
     "set point: the qualifier < needs a value to qualify; enter the value or clear the "
     "qualifier."),
])
def test_run_step_bad_bounds_are_refused_beside_the_field(web, run, changes, field, message):
    heat = next(s for s in run.steps.all() if s.setpoint_value == 240)
    p = f"step{heat.position}-"
    post = {**_run_post(run), **{p + k: v for k, v in changes.items()}}
    response = web.post(f"/runs/{run.pk}/edit/", post)
    assert response.status_code == 400
    assert _error(response.content.decode(), f"id_{p}{field}") == f"✗ {message}"
    heat.refresh_from_db()
    assert (heat.setpoint_qualifier, heat.setpoint_max_c, heat.setpoint_c) == ("", None, 240.0)


# --- the same rules through the API ------------------------------------------------------

def test_api_manual_qy_with_bounds_and_every_bad_field_named(api, sample):
    created = api.post("/api/manual-measurements/", {
        "kind": "qy", "sample": sample.pk, "qualifier": "≈", "qy_pct": 88, "qy_method": "absolute"},
        format="json")
    assert created.status_code == 201, created.content
    entry = created.json()["entry"]
    assert (entry["qualifier"], entry["qy_pct"], entry["qy_pct_max"]) == ("~", 88.0, None)
    bad = api.post("/api/manual-measurements/", {
        "kind": "pl", "sample": sample.pk, "peak_nm": 512, "fwhm_qualifier": "between",
        "fwhm_nm": 20}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"] == {"fwhm_qualifier": (
        "FWHM (nm): 'between' is not a qualifier; choose <, ≤, ≈, >, ≥ or 'range', or leave it "
        "empty for a value as measured.")}
    assert PLMeasurement.objects.count() == 1
