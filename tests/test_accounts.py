"""Accounts: login throttling (django-axes), password validators, demo users only when asked.

Brute force: N = 5 wrong passwords (AXES_FAILURE_LIMIT) for one username from one IP, then the
right password is refused with HTTP 429 on the UI login, the admin login and the API token
login; a curator's unlock (deleting the attempt, as the admin's Axes page does) lets it in.
"""

from __future__ import annotations

import base64

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import override_settings

pytestmark = pytest.mark.django_db

N_WRONG = 5
PASSWORD = "Cd-Se-platelets-4.5"


@pytest.fixture
def chemist():
    return User.objects.create_user("dana", password=PASSWORD)


def _ui_login(client, password):
    return client.post("/accounts/login/", {"username": "dana", "password": password})


def _admin_login(client, password):
    return client.post("/admin/login/?next=/admin/", {"username": "dana", "password": password})


def _api_login(client, password):
    basic = base64.b64encode(f"dana:{password}".encode()).decode()
    return client.post("/api/auth/login/", HTTP_AUTHORIZATION=f"Basic {basic}")


def test_failure_limit_is_five():
    assert settings.AXES_FAILURE_LIMIT == N_WRONG


@pytest.mark.parametrize("login", [_ui_login, _admin_login, _api_login])
def test_right_password_refused_after_five_wrong(client, chemist, login):
    chemist.is_staff = True
    chemist.save()
    assert AccessAttempt.objects.count() == 0
    # UI and admin: the form again for 4 failures, 429 from the fifth on (lockout page).
    # API: DRF answers 401 itself (axes flags DRF's request object, not Django's), but the
    # right password is refused all the same and no token is issued.
    refused = 401 if login is _api_login else 429
    codes = [login(client, "wrong-password").status_code for _ in range(N_WRONG)]
    assert codes == [401 if login is _api_login else 200] * (N_WRONG - 1) + [refused]
    response = login(client, PASSWORD)
    assert response.status_code == refused
    assert b"token" not in response.content
    assert "_auth_user_id" not in client.session
    attempt = AccessAttempt.objects.get(username="dana")
    # the refused right password counts too: 5 wrong + 1 refused
    assert (attempt.ip_address, attempt.failures_since_start) == ("127.0.0.1", N_WRONG + 1)
    assert AccessFailureLog.objects.filter(username="dana", locked_out=True).exists()
    # a curator unlocks: the admin's Axes page deletes the attempt
    AccessAttempt.objects.filter(username="dana").delete()
    assert login(client, PASSWORD).status_code in (200, 302)


def test_four_wrong_then_right_is_accepted_and_resets(client, chemist):
    for _ in range(N_WRONG - 1):
        _ui_login(client, "wrong-password")
    assert _ui_login(client, PASSWORD).status_code == 302
    assert not AccessAttempt.objects.filter(username="dana").exists()


def test_other_username_from_same_ip_is_not_locked(client, chemist):
    User.objects.create_user("erin", password=PASSWORD)
    for _ in range(N_WRONG):
        _ui_login(client, "wrong-password")
    ok = client.post("/accounts/login/", {"username": "erin", "password": PASSWORD})
    assert ok.status_code == 302


def test_curator_unlocks_in_admin(client, chemist, curator):
    for _ in range(N_WRONG):
        _ui_login(client, "wrong-password")
    attempt = AccessAttempt.objects.get(username="dana")
    curator.is_staff = True
    curator.is_superuser = True
    curator.save()
    admin = type(client)()
    admin.force_login(curator)
    page = admin.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and b"dana" in page.content
    admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert not AccessAttempt.objects.filter(username="dana").exists()
    assert _ui_login(client, PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("short-1", "This password is too short. It must contain at least 10 characters."),
        ("1234567890", "This password is entirely numeric."),
        ("password12", "This password is too common."),
        ("dana-dana-dana", "The password is too similar to the username."),
    ],
)
def test_password_validators(password, expected):
    user = User(username="dana-dana-dana")
    with pytest.raises(ValidationError) as err:
        validate_password(password, user)
    assert expected in err.value.messages


def test_good_password_passes_all_four_validators():
    assert len(settings.AUTH_PASSWORD_VALIDATORS) == 4
    validate_password(PASSWORD, User(username="dana"))


@override_settings(LABDB_PRODUCTION=True)
def test_demo_users_refused_in_production():
    with pytest.raises(CommandError) as err:
        call_command("load_demo", "--demo-users")
    assert "--demo-users: refused on a production configuration" in str(err.value)
    assert not User.objects.filter(username__in=["demo", "curator"]).exists()


def test_production_is_debug_off_and_https_on():
    from labdb import settings as labdb_settings

    assert labdb_settings.LABDB_PRODUCTION is labdb_settings._PRODUCTION


def test_load_demo_without_flag_creates_no_loginable_account():
    from analysis.demo import DEMO_LOADER, load_demo

    load_demo(report=lambda line: None, with_fits=False, demo_users=False)
    assert not User.objects.filter(username__in=["demo", "curator"]).exists()
    loader = User.objects.get(username=DEMO_LOADER)
    assert (loader.is_active, loader.has_usable_password(), loader.is_superuser) == (
        False, False, False)
