"""URL map: admin, REST API under /api/, OpenAPI schema and offline docs, the web UI."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import APIRootView

from analysis.api import urls as analysis_api
from characterization.api import urls as characterization_api
from labdb import assets, errors
from labdb.health import health
from synthesis.api import urls as synthesis_api
from web.account_views import APITokenLoginView, APITokenLogoutView

API_URLCONFS = (synthesis_api, characterization_api, analysis_api)


def _parameterless_routes(patterns) -> dict[str, str]:
    """{route without its trailing slash: url name} of every named pattern that takes no
    arguments (list and collection endpoints; not detail routes or format suffixes)."""
    routes: dict[str, str] = {}
    for pattern in patterns:
        if isinstance(pattern, URLResolver) or not isinstance(pattern, URLPattern):
            continue
        if not pattern.name or pattern.pattern.regex.groups or pattern.name == "api-root":
            continue
        route = str(pattern.pattern).removeprefix("^").removesuffix("$").rstrip("/")
        if route and "." not in route:  # plots such as correlation.png are not endpoints
            routes[route] = pattern.name
    return routes


def api_root_routes() -> dict[str, str]:
    """Every endpoint of the three apps' APIs plus token login/logout, for the one API root."""
    routes: dict[str, str] = {}
    for urlconf in API_URLCONFS:
        routes.update(_parameterless_routes(urlconf.urlpatterns))
    routes.update({"auth/login": "api-token-login", "auth/logout": "api-token-logout"})
    return dict(sorted(routes.items()))


class LabdbAPIRootView(APIRootView):
    """labdb REST API: every endpoint of synthesis, characterization and analysis.

    Scripts authenticate with `Authorization: Token <key>` (get a key on your "API tokens"
    page, or `POST /api/auth/login/` with your username and password); the browser with the
    login session."""


urlpatterns = [
    path("health/", health, name="health"),  # no login, no data: for monitors and load balancers
    path("csp-report/", errors.csp_report, name="csp-report"),  # browsers' CSP violation reports
    path("favicon.ico", assets.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Content-Security-Policy (script-src 'self'): Swagger UI's start-up script is served as
    # its own request by the split view (?script), never inline; Redoc's template drops the
    # Google Fonts links and loads a copy of its bundle without the external logo URL
    # (labdb/assets.py), so the docs load nothing from another origin (and work offline).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
    path("api/redoc/redoc.standalone.js", assets.redoc_bundle, name="api-redoc-bundle"),
    path("api/auth/login/", APITokenLoginView.as_view(), name="api-token-login"),
    path("api/auth/logout/", APITokenLogoutView.as_view(), name="api-token-logout"),
    # One root for all three routers (each DefaultRouter would list only its own endpoints).
    path("api/", LabdbAPIRootView.as_view(api_root_dict=api_root_routes()), name="api-root"),
    path("api/", include("synthesis.api.urls")),
    path("api/", include("characterization.api.urls")),
    path("api/", include("analysis.api.urls")),
    path("", include("web.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
]

# Under /api/ these answer JSON {"error", "message"}; elsewhere Django's HTML pages.
handler400 = "labdb.errors.bad_request"
handler403 = "labdb.errors.permission_denied"
handler404 = "labdb.errors.page_not_found"
handler500 = "labdb.errors.server_error"
