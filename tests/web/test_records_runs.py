"""Recorded runs edited in the web UI; deviations in the recipe's own units; input picker."""

from __future__ import annotations

import pytest

from labdb.lib.records import retire_record
from synthesis import services
from synthesis.models import RunStep, Sample, SynthesisRun
from tests.synthesis import builders
from tests.web.test_records_samples import _client

pytestmark = pytest.mark.django_db

QUANTITIES = ("setpoint", "ramp", "duration", "injection_rate", "injection_rate_after_switch")
TEXTS = ("injection_start_condition", "injection_switch_condition", "injection_stop_condition",
         "atmosphere", "description", "deviation_note")


@pytest.fixture
def run(member):
    recipe = builders.core_recipe(actor=member)
    return services.record_synthesis_run(
        data={"code": "RUN-E1"}, recipe=recipe, actor=member,
        actual_steps={2: {"setpoint_value": 250, "setpoint_unit": "degC"},
                      3: {"additions": [{"amount_value": 150}]},
                      4: {"duration_value": 720, "duration_unit": "s",
                          "deviation_note": "slow colour change"}})


@pytest.fixture
def shell_run(member):
    cores = builders.sample("NPL-CORE", actor=member, core_ml=4.5)
    return services.record_synthesis_run(data={"code": "RUN-S1"}, recipe=builders.shell_recipe(
        actor=member), inputs={"cores": cores}, actor=member)


def _run_post(run: SynthesisRun, **overrides) -> dict:
    """What the edit page posts when nothing is changed (the stored values)."""
    data = {"version": str(run.version), "code": run.code, "operator": str(run.operator_id or ""),
            "operator_name": run.operator_name, "started_at": "", "observations": run.observations}
    for step in RunStep.objects.filter(run=run).order_by("position"):
        p = f"step{step.position}-"
        for q in QUANTITIES:
            value = getattr(step, f"{q}_value")
            data[f"{p}{q}_value"] = "" if value is None else f"{value:g}"
            data[f"{p}{q}_unit"] = getattr(step, f"{q}_unit")
        for name in TEXTS:
            data[f"{p}{name}"] = getattr(step, name)
        for i, a in enumerate(step.additions.all(), start=1):
            amount = a.amount_value
            data[f"{p}add{i}_amount_value"] = "" if amount is None else f"{amount:g}"
            data[f"{p}add{i}_amount_unit"] = a.amount_unit
            data[f"{p}add{i}_equivalents"] = "" if a.equivalents is None else f"{a.equivalents:g}"
    data.update(overrides)
    return data


def test_run_page_shows_deviations_in_the_recipes_units(member, run):
    html = _client(member).get(f"/runs/{run.pk}/").content.decode()
    assert '<td class="deviation">set point 240 → 250 °C</td>' in html
    assert '<td class="deviation">cadmium acetate dihydrate 120 → 150 mg</td>' in html
    assert '<td class="deviation">hold 8 → 12 min</td><td>slow colour change</td>' in html
    assert f'<a class="button" href="/runs/{run.pk}/edit/">Edit</a>' in html


def test_run_edit_changes_step_values_operator_notes_and_products(member, curator, run):
    product = builders.sample("NPL-E1", actor=member, core_ml=4.5)
    response = _client(member).post(f"/runs/{run.pk}/edit/", _run_post(run, **{
        "operator": str(curator.pk), "observations": "yellow → orange at 200 °C",
        "started_at": "2025-05-06T09:30", "products": [str(product.pk)],
        "step4-duration_value": "15", "step4-duration_unit": "min",
        "step1-add1_amount_value": "25"}))
    assert (response.status_code, response["Location"]) == (302, f"/runs/{run.pk}/")
    run.refresh_from_db()
    step4 = run.steps.get(position=4)
    assert (run.version, run.operator, run.observations) == (2, curator,
                                                             "yellow → orange at 200 °C")
    assert (step4.duration_value, step4.duration_unit, step4.duration_s) == (15, "min", 900)
    assert run.steps.get(position=1).additions.get().amount_canonical == 25
    assert list(run.products.values_list("code", flat=True)) == ["NPL-E1"]
    assert run.history.first().history_user == member
    html = _client(member).get(f"/runs/{run.pk}/").content.decode()
    assert '<td class="deviation">hold 8 → 15 min</td>' in html
    assert '<td class="deviation">1-octadecene 30 → 25 mL</td>' in html


