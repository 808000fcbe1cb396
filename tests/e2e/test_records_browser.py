"""Records written in a real browser: a sample with a layer and a parent, then edited; a stale
edit from two pages; a recipe from scratch with a two-stage injection, then a run of it.

Against ``app_server`` (the server ``make run`` starts, demo data loaded); every record gets a
unique name because the browser tests of the session share one database.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.e2e.test_browser import assert_every_field_labelled, unique

pytestmark = pytest.mark.browser


def _new_sample(page, code: str, *, material="CdSe/CdS") -> None:
    page.get_by_role("link", name="New sample", exact=True).click()
    expect(page.get_by_role("heading", name="New sample", level=1)).to_be_visible()
    page.get_by_label("Code").fill(code)
    page.locator("#id_name").fill(f"{code} browser test")
    page.locator("#id_material").fill(material)
    page.get_by_label("Morphology").select_option("NPL")


def test_sample_with_layer_and_parent_then_edit(member_page, app_server):
    page = member_page
    code = unique("CS-E2E")
    _new_sample(page, code)
    assert_every_field_labelled(page)
    page.locator("#id_layers-0-role").select_option("core")
    page.locator("#id_layers-0-material").fill("CdSe")
    page.locator("#id_layers-0-thickness_value").fill("4.5")
    page.locator("#id_layers-0-thickness_unit").select_option("ML")
    page.locator("#id_layers-1-role").select_option("shell")
    page.locator("#id_layers-1-material").fill("CdS")
    page.locator("#id_layers-1-thickness_value").fill("1.2")
    page.locator("#id_layers-1-thickness_unit").select_option("nm")
    parents = page.locator("#parents")
    parents.get_by_label("Type to filter the list below").fill("CdSe-4.5ML")
    assert parents.locator("#id_parents-0-parent option:not([hidden])").filter(
        has_text=re.compile("^NPL-CdSe-4.5ML$")).count() == 1
    page.locator("#id_parents-0-parent").select_option(label="NPL-CdSe-4.5ML")
    page.locator("#id_parents-0-process").select_option("shell_growth")
    shot(page, "sample-new")
    page.get_by_role("button", name="Save").click()
    assert code in page.locator("h1").inner_text()
    assert f"Sample {code} created." in page.locator(".messages").inner_text()
    stack = page.locator("#layers").inner_text()
    assert "CdSe 4.5 ML" in stack and "CdS" in stack and "(1.2 nm)" in stack
    assert page.locator("#lineage").get_by_role("link", name="NPL-CdSe-4.5ML").count() == 1
    page.locator(".record-actions").get_by_role("link", name="Edit").click()
    assert page.locator("#id_layers-1-thickness_value").input_value() == "1.2"
    page.get_by_label("Storage conditions").fill("hexane, 4 °C, dark")
    page.locator("#id_name").fill(f"{code} after edit")
    page.get_by_role("button", name="Save").click()
    assert f"{code} after edit" in page.locator("h1").inner_text()
    assert "hexane, 4 °C, dark" in page.inner_text("#h-about + dl")


def test_stale_edit_from_two_pages_shows_the_conflict(member_page, curator_page, app_server):
    code = unique("NPL-E2E-STALE")
    _new_sample(member_page, code, material="CdSe")
    member_page.get_by_role("button", name="Save").click()
    sample_url = member_page.url
    # the member opens the edit form at version 1
    member_page.locator(".record-actions").get_by_role("link", name="Edit").click()
    curator_page.goto(sample_url)
    curator_page.locator(".record-actions").get_by_role("link", name="Edit").click()
    curator_page.locator("#id_name").fill("name set by the curator")
    curator_page.get_by_role("button", name="Save").click()
    assert "name set by the curator" in curator_page.locator("h1").inner_text()
    member_page.locator("#id_name").fill("name set by the member")
    member_page.get_by_role("button", name="Save").click()
    alert = member_page.locator("#conflict")
    assert (f"Sample {code} was changed by curator since you opened it — reload."
            in alert.inner_text())
    assert "name set by the curator" in alert.locator("table").inner_text()
    assert member_page.locator("#id_name").input_value() == "name set by the member"
    shot(member_page, "edit-conflict")
    member_page.goto(sample_url)
    assert "name set by the curator" in member_page.locator("h1").inner_text()


def test_recipe_from_scratch_with_two_stage_injection_then_a_run(member_page, app_server):
    page = member_page
    name, run_code, product = unique("E2E shell"), unique("RUN-E2E-INJ"), unique("NPL-E2E-INJ")
    page.get_by_role("link", name="New recipe", exact=True).click()
    page.locator("#id_name").fill(name)
    page.get_by_label("Product description").fill("CdSe/CdZnS core/shell NPL")
    page.locator("#id_steps-0-action").select_option("heat")
    page.locator("#id_steps-0-setpoint_value").fill("300")
    page.locator("#id_steps-0-setpoint_unit").fill("°C")
    page.locator("#id_steps-0-ramp_value").fill("20")
    page.locator("#id_steps-0-ramp_unit").fill("°C/min")
    page.locator("#id_steps-0-atmosphere").select_option("argon")
    page.get_by_role("button", name="+ Add a step").click()
    assert page.locator("#id_steps-0-setpoint_value").input_value() == "300"
    page.locator("#id_steps-1-action").select_option("inject")
    page.locator("#id_steps-1-injection_rate_value").fill("10")
    page.locator("#id_steps-1-injection_rate_unit").fill("mL/h")
    page.locator("#id_steps-1-injection_start_condition").fill("from ~161 °C")
    page.locator("#id_steps-1-injection_switch_condition").fill("when 240 °C is reached")
    page.locator("#id_steps-1-injection_rate_after_switch_value").fill("4")
    page.locator("#id_steps-1-injection_rate_after_switch_unit").fill("mL/h")
    page.locator("#id_steps-1-injection_stop_condition").fill("after 2 h")
    page.locator("#id_steps-1-add1_component").select_option(label="1-octadecene")
    page.locator("#id_steps-1-add1_amount_value").fill("1")
    page.locator("#id_steps-1-add1_amount_unit").fill("mL")
    assert_every_field_labelled(page)
    shot(page, "recipe-new", full_page=True)
    page.get_by_role("button", name="Save recipe").click()
    assert name in page.locator("h1").inner_text()
    steps = page.locator("#h-steps + ol").inner_text()
    assert ("inject from ~161 °C at 10 mL/h until when 240 °C is reached, then 4 mL/h until "
            "after 2 h") in steps
    assert "1-octadecene: 1 mL" in steps
    page.get_by_role("link", name="Log a run of this recipe").click()
    page.get_by_label("Run code").fill(run_code)
    page.locator("#id_step2-injection_rate_after_switch_value").fill("3")
    page.locator("#id_step2-deviation_note").fill("slower second stage: thiol ran short")
    page.get_by_label("Sample code").fill(product)
    page.locator("#id_products-0-name").fill("E2E core/shell")
    page.locator("#id_products-0-material").fill("CdSe/CdZnS")
    page.get_by_role("button", name="Record run").click()
    expect(page.get_by_role("heading", name=f"Run {run_code}")).to_be_visible()
    deviations = page.locator("section", has=page.get_by_role("heading", name="Deviations"))
    assert "injection after the switch 4 → 3 mL/h" in deviations.inner_text()
    assert "thiol ran short" in deviations.inner_text()
    shot(page, "run-two-stage", full_page=True)
