"""Two small assets served by Django so that no page asks another origin for anything.

* ``redoc_bundle``: the sidecar's ``redoc.standalone.js`` with the one external URL it
  hard-codes (the "API docs by Redocly" logo, fetched from cdn.redoc.ly) replaced by an empty
  inline SVG — offline, and under ``img-src 'self' data:``, the docs page then loads nothing
  from elsewhere and logs no error.
* ``favicon``: ``/favicon.ico`` answers 204 (pages without an icon link — the admin, the API
  root — make browsers ask for it; a 404 would be a console error).
"""

from __future__ import annotations

from functools import lru_cache

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
REDOC_LOGO_URL = "https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_SVG = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


@lru_cache(maxsize=1)
def _redoc_source() -> bytes:
    path = finders.find(REDOC_BUNDLE)
    if path is None:  # the sidecar package is a pinned dependency; this is a broken install
        raise FileNotFoundError(f"{REDOC_BUNDLE} not found in the static files")
    with open(path, "rb") as handle:
        return handle.read().replace(REDOC_LOGO_URL.encode(), EMPTY_SVG.encode())


@require_GET
@cache_control(max_age=86400, public=True)
def redoc_bundle(request):
    """Redoc's standalone bundle without its external logo URL (JavaScript)."""
    return HttpResponse(_redoc_source(), content_type="application/javascript; charset=utf-8")


@require_GET
def favicon(request):
    """No icon, and no 404 for it."""
    return HttpResponse(status=204)
