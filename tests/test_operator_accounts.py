"""Operator accounts: the curators group exists after migrate; create_curator / create_member;
a curator changes a sample through /admin/, a member cannot open /admin/."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from synthesis.models import Sample
from tests.synthesis.builders import sample

pytestmark = pytest.mark.django_db


class _FormValues(HTMLParser):
    """The values a browser would submit from the admin change form (id="sample_form")."""

    def __init__(self):
        super().__init__()
        self.values: list[tuple[str, str]] = []
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == "sample_form":
            self._in_form = True
        if not self._in_form:
            return
        if tag == "option" and self._select and "selected" in a:
            self.values.append((self._select, a.get("value") or ""))
        if "name" not in a:
            return
        if tag == "input" and a.get("type") not in {"submit", "button", "file"}:
            if a.get("type") in {"checkbox", "radio"} and "checked" not in a:
                return
            self.values.append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values.append((a["name"], ""))

    def handle_data(self, data):
        if self._textarea:
            name, _ = self.values[-1]
            self.values[-1] = (name, data.lstrip("\n"))

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _password_file(tmp_path, password="Curator-pw-2026!"):
    path = tmp_path / "pw"
    path.write_text(password + "\n")
    return str(path)


def test_fresh_migrate_has_curators_group_with_view_add_change_no_delete():
    group = Group.objects.get(name="curators")
    codenames = set(group.permissions.values_list("codename", flat=True))
    for model in ("sample", "synthesisrun", "xasspectrum", "datafile", "fitrun"):
        assert {f"view_{model}", f"add_{model}", f"change_{model}"} <= codenames
    assert not any(c.startswith("delete_") and c != "delete_authtoken" for c in codenames)
    assert {"view_authtoken", "delete_authtoken"} <= codenames


def test_curator_created_by_command_changes_a_sample_in_admin(tmp_path):
    call_command(
        "create_curator",
        "dora",
        "--email",
        "dora@lab.org",
        "--password-file",
        _password_file(tmp_path),
    )
    dora = User.objects.get(username="dora")
    assert (dora.is_staff, dora.is_superuser, dora.email) == (True, False, "dora@lab.org")
    assert list(dora.groups.values_list("name", flat=True)) == ["curators"]
    record = sample("NPL-ADM-1")
    client = Client()
    assert dora.check_password("Curator-pw-2026!")
    client.force_login(dora)
    assert client.get("/admin/").status_code == 200
    url = f"/admin/synthesis/sample/{record.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    form = _FormValues()
    form.feed(page.content.decode())
    data: dict[str, list[str]] = {}
    for name, value in form.values:
        data.setdefault(name, []).append(value)
    data["notes"] = ["checked by the curator"]
    response = client.post(url, data)
    errors = response.context and (
        response.context["adminform"].form.errors,
        [
            (f.formset.errors, f.formset.non_form_errors())
            for f in response.context["inline_admin_formsets"]
        ],
    )
    assert response.status_code == 302, errors
    record.refresh_from_db()
    assert record.notes == "checked by the curator"


def test_member_created_by_command_cannot_open_admin(tmp_path):
    call_command("create_member", "eve", "--password-file", _password_file(tmp_path, "Member-pw-7"))
    eve = User.objects.get(username="eve")
    assert (eve.is_staff, eve.groups.count()) == (False, 0)
    client = Client()
    assert eve.check_password("Member-pw-7")
    client.force_login(eve)
    response = client.get("/admin/synthesis/sample/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_no_terminal_and_no_password_file_is_refused():
    with pytest.raises(CommandError) as info:
        call_command("create_curator", "frank")
    assert "no password given: there is no terminal to ask on. Use --password-file FILE" in str(
        info.value
    )
    assert not User.objects.filter(username="frank").exists()


def test_weak_password_and_taken_username_are_refused(tmp_path):
    with pytest.raises(CommandError) as weak:
        call_command("create_member", "gina", "--password-file", _password_file(tmp_path, "abc"))
    assert str(weak.value).startswith("password: This password is too short.")
    call_command("create_member", "gina", "--password-file", _password_file(tmp_path, "Gina-pw-99"))
    with pytest.raises(CommandError) as taken:
        call_command("create_curator", "gina", "--password-file", _password_file(tmp_path))
    assert str(taken.value) == "username 'gina' is taken; choose another."
    assert Sample.objects.count() == 0
