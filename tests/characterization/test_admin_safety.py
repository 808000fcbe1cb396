"""Curators' admin for XAS fits: paths are never hard-deleted, a revert restores them, flags."""

from __future__ import annotations

import pytest
from django.forms import MultiWidget

from characterization.models import XASFit, XASPath
from characterization.services import record_xas_fit
from synthesis import services
from tests.synthesis import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, curator):
    curator.is_staff = True
    curator.save()  # a curator by group membership, not a superuser
    client.force_login(curator)
    return client


@pytest.fixture
def fit(member):
    sample = builders.sample("NPL-XAS", actor=member, core_ml=4.5)
    return record_xas_fit(
        sample=sample,
        actor=member,
        data={"absorber": "Cd", "edge_name": "K", "source": "published", "citation": "Table 2"},
        paths=[
            {"absorber": "Cd", "scatterer": "Se", "n": 3.2, "n_err": 0.4, "r_a": 2.62},
            {"absorber": "Cd", "scatterer": "O", "n": 0.9, "n_err": 0.3, "r_a": 2.25},
        ],
    )


def _form_fields(form, prefix: str = "") -> dict:
    """The POST data a browser would send for an unchanged Django form."""
    data = {}
    for name, field in form.fields.items():
        key = f"{prefix}{name}"
        value = form[name].value()
        if isinstance(field.widget, MultiWidget):
            parts = field.widget.decompress(value)
            for i, part in enumerate(parts):
                data[f"{key}_{i}"] = "" if part is None else str(part)
        elif isinstance(value, bool):
            if value:
                data[key] = "on"
        elif isinstance(value, list | tuple):
            data[key] = [str(v) for v in value]
        else:
            data[key] = "" if value is None else str(value)
    return data


def _change_form_data(response) -> dict:
    """Main form plus every inline formset (management forms included) of an admin page."""
    data = _form_fields(response.context["adminform"].form)
    for inline in response.context.get("inline_admin_formsets", []):
        formset = inline.formset
        data.update(_form_fields(formset.management_form, f"{formset.prefix}-"))
        for form in formset.forms:
            data.update(_form_fields(form, f"{form.prefix}-"))
    return data


def _paths(fit) -> list[tuple]:
    return [(p.position, p.scatterer, p.n, p.r_a) for p in XASPath.objects.filter(fit=fit)]


def test_fit_paths_inline_offers_no_delete_and_ignores_a_forged_one(admin_client, fit):
    url = f"/admin/characterization/xasfit/{fit.pk}/change/"
    page = admin_client.get(url)
    html = page.content.decode()
    assert 'name="paths-0-scatterer"' in html
    assert "paths-0-DELETE" not in html
    data = _change_form_data(page)
    data["paths-0-DELETE"] = "on"
    assert admin_client.post(url, data).status_code == 302
    assert _paths(fit) == [(1, "Se", 3.2, 2.62), (2, "O", 0.9, 2.25)]


def test_history_revert_of_a_fit_restores_its_paths(admin_client, fit, curator):
    url = f"/admin/characterization/xasfit/{fit.pk}/change/"
    data = _change_form_data(admin_client.get(url))
    data.update({"notes": "refined by hand", "paths-0-n": "4.1", "paths-1-r_a": "2.31"})
    data.update({"paths-TOTAL_FORMS": "3", "paths-2-position": "3", "paths-2-absorber": "Cd",
                 "paths-2-scatterer": "S", "paths-2-n": "1.0", "paths-2-as_printed": "{}"})
    edited = admin_client.post(url, data)
    assert edited.status_code == 302, edited.context["errors"] if edited.context else ""
    assert _paths(fit) == [(1, "Se", 4.1, 2.62), (2, "O", 0.9, 2.31), (3, "S", 1.0, None)]
    first = fit.history.earliest()
    history_url = f"/admin/characterization/xasfit/{fit.pk}/history/{first.history_id}/"
    revert = admin_client.post(history_url, _form_fields(
        admin_client.get(history_url).context["adminform"].form))
    assert revert.status_code == 302
    fit.refresh_from_db()
    assert (fit.notes, fit.version) == ("", 3)
    assert _paths(fit) == [(1, "Se", 3.2, 2.62), (2, "O", 0.9, 2.25)]
    restored = XASPath.history.filter(fit_id=fit.pk).latest()
    assert (restored.history_type, restored.history_user) == ("+", curator)


def test_fit_admin_lists_its_flags_and_the_flag_links_back(admin_client, fit):
    flag = services.flag_record(target=fit, kind="inconsistency", location="Table 3",
                                message="N = 4.108 ± 4.681 against the text's 4.68")
    page = admin_client.get(f"/admin/characterization/xasfit/{fit.pk}/change/").content.decode()
    assert "N = 4.108 ± 4.681 against the text&#x27;s 4.68" in page
    assert f"/admin/synthesis/dataflag/{flag.pk}/change/" in page
    flag_page = admin_client.get(f"/admin/synthesis/dataflag/{flag.pk}/change/").content.decode()
    assert f'href="/admin/characterization/xasfit/{fit.pk}/change/">XAS fit: {fit}</a>' in (
        flag_page.replace("&gt;", ">"))


def test_staff_who_is_not_a_curator_cannot_touch_fits(client, fit):
    from django.contrib.auth.models import Permission, User

    staff = User.objects.create_user("erin", password="pw-erin-123", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="characterization"))
    client.force_login(staff)
    assert client.get(f"/admin/characterization/xasfit/{fit.pk}/change/").status_code == 403
    first = fit.history.earliest()
    assert client.post(
        f"/admin/characterization/xasfit/{fit.pk}/history/{first.history_id}/", {}
    ).status_code == 403
    assert XASFit.objects.get(pk=fit.pk).version == 1
