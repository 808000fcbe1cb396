"""API tokens: a member's own page (create, list, rotate, revoke), the API login by basic
authentication, the token header against /api/samples/, and owner-only access."""

from __future__ import annotations

import base64
import re

import pytest
from django.test import Client
from knox.models import AuthToken

TOKENS_URL = "/account/tokens/"
KEY = re.compile(r'<input id="new-key" class="token-key" type="text" value="([0-9a-f]{64})"')


def new_key_in(html: str) -> str:
    found = KEY.findall(html)
    assert len(found) == 1, "the page shows exactly one new key"
    return found[0]


def token_status(key: str) -> int:
    """HTTP status of GET /api/samples/ with ``Authorization: Token <key>`` and no session."""
    return Client().get("/api/samples/", HTTP_AUTHORIZATION=f"Token {key}").status_code


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_token_create_use_rotate_revoke(web, member):
    assert web.get(TOKENS_URL).status_code == 200
    created = web.post(TOKENS_URL)
    assert created.status_code == 201
    assert created["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    key = new_key_in(created.content.decode())
    token = AuthToken.objects.get(user=member)
    assert key.startswith(token.token_key) and len(token.token_key) == 15
    assert token.digest != key and key not in token.digest  # only the hash is stored
    assert token_status(key) == 200

    listed = web.get(TOKENS_URL).content.decode()
    assert f"<code>{token.token_key}…</code>" in listed
    assert KEY.findall(listed) == []  # never shown again
    assert token.expiry.date().isoformat() in listed

    rotated = web.post(f"{TOKENS_URL}{token.token_key}/rotate/")
    assert rotated.status_code == 201
    new_key = new_key_in(rotated.content.decode())
    assert new_key != key
    assert token_status(key) == 401
    assert token_status(new_key) == 200
    assert AuthToken.objects.filter(user=member).count() == 1

    replacement = AuthToken.objects.get(user=member)
    revoked = web.post(f"{TOKENS_URL}{replacement.token_key}/revoke/", follow=True)
    assert revoked.redirect_chain == [(TOKENS_URL, 302)]
    assert f"Token {replacement.token_key}… revoked" in revoked.content.decode()
    assert token_status(new_key) == 401
    assert AuthToken.objects.filter(user=member).count() == 0


def test_token_of_another_member_is_not_theirs_to_see_or_revoke(web, other_member):
    _, key = AuthToken.objects.create(user=other_member)
    prefix = key[:15]
    assert prefix not in web.get(TOKENS_URL).content.decode()
    assert web.post(f"{TOKENS_URL}{prefix}/revoke/").status_code == 404
    assert web.post(f"{TOKENS_URL}{prefix}/rotate/").status_code == 404
    assert token_status(key) == 200  # still works for its owner


@pytest.mark.parametrize("method,url", [("get", TOKENS_URL), ("post", TOKENS_URL),
                                        ("post", f"{TOKENS_URL}abc/revoke/")])
def test_token_page_anonymous_redirected_to_login(db, method, url):
    response = getattr(Client(), method)(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_token_page_revoke_by_get_is_refused(web):
    assert web.get(f"{TOKENS_URL}abc/revoke/").status_code == 405


def test_api_login_with_basic_auth_returns_a_working_token_and_logout_revokes_it(member):
    client = Client()
    response = client.post("/api/auth/login/", HTTP_AUTHORIZATION=basic("alice", "pw-alice-123"))
    assert response.status_code == 200
    body = response.json()
    assert sorted(body) == ["expiry", "token"]
    key = body["token"]
    assert token_status(key) == 200
    assert AuthToken.objects.get(user=member).token_key == key[:15]
    logout = Client().post("/api/auth/logout/", HTTP_AUTHORIZATION=f"Token {key}")
    assert logout.status_code == 204
    assert token_status(key) == 401


def test_api_login_wrong_password_is_401(member):
    response = Client().post("/api/auth/login/", HTTP_AUTHORIZATION=basic("alice", "wrong"))
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid username/password."
    assert AuthToken.objects.count() == 0


def test_basic_auth_is_not_accepted_by_the_rest_of_the_api(member):
    response = Client().get("/api/samples/", HTTP_AUTHORIZATION=basic("alice", "pw-alice-123"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "results" not in response.json()


def test_token_expiry_follows_the_setting(web, member, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": timedelta(days=7)}
    web.post(TOKENS_URL)
    expiry = AuthToken.objects.get(user=member).expiry
    assert timedelta(days=7) - timedelta(minutes=1) < expiry - timezone.now() <= timedelta(days=7)


def test_tokens_are_in_the_admin(member):
    from django.contrib import admin

    assert admin.site.is_registered(AuthToken)
