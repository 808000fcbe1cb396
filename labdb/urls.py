"""URL map: admin, REST API under /api/, OpenAPI schema and offline docs, the web UI."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include("synthesis.api.urls")),
    path("api/", include("characterization.api.urls")),
    path("api/", include("analysis.api.urls")),
    path("", include("web.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
]
