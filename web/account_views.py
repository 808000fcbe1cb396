"""A member's own API tokens: the token page (/account/tokens/) and the API login/logout.

Thin: each view calls one function of ``labdb.lib.api_tokens``. A new key is rendered in the
response to the POST that made it and stored nowhere (knox keeps only its digest), so it is
shown exactly once; those responses are never cached. Another member's token is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from knox.views import LoginView, LogoutView
from rest_framework import serializers
from rest_framework.authentication import BasicAuthentication
from rest_framework.permissions import IsAuthenticated

from labdb.lib import api_tokens


def _tokens_page(request, *, new_key: str | None = None, replaced: str | None = None,
                 status: int = 200):
    return render(request, "web/account/tokens.html", {
        "tokens": api_tokens.api_tokens_of(user=request.user),
        "new_key": new_key,
        "replaced": replaced,
        "samples_url": request.build_absolute_uri("/api/samples/"),
    }, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    """GET: the member's tokens. POST: a new token, its key shown in this response only."""
    if request.method == "POST":
        _, key = api_tokens.create_api_token(user=request.user)
        return _tokens_page(request, new_key=key, status=201)
    return _tokens_page(request)


@never_cache
@login_required
@require_POST
def token_rotate(request, token_key: str):
    """Replace one of the member's tokens; the new key is shown once, the old one is dead."""
    try:
        _, key = api_tokens.rotate_api_token(user=request.user, token_key=token_key)
    except api_tokens.TokenNotFound:
        raise Http404("No such API token of yours.")
    return _tokens_page(request, new_key=key, replaced=token_key, status=201)


@login_required
@require_POST
def token_revoke(request, token_key: str):
    """Revoke one of the member's tokens, then back to the token page."""
    try:
        api_tokens.revoke_api_token(user=request.user, token_key=token_key)
    except api_tokens.TokenNotFound:
        raise Http404("No such API token of yours.")
    messages.success(request, f"Token {token_key}… revoked: scripts using it now get HTTP 401.")
    return redirect("web:account-tokens")


_TOKEN_RESPONSE = inline_serializer("APITokenLogin", {
    "expiry": serializers.DateTimeField(help_text="when the token stops working (UTC)"),
    "token": serializers.CharField(help_text="the key; send it as `Authorization: Token <key>`"),
})


class APITokenLoginView(LoginView):
    """``POST /api/auth/login/`` with HTTP basic authentication (username and password) returns a
    new token. The only place labdb accepts basic authentication."""

    authentication_classes = [BasicAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: _TOKEN_RESPONSE},
                   summary="Get an API token with your username and password (basic auth)")
    def post(self, request, format=None):
        return super().post(request, format=format)


class APITokenLogoutView(LogoutView):
    """``POST /api/auth/logout/`` with ``Authorization: Token <key>`` revokes that token."""

    @extend_schema(request=None, responses={204: OpenApiResponse(description="token revoked")},
                   summary="Revoke the token this request is authenticated with")
    def post(self, request, format=None):
        return super().post(request, format=format)
