"""Live processing preview of a stored XAS spectrum (the fit builder's μ(E), χ(k), |χ(R)| plots).

Thin: shape check, one service call. Nothing is stored, so POST only for the body's size.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from analysis.services import processing


class PreviewRequestSerializer(serializers.Serializer):
    processing = serializers.JSONField(
        required=False, help_text="As a fit model dataset's processing: pre_edge, autobk (xftf)."
    )
    transform = serializers.JSONField(
        required=False, help_text="As a fit model dataset's transform: kmin, kmax, dk, window, "
                                  "kweight (rmin/rmax ignored)."
    )


@extend_schema(request=PreviewRequestSerializer, responses={200: dict, 503: dict})
@api_view(["POST"])
def preview_processing(request, pk: int):
    """μ(E) with background and pre/post-edge lines, k^w·χ(k) with its window and |χ(R)| for
    the given processing; e0 and edge step as larch resolves them. 400 names the field."""
    shape = PreviewRequestSerializer(data=request.data)
    shape.is_valid(raise_exception=True)
    try:
        data = processing.preview_processing(
            spectrum_id=pk,
            processing=shape.validated_data.get("processing"),
            transform=shape.validated_data.get("transform"),
        )
    except processing.PreviewBusy as exc:
        return Response(exc.as_dict(), status=503, headers={"Retry-After": "2"})
    return Response(data)


urlpatterns = [
    path(
        "xas-spectra/<int:pk>/preview-processing/",
        preview_processing,
        name="xasspectrum-preview-processing",
    ),
]
