"""Analysis API: fit runs (fit_views), fit results (result_views) and structure–property /
aging (property_views)."""

from analysis.api import fit_views, property_views, result_views

urlpatterns = [*fit_views.urlpatterns, *result_views.urlpatterns, *property_views.urlpatterns]
