"""API tokens for scripts and notebooks (django-rest-knox): a member manages their own.

Knox stores only a SHA-512 digest of each key; the key itself exists once, in the return value
of ``create_api_token`` / ``rotate_api_token``, to be shown to its owner and never again.
``token_key`` (the key's first 15 characters) identifies a token on the owner's page.
Every function acts on the given user's tokens only: another member's token is "not found".
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from knox.models import AuthToken
from knox.settings import knox_settings

from labdb.lib.errors import DomainError


class TokenNotFound(DomainError):
    """No token with that prefix belongs to the user (or it was revoked already)."""


def api_tokens_of(*, user) -> QuerySet[AuthToken]:
    """The user's tokens, newest first (prefix, created, expiry; never the key)."""
    return AuthToken.objects.filter(user=user).order_by("-created")


def _owned(user, token_key: str) -> AuthToken:
    token = (AuthToken.objects.select_for_update()
             .filter(user=user, token_key=token_key).first())
    if token is None:
        raise TokenNotFound(f"You have no API token starting “{token_key}” (revoked already?).",
                            field="token")
    return token


@transaction.atomic
def create_api_token(*, user) -> tuple[AuthToken, str]:
    """A new token for ``user``, valid for REST_KNOX["TOKEN_TTL"]; returns (token, key)."""
    return AuthToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)


@transaction.atomic
def rotate_api_token(*, user, token_key: str) -> tuple[AuthToken, str]:
    """Replace the user's token ``token_key`` by a new one (full TTL from now); the old key
    stops working at once. Returns (new token, new key). Raises TokenNotFound."""
    _owned(user, token_key).delete()
    return AuthToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)


@transaction.atomic
def revoke_api_token(*, user, token_key: str) -> None:
    """Delete the user's token ``token_key``; its key stops working. Raises TokenNotFound."""
    _owned(user, token_key).delete()
