"""Analysis API: fit runs (fit_views) and structure–property / aging (property_views)."""

from analysis.api import fit_views, property_views

urlpatterns = [*fit_views.urlpatterns, *property_views.urlpatterns]
