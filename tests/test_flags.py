"""Data flags: any member raises one; only curators acknowledge, resolve or reopen it.

The member who raised a flag edits its wording but gets 403 with a sentence when they try to
resolve it (API, web) — the admin is the curators' alone.
"""

from __future__ import annotations

import html

import pytest
from django.test import Client
from rest_framework.test import APIClient

from synthesis.models import DataFlag
from tests.synthesis import builders

pytestmark = pytest.mark.django_db


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def flag(member):
    sample = builders.sample("NPL-FLAG", actor=member)
    response = _api(member).post("/api/flags/", {
        "target_type": "sample", "object_id": sample.pk, "kind": "typo",
        "location": "Table 2, row 4.5 ML", "message": "QY printed as 150 %"}, format="json")
    assert response.status_code == 201
    return DataFlag.objects.get(pk=response.json()["id"])


def test_member_raises_a_flag_on_a_sample(flag, member):
    assert (flag.owner, flag.status, flag.kind, flag.target.code, flag.version) == (
        member, "open", "typo", "NPL-FLAG", 1)


@pytest.mark.parametrize("body,message", [
    ({"target_type": "spaceship", "object_id": 1, "message": "x"},
     "target_type: expected the kind of record to flag, such as sample, synthesisrun, "
     "plmeasurement or xasfit; got 'spaceship'."),
    ({"target_type": "sample", "object_id": 987654, "message": "x"},
     "object_id: there is no sample with id 987654."),
    ({"target_type": "sample", "object_id": 1, "message": ""},
     "message: This field may not be blank."),
])
def test_raising_a_flag_names_the_bad_field(member, body, message):
    response = _api(member).post("/api/flags/", body, format="json")
    assert (response.status_code, response.json()["message"]) == (400, message)
    assert DataFlag.objects.count() == 0


@pytest.mark.parametrize("status,verb", [("resolved", "resolve"),
                                         ("acknowledged", "acknowledge")])
def test_flag_author_cannot_resolve_or_acknowledge_it(flag, member, status, verb):
    response = _api(member).patch(f"/api/flags/{flag.pk}/", {"version": 1, "status": status},
                                  format="json")
    assert response.status_code == 403
    assert response.json()["message"] == (
        f"Only curators can {verb} a data flag, even one you raised; ask a curator to "
        f"review flag {flag.pk} (Table 2, row 4.5 ML).")
    flag.refresh_from_db()
    assert (flag.status, flag.version) == ("open", 1)


def test_flag_author_cannot_annotate_but_edits_the_wording(flag, member):
    api = _api(member)
    annotated = api.patch(f"/api/flags/{flag.pk}/", {"version": 1, "annotation": "fine"},
                          format="json")
    assert annotated.status_code == 403
    assert annotated.json()["message"].startswith(
        "Only curators can write the curator's annotation on a data flag")
    worded = api.patch(f"/api/flags/{flag.pk}/", {"version": 1, "message": "QY printed 150 %"},
                       format="json")
    assert (worded.status_code, worded.json()["message"], worded.json()["version"]) == (
        200, "QY printed 150 %", 2)


def test_other_member_cannot_change_someone_elses_flag(flag, other_member):
    response = _api(other_member).patch(f"/api/flags/{flag.pk}/",
                                        {"version": 1, "message": "mine"}, format="json")
    assert response.status_code == 403


def test_curator_resolves_then_reopens_and_history_says_who(flag, curator, member):
    api = _api(curator)
    resolved = api.patch(f"/api/flags/{flag.pk}/", {
        "version": 1, "status": "resolved", "annotation": "typo for 15.0 %, see SI"},
        format="json")
    assert (resolved.status_code, resolved.json()["status"]) == (200, "resolved")
    reopen_by_author = _api(member).patch(f"/api/flags/{flag.pk}/",
                                          {"version": 2, "status": "open"}, format="json")
    assert reopen_by_author.status_code == 403
    assert reopen_by_author.json()["message"].startswith("Only curators can reopen a data flag")
    reopened = api.patch(f"/api/flags/{flag.pk}/", {"version": 2, "status": "open"},
                         format="json")
    assert (reopened.status_code, reopened.json()["status"], reopened.json()["version"]) == (
        200, "open", 3)
    users = list(DataFlag.history.filter(id=flag.pk).order_by("history_date", "history_id")
                 .values_list("status", "history_user__username"))
    assert users == [("open", "alice"), ("resolved", "carol"), ("open", "carol")]


def test_web_flags_page_status_buttons_are_curators_only(flag, member, curator):
    author = _web(member)
    page = author.get("/flags/").content.decode()
    assert "QY printed as 150 %" in page
    assert f'action="/flags/{flag.pk}/status/"' not in page
    refused = author.post(f"/flags/{flag.pk}/status/", {"status": "resolved", "version": "1"})
    assert refused.status_code == 403
    assert (f"Only curators can resolve a data flag, even one you raised; ask a curator to "
            f"review flag {flag.pk} (Table 2, row 4.5 ML).") in html.unescape(
        refused.content.decode())
    assert DataFlag.objects.get(pk=flag.pk).status == "open"

    web = _web(curator)
    assert f'action="/flags/{flag.pk}/status/"' in web.get("/flags/").content.decode()
    done = web.post(f"/flags/{flag.pk}/status/", {"status": "resolved", "version": "1"})
    assert (done.status_code, done["Location"]) == (302, "/flags/")
    assert DataFlag.objects.get(pk=flag.pk).status == "resolved"
    stale = web.post(f"/flags/{flag.pk}/status/", {"status": "open", "version": "1"})
    assert stale.status_code == 409


def test_web_member_raises_a_flag_on_a_sample_by_code(member):
    builders.sample("NPL-WEBFLAG", actor=member)
    web = _web(member)
    done = web.post("/flags/", {"sample_code": "NPL-WEBFLAG", "kind": "missing",
                                "location": "Fig. 3", "message": "no TEM size given"})
    assert (done.status_code, done["Location"]) == (302, "/flags/")
    flag = DataFlag.objects.get()
    assert (flag.target.code, flag.kind, flag.owner, flag.status) == (
        "NPL-WEBFLAG", "missing", member, "open")
    unknown = web.post("/flags/", {"sample_code": "NPL-NONE", "kind": "note", "message": "x"})
    assert unknown.status_code == 400
    assert "sample_code: no sample has the code 'NPL-NONE'." in html.unescape(
        unknown.content.decode())


def test_admin_flag_change_is_for_curators_only(flag, member, curator):
    member.is_staff = True
    member.save()
    staff = _web(member)
    url = f"/admin/synthesis/dataflag/{flag.pk}/change/"
    assert staff.get(url).status_code == 403
    curator.is_staff = True
    curator.save()
    assert _web(curator).get(url).status_code == 200
