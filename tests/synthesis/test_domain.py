"""Domain rules of the synthesis app, exercised through the services on a real database."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from labdb.lib.errors import DomainError
from labdb.lib.units import to_quantity
from synthesis import selectors, services
from synthesis.models import Chemical, RecipeAddition, RunStep, Sample, SampleParent
from tests.synthesis import builders

pytestmark = pytest.mark.django_db


def test_quantity_microlitres_converted_to_canonical_ml():
    q = to_quantity(140, "µL", field="amount", allowed=("volume",))
    assert (q.canonical, q.canonical_unit, q.dimension) == (pytest.approx(0.14), "mL", "volume")


def test_quantity_ramp_per_hour_converted_to_c_per_min():
    q = to_quantity(600, "degC/h", field="ramp", allowed=("temperature_rate",))
    assert q.canonical == pytest.approx(10.0)


def test_quantity_unknown_unit_rejected_naming_field():
    with pytest.raises(DomainError) as err:
        to_quantity(5, "furlongs/fortnightz", field="steps[1].ramp", allowed=("temperature_rate",))
    assert err.value.message == "steps[1].ramp: unknown unit 'furlongs/fortnightz'."


def test_recipe_step_incompatible_unit_rejected_naming_field():
    with pytest.raises(DomainError) as err:
        services.create_recipe(
            data={"slug": "bad", "name": "bad"},
            steps=[{"action": "heat", "setpoint_value": 240, "setpoint_unit": "mg"}],
        )
    assert err.value.message == (
        "steps[1].setpoint_unit: setpoint: unit 'mg' is a mass, expected temperature."
    )
    assert Chemical.objects.count() == 0


def test_addition_negative_amount_rejected_and_nothing_written():
    ode = builders.chemical()
    with pytest.raises(DomainError) as err:
        services.create_recipe(
            data={"slug": "neg", "name": "neg"},
            steps=[
                {
                    "action": "add",
                    "additions": [{"chemical": ode, "amount_value": -2, "amount_unit": "mL"}],
                }
            ],
        )
    assert "negative" in err.value.message
    assert err.value.field == "steps[1].additions[1].amount_value"
    from synthesis.models import Recipe

    assert Recipe.objects.count() == 0


def test_addition_negative_amount_blocked_by_database_constraint():
    recipe = builders.core_recipe()
    step = recipe.steps.get(position=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        RecipeAddition.objects.create(
            step=step, chemical=Chemical.objects.first(), amount_value=-1, amount_unit="mL"
        )


def test_canonical_values_filled_from_entered_units():
    recipe = builders.core_recipe()
    degas, heat, add, hold = recipe.steps.all()
    assert (degas.setpoint_c, degas.duration_s) == (90.0, 600.0)
    assert heat.ramp_c_per_min == 20.0
    assert (add.additions.get().amount_canonical, add.additions.get().amount_dimension) == (
        120.0,
        "mass",
    )
    assert hold.duration_s == 480.0


def test_injection_rates_and_conditions_stored():
    recipe = builders.shell_recipe()
    inject = recipe.steps.get(action="inject")
    assert (inject.injection_rate_ml_per_h, inject.injection_rate_after_switch_ml_per_h) == (
        10.0,
        4.0,
    )
    assert (inject.injection_start_c, inject.injection_switch_c) == (161.0, 240.0)
    thiol = inject.additions.get()
    assert thiol.amount_canonical == pytest.approx(0.14)
    equivalents = recipe.steps.get(position=1).additions.get()
    assert (
        equivalents.equivalents,
        equivalents.equivalents_basis,
        equivalents.recipe_input.name,
    ) == (1.0, "per Cd in the cores", "cores")


def test_duplicate_sample_code_rejected():
    builders.sample("NPL-1")
    with pytest.raises(DomainError) as err:
        builders.sample("NPL-1")
    assert err.value.message == "code: a sample with code 'NPL-1' exists already."


def test_recipe_revision_without_runs_edits_in_place():
    recipe = builders.core_recipe()
    revised = services.revise_recipe(
        recipe=recipe, expected_version=1, changes={"description": "clarified"}
    )
    assert (revised.pk, revised.version_number, revised.version, revised.description) == (
        recipe.pk,
        1,
        2,
        "clarified",
    )


def test_recipe_revision_after_run_creates_new_version_and_old_run_keeps_old():
    recipe = builders.core_recipe()
    run = services.record_synthesis_run(data={"code": "RUN-1"}, recipe=recipe)
    new_steps = services.recipe_as_data(recipe)[2]
    new_steps[3]["duration_value"] = 10
    revised = services.revise_recipe(
        recipe=recipe, expected_version=1, steps=new_steps, changes={"description": "hold 10 min"}
    )
    recipe.refresh_from_db()
    run.refresh_from_db()
    assert (revised.version_number, revised.previous_version_id, revised.is_current) == (
        2,
        recipe.pk,
        True,
    )
    assert (recipe.is_current, run.recipe_id) == (False, recipe.pk)
    assert revised.steps.get(position=4).duration_s == 600.0
    assert recipe.steps.get(position=4).duration_s == 480.0
    assert revised.steps.get(position=3).additions.get().amount_canonical == 120.0


def test_run_copies_steps_and_reports_deviations():
    recipe = builders.core_recipe()
    run = services.record_synthesis_run(
        data={"code": "RUN-2"},
        recipe=recipe,
        actual_steps={
            2: {"setpoint_value": 250, "deviation_note": "overshoot"},
            3: {"additions": [{"amount_value": 130}]},
        },
        products=[
            {
                "data": {"code": "NPL-A", "name": "A", "material": "CdSe", "morphology": "NPL"},
                "layers": [{"material": "CdSe", "role": "core", "thickness_ml": 4.5}],
            }
        ],
    )
    run = selectors.run_list().get(pk=run.pk)
    assert RunStep.objects.filter(run=run).count() == 4
    deviations = {
        (d["position"], d["field"]): (d["recipe_value"], d["actual_value"])
        for d in selectors.run_deviations(run)
    }
    assert deviations == {
        (2, "setpoint_c"): (240.0, 250.0),
        (3, "additions[1].amount_canonical"): (120.0, 130.0),
    }
    assert list(run.products.values_list("code", flat=True)) == ["NPL-A"]


def test_run_missing_recipe_input_rejected():
    recipe = builders.shell_recipe()
    with pytest.raises(DomainError) as err:
        services.record_synthesis_run(data={"code": "RUN-3"}, recipe=recipe, inputs={})
    assert err.value.field == "inputs"


def _chain():
    core = builders.sample("C", core_ml=4.5)
    crown = builders.sample("CC", parents=[{"parent": core, "process": "crown_growth"}])
    shell = builders.sample("CCS", parents=[{"parent": crown, "process": "shell_growth"}])
    aliquot = builders.sample("CCS-a", parents=[{"parent": shell, "process": "aliquot"}])
    return core, crown, shell, aliquot


def test_lineage_ancestors_and_descendants_with_depth():
    core, crown, shell, aliquot = _chain()
    lineage = selectors.sample_lineage(shell)
    assert [(s.code, d) for s, d in lineage["ancestors"]] == [("CC", 1), ("C", 2)]
    assert [(s.code, d) for s, d in lineage["descendants"]] == [("CCS-a", 1)]
    assert len(lineage["edges"]) == 3


def test_lineage_query_count_is_constant(django_assert_num_queries):
    _, _, shell, _ = _chain()
    with django_assert_num_queries(4):
        selectors.sample_lineage(shell)


def test_lineage_cycle_rejected():
    core, crown, shell, _ = _chain()
    with pytest.raises(DomainError) as err:
        services.add_parent(child=core, parent=shell, process="other")
    assert (
        err.value.message
        == "parents: CCS descends from C; linking it as a parent would make a cycle."
    )
    assert SampleParent.objects.count() == 3


def test_layer_thickness_must_be_positive():
    with pytest.raises(DomainError) as err:
        services.create_sample(
            data={"code": "X", "name": "X", "material": "CdSe", "morphology": "NPL"},
            layers=[{"material": "CdSe", "role": "core", "thickness_ml": -1}],
        )
    assert err.value.field.startswith("layers[1]")
    assert Sample.objects.filter(code="X").count() == 0


def test_flag_with_unknown_kind_rejected():
    sample = builders.sample("FLAG-1")
    with pytest.raises(DomainError) as err:
        services.flag_record(target=sample, kind="ambiguity", message="which batch?")
    assert err.value.field == "flag.kind"


def test_update_run_changes_steps_and_additions_and_keeps_recipe():
    recipe = builders.core_recipe()
    run = services.record_synthesis_run(data={"code": "RUN-U1"}, recipe=recipe)
    updated = services.update_run(
        run=run,
        expected_version=1,
        changes={"observations": "turbid after 5 min"},
        steps={4: {"duration_value": 12, "deviation_note": "slow"},
               3: {"additions": [{"amount_value": 130, "amount_unit": "mg"}]}},
    )
    step4 = updated.steps.get(position=4)
    assert (updated.version, updated.observations, updated.recipe_id) == (
        2, "turbid after 5 min", recipe.pk)
    assert (step4.duration_s, step4.deviation_note) == (720.0, "slow")
    assert updated.steps.get(position=3).additions.get().amount_canonical == 130.0


def test_update_run_refuses_recipe_change_and_stale_version():
    from labdb.lib.errors import ConflictError

    recipe = builders.core_recipe()
    run = services.record_synthesis_run(data={"code": "RUN-U2"}, recipe=recipe)
    with pytest.raises(DomainError) as err:
        services.update_run(run=run, expected_version=1, changes={"recipe": recipe})
    assert err.value.message == "recipe: cannot be changed after the run was recorded."
    services.update_run(run=run, expected_version=1, changes={"observations": "a"})
    with pytest.raises(ConflictError) as conflict:
        services.update_run(run=run, expected_version=1, changes={"observations": "b"})
    assert conflict.value.current_version == 2


def test_update_run_bad_unit_names_step_and_writes_nothing():
    recipe = builders.core_recipe()
    run = services.record_synthesis_run(data={"code": "RUN-U3"}, recipe=recipe)
    with pytest.raises(DomainError) as err:
        services.update_run(run=run, expected_version=1, changes={"observations": "x"},
                            steps={2: {"ramp_unit": "mL"}})
    assert (err.value.field, err.value.message) == (
        "steps[2].ramp_unit",
        "steps[2].ramp_unit: ramp: unit 'mL' is a volume, expected temperature rate.")
    run.refresh_from_db()
    assert (run.version, run.observations, run.steps.get(position=2).ramp_unit) == (
        1, "", "degC/min")


def test_update_run_sets_products_one_run_per_sample():
    recipe = builders.core_recipe()
    first = services.record_synthesis_run(data={"code": "RUN-P1"}, recipe=recipe)
    second = services.record_synthesis_run(data={"code": "RUN-P2"}, recipe=recipe)
    sample = builders.sample("NPL-P")
    services.update_run(run=first, expected_version=1, changes={}, products=[sample])
    sample.refresh_from_db()
    assert sample.produced_by_id == first.pk
    with pytest.raises(DomainError) as err:
        services.update_run(run=second, expected_version=1, changes={}, products=[sample])
    assert err.value.message == (
        "products: NPL-P was produced by run RUN-P1; a sample comes from one run.")
    services.update_run(run=first, expected_version=2, changes={}, products=[])
    sample.refresh_from_db()
    assert sample.produced_by_id is None


def test_update_stock_solution_replaces_components_and_chemical_update_checks_version():
    from labdb.lib.errors import ConflictError

    se = builders.chemical("selenium")
    stock = services.create_stock_solution(
        data={"code": "se-ode", "name": "Se in ODE"},
        components=[{"chemical": se, "amount_value": 7.9, "amount_unit": "mg"}])
    updated = services.update_stock_solution(
        stock=stock, expected_version=1, changes={"name": "Se in ODE 0.1 M"},
        components=[{"chemical": se, "amount_value": 15.8, "amount_unit": "mg"}])
    assert (updated.name, [c.amount_canonical for c in updated.components.all()]) == (
        "Se in ODE 0.1 M", [15.8])
    services.update_chemical(chemical=se, expected_version=1, changes={"formula": "Se"})
    with pytest.raises(ConflictError):
        services.update_chemical(chemical=se, expected_version=1, changes={"formula": "Se8"})
