"""Log a synthesis run: prefilled from the recipe, deviations recorded, errors beside fields."""

from __future__ import annotations

import pytest

from synthesis.models import RunStep, Sample, SynthesisRun
from tests.synthesis import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def recipe(member):
    return builders.core_recipe(actor=member)


def _form_data(recipe, **overrides) -> dict:
    """What the browser posts when nothing is changed (the prefilled recipe values)."""
    data = {"code": "RUN-7", "started_at": "2025-02-03T10:15", "operator_name": "",
            "observations": "", "products-TOTAL_FORMS": "1", "products-INITIAL_FORMS": "0",
            "products-MIN_NUM_FORMS": "0", "products-MAX_NUM_FORMS": "20",
            "products-0-code": "NPL-NEW-1", "products-0-name": "new cores",
            "products-0-material": "CdSe", "products-0-morphology": "NPL",
            "products-0-crystal_phase": "ZB", "products-0-process": "other",
            "products-0-layer1_role": "core", "products-0-layer1_material": "CdSe",
            "products-0-layer1_thickness_ml": "4.5"}
    for step in recipe.steps.all():
        p = f"step{step.position}-"
        for q in ("setpoint", "ramp", "duration", "injection_rate"):
            value = getattr(step, f"{q}_value")
            data[f"{p}{q}_value"] = "" if value is None else f"{value:g}"
            data[f"{p}{q}_unit"] = getattr(step, f"{q}_unit")
        data[f"{p}atmosphere"] = step.atmosphere
        for i, a in enumerate(step.additions.all(), start=1):
            amount = a.amount_value
            data[f"{p}add{i}_amount_value"] = "" if amount is None else f"{amount:g}"
            data[f"{p}add{i}_amount_unit"] = a.amount_unit
            data[f"{p}add{i}_equivalents"] = "" if a.equivalents is None else f"{a.equivalents:g}"
        data[f"{p}deviation_note"] = ""
    data.update(overrides)
    return data


def test_run_new_without_recipe_lists_recipes(web, recipe):
    html = web.get("/runs/new/").content.decode()
    assert '<label for="recipe">Recipe</label>' in html
    assert f'<option value="{recipe.pk}">4.5 ML CdSe NPL (v1)</option>' in html


def test_run_new_prefills_steps_and_amounts_from_the_recipe(web, recipe):
    html = web.get(f"/runs/new/?recipe={recipe.pk}").content.decode()
    assert 'name="step2-setpoint_value" value="240"' in html
    assert 'name="step2-ramp_unit" value="degC/min"' in html
    assert 'name="step3-add1_amount_value" value="120"' in html
    assert '<label for="id_step3-add1_amount_value">Amount of cadmium acetate dihydrate' in html
    assert '<label for="id_step2-deviation_note">Deviation note</label>' in html


def test_run_new_records_run_with_deviation_and_product(web, recipe, member):
    data = _form_data(recipe, **{"step2-setpoint_value": "245",
                                 "step2-deviation_note": "overshoot by 5 °C"})
    response = web.post(f"/runs/new/?recipe={recipe.pk}", data)
    run = SynthesisRun.objects.get(code="RUN-7")
    assert response.status_code == 302
    assert response["Location"] == f"/runs/{run.pk}/"
    step = RunStep.objects.get(run=run, position=2)
    assert (step.setpoint_value, step.setpoint_c, step.deviation_note) == (
        245.0, 245.0, "overshoot by 5 °C")
    unchanged = RunStep.objects.get(run=run, position=1)
    assert (unchanged.setpoint_value, unchanged.deviation_note) == (90.0, "")
    product = Sample.objects.get(code="NPL-NEW-1")
    assert (product.produced_by_id, product.owner_id) == (run.pk, member.pk)
    assert [(x.role, x.material, x.thickness_ml) for x in product.layers.all()] == [
        ("core", "CdSe", 4.5)]
    page = web.get(f"/runs/{run.pk}/").content.decode()
    assert "overshoot by 5 °C" in page
    assert '<td class="deviation">set point 240 → 245 °C</td><td>overshoot by 5 °C</td>' in page
    assert "NPL-NEW-1" in page


def test_run_new_changed_amount_is_a_deviation(web, recipe):
    data = _form_data(recipe, **{"step3-add1_amount_value": "130"})
    web.post(f"/runs/new/?recipe={recipe.pk}", data)
    step = RunStep.objects.get(run__code="RUN-7", position=3)
    assert step.additions.get().amount_value == 130.0


