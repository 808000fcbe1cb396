"""Recipes written in the web UI: from scratch (inputs, ordered steps, a two-stage injection,
additions as amounts or equivalents), edited in place while unused, revised to v+1 once used."""

from __future__ import annotations

import pytest

from synthesis import services
from synthesis.models import Recipe, RecipeAddition, RecipeStep
from tests.synthesis import builders
from tests.web.test_records_samples import _client, _management

pytestmark = pytest.mark.django_db


def _recipe_post(steps: list[dict], **overrides) -> dict:
    data = {"name": "CdSe/CdZnS gradient shell (web)", "slug": "", "description": "",
            "product_description": "CdSe/CdZnS core/shell NPL", "citation": "SI §1.6",
            **_management("inputs", 1), "inputs-0-name": "cores",
            "inputs-0-description": "CdSe NPL cores", **_management("steps", len(steps))}
    for index, step in enumerate(steps):
        data[f"steps-{index}-addition_rows"] = "2"
        for key, value in step.items():
            data[f"steps-{index}-{key}"] = value
    data.update(overrides)
    return data


@pytest.fixture
def thiol(member):
    return builders.chemical("octane-1-thiol", actor=member)


def _shell_steps(thiol) -> list[dict]:
    return [
        {"action": "add", "add1_input": "cores", "add1_equivalents": "1",
         "add1_equivalents_basis": "per Cd in the cores"},
        {"action": "heat", "setpoint_value": "300", "setpoint_unit": "°C", "ramp_value": "20",
         "ramp_unit": "°C/min", "atmosphere": "argon"},
        {"action": "inject", "injection_rate_value": "10", "injection_rate_unit": "mL/h",
         "injection_start_condition": "from ~161 °C",
         "injection_switch_condition": "when 240 °C is reached",
         "injection_rate_after_switch_value": "4", "injection_rate_after_switch_unit": "mL/h",
         "injection_stop_condition": "after 2 h", "add1_component": f"chemical:{thiol.pk}",
         "add1_amount_value": "140", "add1_amount_unit": "µL"},
        {"action": "hold", "duration_value": "45", "duration_unit": "min"},
    ]


def test_recipe_new_from_scratch_with_two_stage_injection(member, thiol):
    response = _client(member).post("/recipes/new/", _recipe_post(_shell_steps(thiol)))
    recipe = Recipe.objects.get(slug="cdsecdzns-gradient-shell-web")
    assert (response.status_code, response["Location"]) == (302, f"/recipes/{recipe.pk}/")
    assert (recipe.version_number, recipe.owner, recipe.citation) == (1, member, "SI §1.6")
    assert list(recipe.inputs.values_list("name", "description")) == [("cores", "CdSe NPL cores")]
    steps = list(recipe.steps.order_by("position"))
    assert [(s.position, s.action) for s in steps] == [(1, "add"), (2, "heat"), (3, "inject"),
                                                       (4, "hold")]
    assert (steps[1].setpoint_c, steps[1].ramp_c_per_min, steps[1].atmosphere) == (
        300, 20, "argon")
    inject = steps[2]
    assert (inject.injection_rate_ml_per_h, inject.injection_rate_after_switch_ml_per_h) == (
        10, 4)
    assert (inject.injection_start_condition, inject.injection_switch_condition,
            inject.injection_stop_condition) == ("from ~161 °C", "when 240 °C is reached",
                                                 "after 2 h")
    thiol_added = inject.additions.get()
    assert (thiol_added.chemical, thiol_added.amount_canonical) == (thiol, 0.14)
    cores = steps[0].additions.get()
    assert (cores.recipe_input.name, cores.equivalents, cores.equivalents_basis) == (
        "cores", 1, "per Cd in the cores")
    assert steps[3].duration_s == 2700
    html = _client(member).get(f"/recipes/{recipe.pk}/").content.decode()
    assert ("inject from ~161 °C at 10 mL/h until when 240 °C is reached, then 4 mL/h until "
            "after 2 h") in html
    assert f'<a class="button" href="/recipes/{recipe.pk}/edit/">Edit</a>' in html


def test_recipe_bad_unit_lands_beside_that_steps_unit_and_nothing_written(member, thiol):
    steps = _shell_steps(thiol)
    steps[1]["ramp_unit"] = "mL"
    response = _client(member).post("/recipes/new/", _recipe_post(steps))
    html = response.content.decode()
    assert response.status_code == 400
    assert ('<p class="field-error" id="id_steps-1-ramp_unit_error"><span aria-hidden="true">✗'
            "</span> ramp: unit &#x27;mL&#x27; is a volume, expected temperature rate.</p>"
            ) in html
    assert 'name="steps-2-injection_stop_condition" value="after 2 h"' in html
    assert Recipe.objects.count() == 0
    assert RecipeStep.objects.count() == 0


def test_recipe_addition_error_lands_beside_that_addition(member, thiol):
    steps = _shell_steps(thiol)
    steps[2]["add1_amount_unit"] = "blorg"
    response = _client(member).post("/recipes/new/", _recipe_post(steps))
    html = response.content.decode()
    assert response.status_code == 400
    assert ('id="id_steps-2-add1_amount_unit_error"><span aria-hidden="true">✗</span> '
            "amount: unknown unit &#x27;blorg&#x27;.</p>") in html
    assert Recipe.objects.count() == 0


def test_recipe_unknown_input_name_lands_beside_it(member, thiol):
    steps = _shell_steps(thiol)
    steps[0]["add1_input"] = "shells"
    html = _client(member).post("/recipes/new/", _recipe_post(steps)).content.decode()
    assert ('id="id_steps-0-add1_input_error"><span aria-hidden="true">✗</span> the recipe has '
            "no input named &#x27;shells&#x27; (inputs: cores).</p>") in html