def test_run_edit_two_stage_injection(member, shell_run):
    response = _client(member).post(f"/runs/{shell_run.pk}/edit/", _run_post(shell_run, **{
        "step2-injection_rate_after_switch_value": "3",
        "step2-injection_switch_condition": "when 250 °C is reached",
        "step2-injection_stop_condition": "after 2 h"}))
    assert response.status_code == 302
    step = shell_run.steps.get(position=2)
    assert (step.injection_rate_ml_per_h, step.injection_rate_after_switch_ml_per_h) == (10, 3)
    assert (step.injection_switch_condition, step.injection_stop_condition) == (
        "when 250 °C is reached", "after 2 h")
    html = _client(member).get(f"/runs/{shell_run.pk}/").content.decode()
    assert '<td class="deviation">injection after the switch 4 → 3 mL/h</td>' in html
    assert ("inject from ~161 °C at 10 mL/h until when 250 °C is reached, then 3 mL/h "
            "until after 2 h") in html


def test_run_edit_bad_unit_shown_beside_that_steps_unit_and_nothing_written(member, run):
    response = _client(member).post(f"/runs/{run.pk}/edit/", _run_post(run, **{
        "observations": "should not be saved", "step2-setpoint_unit": "degF/s"}))
    html = response.content.decode()
    assert response.status_code == 400
    assert ('<p class="field-error" id="id_step2-setpoint_unit_error"><span aria-hidden="true">'
            "✗</span> setpoint: unit &#x27;degF/s&#x27; is a temperature rate, expected "
            "temperature.</p>") in html
    assert 'name="step2-setpoint_unit" value="degF/s"' in html
    run.refresh_from_db()
    assert (run.version, run.observations) == (1, "")
    assert run.steps.get(position=2).setpoint_unit == "degC"


def test_run_edit_stale_version_refused(member, curator, run):
    _client(curator).post(f"/runs/{run.pk}/edit/", _run_post(run, observations="curator"))
    response = _client(member).post(f"/runs/{run.pk}/edit/", _run_post(
        run, version="1", observations="mine"))
    html = response.content.decode()
    assert response.status_code == 409
    assert "✗ Run RUN-E1 was changed by carol since you opened it — reload." in html
    assert '<tr><th scope="row">Observations</th><td>curator</td></tr>' in html
    assert '>\nmine</textarea>' in html
    run.refresh_from_db()
    assert (run.version, run.observations) == (2, "curator")


def test_run_edit_forbidden_for_other_member_and_anonymous(other_member, run):
    client = _client(other_member)
    assert f'href="/runs/{run.pk}/edit/"' not in client.get(f"/runs/{run.pk}/").content.decode()
    assert client.post(f"/runs/{run.pk}/edit/", _run_post(run, observations="x")).status_code \
        == 403
    anonymous = _client().post(f"/runs/{run.pk}/edit/", _run_post(run, observations="x"))
    assert anonymous["Location"] == f"/accounts/login/?next=/runs/{run.pk}/edit/"
    run.refresh_from_db()
    assert run.observations == ""


def test_run_retire_hides_it_from_the_run_list(member, run):
    response = _client(member).post(f"/retire/run/{run.pk}/", {"reason": "logged twice"})
    run.refresh_from_db()
    assert (response.status_code, response["Location"]) == (302, "/runs/")
    assert (run.is_retired, run.retired_reason) == (True, "logged twice")
    assert f'href="/runs/{run.pk}/"' not in _client(member).get("/runs/").content.decode()
    assert _client(member).get(f"/runs/{run.pk}/").status_code == 410  # retired page


def test_run_input_picker_lists_compatible_material_first_newest_first(member):
    recipe = builders.shell_recipe(actor=member)  # input "cores": "CdSe NPL cores"
    old_core = builders.sample("NPL-OLD", actor=member, core_ml=4.5)
    hgse = builders.sample("HGSE-1", actor=member, material="HgSe")
    new_core = builders.sample("NPL-NEW", actor=member, core_ml=3.5)
    retired = builders.sample("NPL-GONE", actor=member)
    retire_record(retired, reason="aggregated")
    html = _client(member).get(f"/runs/new/?recipe={recipe.pk}").content.decode()
    start = html.index('<select name="input_cores"')
    picker = html[start:html.index("</select>", start)]
    assert picker == (
        '<select name="input_cores" data-filterable="" required id="id_input_cores">\n'
        '  <option value="" selected>choose a sample…</option>\n\n'
        '  <optgroup label="Compatible material (CdSe)">\n'
        f'  <option value="{new_core.pk}" data-search="NPL-NEW NPL-NEW CdSe">NPL-NEW</option>\n\n'
        f'  <option value="{old_core.pk}" data-search="NPL-OLD NPL-OLD CdSe">NPL-OLD</option>\n\n'
        '  </optgroup>\n'
        '  <optgroup label="Other samples, newest first">\n'
        f'  <option value="{hgse.pk}" data-search="HGSE-1 HGSE-1 HgSe">HGSE-1</option>\n\n'
        '  </optgroup>\n')
    assert Sample.objects.count() == 4