def test_run_new_unknown_unit_error_is_shown_beside_the_unit_field(web, recipe):
    data = _form_data(recipe, **{"step2-setpoint_unit": "degF/s"})
    response = web.post(f"/runs/new/?recipe={recipe.pk}", data)
    html = response.content.decode()
    assert response.status_code == 400
    assert SynthesisRun.objects.count() == 0
    error = html.split('id="id_step2-setpoint_unit_error">', 1)[1].split("</p>", 1)[0]
    assert "degF/s" in error
    assert "temperature" in error


def test_run_new_duplicate_product_code_is_shown_beside_product_code(web, recipe, member):
    builders.sample("NPL-NEW-1", actor=member)
    response = web.post(f"/runs/new/?recipe={recipe.pk}", _form_data(recipe))
    html = response.content.decode()
    assert response.status_code == 400
    assert ('<p class="field-error" id="id_products-0-code_error"><span aria-hidden="true">✗'
            "</span> a sample with code &#x27;NPL-NEW-1&#x27; exists already.</p>") in html


def test_run_new_duplicate_run_code_is_shown_beside_run_code(web, recipe):
    web.post(f"/runs/new/?recipe={recipe.pk}", _form_data(recipe))
    html = web.post(f"/runs/new/?recipe={recipe.pk}",
                    _form_data(recipe, **{"products-0-code": "OTHER"})).content.decode()
    assert 'id="id_code_error"' in html
    assert SynthesisRun.objects.count() == 1


def test_run_new_missing_required_fields_are_marked(web, recipe):
    html = web.post(f"/runs/new/?recipe={recipe.pk}",
                    _form_data(recipe, code="", **{"products-0-name": ""})).content.decode()
    assert 'id="id_code_error"' in html
    assert 'id="id_products-0-name_error"' in html


def test_run_new_requires_a_sample_for_each_recipe_input(web, member):
    recipe = builders.shell_recipe(actor=member)
    core = builders.sample("CORE-1", actor=member, core_ml=4.5)
    data = _form_data(recipe, **{"products-0-process": "shell_growth"})
    html = web.post(f"/runs/new/?recipe={recipe.pk}", data).content.decode()
    assert 'id="id_input_cores_error"' in html
    data["input_cores"] = str(core.pk)
    response = web.post(f"/runs/new/?recipe={recipe.pk}", data)
    assert response.status_code == 302
    product = Sample.objects.get(code="NPL-NEW-1")
    assert [link.parent.code for link in product.parent_links.all()] == ["CORE-1"]


def test_run_new_add_product_button_adds_a_form_and_keeps_input(web, recipe):
    data = _form_data(recipe, add_product="1")
    html = web.post(f"/runs/new/?recipe={recipe.pk}", data).content.decode()
    assert 'name="products-1-code"' in html
    assert 'value="NPL-NEW-1"' in html
    assert SynthesisRun.objects.count() == 0


def test_run_new_unknown_recipe_is_404(web, db):
    assert web.get("/runs/new/?recipe=99999").status_code == 404


def test_run_new_two_stage_injection_rate_after_switch_is_editable(web, member):
    recipe = builders.shell_recipe(actor=member)
    cores = builders.sample("NPL-CORE-1", actor=member, core_ml=4.5)
    html = web.get(f"/runs/new/?recipe={recipe.pk}").content.decode()
    assert 'name="step2-injection_rate_after_switch_value" value="4"' in html
    data = _form_data(recipe, input_cores=str(cores.pk), **{
        "step2-injection_rate_after_switch_value": "3",
        "step2-injection_rate_after_switch_unit": "mL/h"})
    for step in recipe.steps.all():
        value = step.injection_rate_after_switch_value
        data.setdefault(f"step{step.position}-injection_rate_after_switch_value",
                        "" if value is None else f"{value:g}")
        data.setdefault(f"step{step.position}-injection_rate_after_switch_unit",
                        step.injection_rate_after_switch_unit)
    response = web.post(f"/runs/new/?recipe={recipe.pk}", data)
    run = SynthesisRun.objects.get(code="RUN-7")
    assert response.status_code == 302
    assert run.steps.get(position=2).injection_rate_after_switch_ml_per_h == 3
    page = web.get(f"/runs/{run.pk}/").content.decode()
    assert '<td class="deviation">injection after the switch 4 → 3 mL/h</td>' in page