def test_recipe_add_step_button_adds_a_row(member, thiol):
    response = _client(member).post("/recipes/new/", _recipe_post(_shell_steps(thiol),
                                                                  add_row="steps"))
    html = response.content.decode()
    assert 'name="steps-TOTAL_FORMS" value="5"' in html
    assert 'name="steps-4-action"' in html
    assert Recipe.objects.count() == 0


def _edit_post(recipe, **overrides) -> dict:
    html_steps = []
    for step in recipe.steps.order_by("position"):
        item = {"action": step.action, "source": str(step.pk), "atmosphere": step.atmosphere,
                "description": step.description}
        for q in ("setpoint", "ramp", "duration"):
            value = getattr(step, f"{q}_value")
            item[f"{q}_value"] = "" if value is None else f"{value:g}"
            item[f"{q}_unit"] = getattr(step, f"{q}_unit")
        for j, a in enumerate(step.additions.all(), start=1):
            item[f"add{j}_component"] = f"chemical:{a.chemical_id}"
            item[f"add{j}_source"] = str(a.pk)
            item[f"add{j}_amount_value"] = f"{a.amount_value:g}"
            item[f"add{j}_amount_unit"] = a.amount_unit
        html_steps.append(item)
    data = _recipe_post(html_steps, name=recipe.name, citation=recipe.citation,
                        product_description="", version=str(recipe.version),
                        **_management("steps", len(html_steps), len(html_steps)))
    for key in [k for k in data if k.startswith("inputs-") or k == "slug"]:
        del data[key]
    data.update(overrides)
    return data


def test_recipe_edit_without_runs_changes_it_in_place(member):
    recipe = builders.core_recipe(actor=member)
    response = _client(member).post(f"/recipes/{recipe.pk}/edit/", _edit_post(
        recipe, **{"steps-3-duration_value": "10"}))
    recipe.refresh_from_db()
    assert (response.status_code, response["Location"]) == (302, f"/recipes/{recipe.pk}/")
    assert (recipe.version_number, recipe.version) == (1, 2)
    assert recipe.steps.get(position=4).duration_s == 600
    assert recipe.steps.get(position=3).description == "at ~190-200 °C"


def test_recipe_edit_after_a_run_creates_next_version_old_run_keeps_v1(member):
    recipe = builders.core_recipe(actor=member)
    # a value the form does not show is carried over from the step it was copied from
    RecipeAddition.objects.filter(step__recipe=recipe, step__position=3).update(
        at_temperature_c=195)
    run = services.record_synthesis_run(data={"code": "RUN-V1"}, recipe=recipe, actor=member)
    response = _client(member).post(f"/recipes/{recipe.pk}/edit/", _edit_post(
        recipe, **{"steps-1-setpoint_value": "250"}))
    new = Recipe.objects.get(slug=recipe.slug, is_current=True)
    assert (response.status_code, response["Location"]) == (302, f"/recipes/{new.pk}/")
    assert (new.version_number, new.previous_version_id) == (2, recipe.pk)
    assert new.steps.get(position=2).setpoint_c == 250
    assert new.steps.get(position=3).additions.get().at_temperature_c == 195
    assert new.steps.get(position=3).description == "at ~190-200 °C"
    run.refresh_from_db()
    assert run.recipe_id == recipe.pk
    assert recipe.steps.get(position=2).setpoint_c == 240


def test_recipe_edit_page_warns_that_a_used_version_is_kept(member):
    recipe = builders.core_recipe(actor=member)
    services.record_synthesis_run(data={"code": "RUN-V1"}, recipe=recipe, actor=member)
    html = _client(member).get(f"/recipes/{recipe.pk}/edit/").content.decode()
    assert ("Version 1 was followed by 1 run(s): saving creates version 2; those runs keep "
            "version 1.") in html


def test_recipe_stale_edit_refused(member, curator):
    recipe = builders.core_recipe(actor=member)
    stale = _edit_post(recipe, name="mine")
    _client(curator).post(f"/recipes/{recipe.pk}/edit/", _edit_post(recipe, name="carol's"))
    response = _client(member).post(f"/recipes/{recipe.pk}/edit/", stale)
    assert response.status_code == 409
    assert ("✗ Recipe carol&#x27;s (v1) was changed by carol since you opened it — reload."
            ) in response.content.decode()
    recipe.refresh_from_db()
    assert recipe.name == "carol's"


def test_recipe_edit_forbidden_for_other_member(other_member, member):
    recipe = builders.core_recipe(actor=member)
    client = _client(other_member)
    page = client.get(f"/recipes/{recipe.pk}/").content.decode()
    assert f'href="/recipes/{recipe.pk}/edit/"' not in page
    assert client.post(f"/recipes/{recipe.pk}/edit/", _edit_post(recipe, name="x")).status_code \
        == 403
    assert client.post(f"/retire/recipe/{recipe.pk}/", {"reason": "x"}).status_code == 403


def test_recipe_copy_prefills_a_new_recipe(member):
    recipe = builders.core_recipe(actor=member)
    html = _client(member).get(f"/recipes/new/?copy={recipe.pk}").content.decode()
    assert 'name="name" value="4.5 ML CdSe NPL (copy)"' in html
    assert 'name="steps-1-setpoint_value" value="240"' in html


def test_recipe_retire_hides_it_from_lists(member):
    recipe = builders.core_recipe(actor=member)
    client = _client(member)
    response = client.post(f"/retire/recipe/{recipe.pk}/", {"reason": "superseded by paper"})
    assert (response.status_code, response["Location"]) == (302, "/recipes/")
    assert f'href="/recipes/{recipe.pk}/"' not in client.get("/recipes/").content.decode()
    assert f'value="{recipe.pk}"' not in client.get("/runs/new/").content.decode()
