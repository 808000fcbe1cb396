from django.urls import path
from rest_framework.routers import DefaultRouter

from characterization.api import views

router = DefaultRouter()
router.register("files", views.DataFileViewSet, basename="datafile")
router.register("tem-sizes", views.TEMSizeViewSet, basename="temsize")
router.register("tem-images", views.TEMImageViewSet, basename="temimage")
router.register("pl-measurements", views.PLViewSet, basename="plmeasurement")
router.register("absorption-measurements", views.AbsorptionViewSet, basename="absorption")
router.register("pl-lifetimes", views.PLLifetimeViewSet, basename="pllifetime")
router.register("xrd-measurements", views.XRDViewSet, basename="xrdmeasurement")
router.register("ftir-measurements", views.FTIRViewSet, basename="ftirmeasurement")
router.register("compositions", views.CompositionViewSet, basename="composition")
router.register("xas-spectra", views.XASSpectrumViewSet, basename="xasspectrum")
router.register("xas-fits", views.XASFitViewSet, basename="xasfit")
router.register("reported-quantities", views.ReportedQuantityViewSet, basename="reported")

urlpatterns = router.urls + [
    path(
        "manual-measurements/",
        views.ManualMeasurementCreateView.as_view(),
        name="manual-measurement-create",
    ),
    path(
        "manual-measurements/<str:kind>/<int:pk>/",
        views.ManualMeasurementDetailView.as_view(),
        name="manual-measurement-detail",
    ),
]
