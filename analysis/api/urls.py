"""Analysis API: fit runs (fit_views), fit results (result_views), structure–property /
aging (property_views), processing previews (processing), FEFF calculations (feff)."""

from analysis.api import (
    feff,
    fit_views,
    processing,
    property_views,
    qy_standards,
    result_views,
    run_views,
)

urlpatterns = [
    *fit_views.urlpatterns,
    *result_views.urlpatterns,
    *property_views.urlpatterns,
    *processing.urlpatterns,
    *feff.urlpatterns,
    *run_views.urlpatterns,
    *qy_standards.urlpatterns,
]
