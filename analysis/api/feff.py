"""FEFF calculations: compute from a structure or upload path files, list, inspect, download.

``POST /api/feff-calculations/`` with JSON ``{"structure": {...}, "absorber": "Zn", "edge": "K",
"cluster_radius_a": 6.0, "feff_version": 6}`` runs FEFF (bounded: ≤ 8 Å, ≤ 400 atoms) or, as
multipart, stores uploaded ``feffNNNN.dat`` files (optional ``feff.inp``, ``files.dat``).
201 when stored now, 200 when the same calculation was already stored.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path, reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from analysis.models import FeffCalculation
from analysis.services import feff as feff_services
from labdb.lib.errors import DomainError
from labdb.lib.permissions import is_curator


class FeffPathSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="feffNNNN.dat")
    index = serializers.IntegerField(allow_null=True)
    nleg = serializers.IntegerField()
    reff_a = serializers.FloatField(help_text="Half path length, Å.")
    degen = serializers.FloatField(help_text="FEFF degeneracy.")
    scatterers = serializers.CharField(help_text="Atoms along the path, absorber first: Zn-Se.")
    amplitude_ratio_pct = serializers.FloatField(
        allow_null=True, help_text="FEFF's amplitude ratio (files.dat), % of the largest path."
    )
    sha256 = serializers.CharField()
    url = serializers.CharField(help_text="Download of the path file.")


class FeffCalculationSerializer(serializers.ModelSerializer):
    """A stored FEFF calculation with its path table and download links."""

    feff_version = serializers.SerializerMethodField()
    feff_inp_url = serializers.SerializerMethodField()
    files_dat_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    paths = serializers.SerializerMethodField()

    class Meta:
        model = FeffCalculation
        fields = (
            "id",
            "source",
            "absorber",
            "edge",
            "cluster_radius_a",
            "feff_version",
            "structure",
            "cache_key",
            "feff_inp_url",
            "files_dat_url",
            "page_url",
            "paths",
            "elapsed_s",
            "created_at",
        )
        read_only_fields = fields

    def _url(self, url_name: str, **kwargs) -> str:
        url = reverse(url_name, kwargs=kwargs)
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url

    def get_feff_version(self, calc) -> int | None:
        return int(calc.feff_version) if str(calc.feff_version).isdigit() else None

    def get_feff_inp_url(self, calc) -> str | None:
        return self._url("feffcalculation-feff-inp", pk=calc.pk) if calc.feff_input else None

    def get_files_dat_url(self, calc) -> str | None:
        if feff_services.calculation_text_file(calc, "files.dat") is None:
            return None
        return self._url("feffcalculation-file", pk=calc.pk, name="files.dat")

    def get_page_url(self, calc) -> str:
        return self._url("web:feff-detail", feff_id=calc.pk)

    def get_paths(self, calc) -> list[dict]:
        rows = feff_services.calculation_path_rows(calc)
        return [
            {
                key: row.get(key)
                for key in ("name", "index", "nleg", "reff_a", "degen", "scatterers",
                            "amplitude_ratio_pct", "sha256")
            }
            | {"url": self._url("feffcalculation-file", pk=calc.pk, name=row["name"])}
            for row in rows
        ]


class FeffCalculationRequestSerializer(serializers.Serializer):
    """JSON body that computes FEFF paths (for the schema; the service checks each field)."""

    structure = serializers.JSONField(
        help_text='As model.feff.structure: {"source": "amcsd"|"cif"|"lattice", ...}.'
    )
    absorber = serializers.CharField(help_text="Element symbol of the absorbing atom.")
    edge = serializers.CharField(required=False, default="K")
    cluster_radius_a = serializers.FloatField(required=False, default=6.0, help_text="Å, ≤ 8.")
    feff_version = serializers.IntegerField(required=False, default=6)


class FeffCalculationViewSet(viewsets.ReadOnlyModelViewSet):
    """FEFF calculations (computed from a structure or uploaded), their feff.inp and paths.

    Lab members compute and upload; curators delete (only a calculation no fit run uses).
    """

    serializer_class = FeffCalculationSerializer
    filterset_fields = ["absorber", "edge", "source"]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        return FeffCalculation.objects.all()

    @extend_schema(
        request={
            "application/json": FeffCalculationRequestSerializer,
            "multipart/form-data": {"type": "object", "properties": {
                "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                "absorber": {"type": "string"}, "edge": {"type": "string"}}},
        },
        responses={201: FeffCalculationSerializer, 200: FeffCalculationSerializer},
    )
    def create(self, request):
        if request.FILES:
            calc, created = feff_services.upload_feff_files(
                files=[(f.name, f.read()) for key in request.FILES for f in
                       request.FILES.getlist(key)],
                absorber=request.data.get("absorber") or None,
                edge=request.data.get("edge") or None,
                actor=request.user,
            )
        else:
            body = request.data
            if not hasattr(body, "get") or "structure" not in body:
                raise DomainError(
                    "structure: send JSON {structure, absorber, edge, cluster_radius_a, "
                    "feff_version} to compute FEFF paths, or upload feffNNNN.dat files as "
                    "multipart.",
                    field="structure",
                )
            calc, created = feff_services.compute_feff_calculation(
                structure=body.get("structure"),
                absorber=body.get("absorber"),
                edge=body.get("edge", "K"),
                cluster_radius_a=body.get("cluster_radius_a", 6.0),
                feff_version=body.get("feff_version", 6),
                actor=request.user,
            )
        data = self.get_serializer(calc).data
        return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    def destroy(self, request, pk=None):
        if not is_curator(request.user):
            raise PermissionDenied("Only curators delete FEFF calculations.")
        feff_services.delete_feff_calculation(calculation=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


def _text(calc: FeffCalculation, name: str) -> HttpResponse:
    text = feff_services.calculation_text_file(calc, name)
    if text is None:
        raise NotFound(f"FEFF calculation {calc.pk} has no file {name}.")
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class FeffFileViewSet(viewsets.GenericViewSet):
    """Text downloads of a calculation's feff.inp, files.dat and feffNNNN.dat files."""

    queryset = FeffCalculation.objects.all()
    serializer_class = FeffCalculationSerializer

    @extend_schema(responses={(200, "text/plain"): str})
    def feff_inp(self, request, pk=None):
        return _text(self.get_object(), "feff.inp")

    @extend_schema(
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH)],
        responses={(200, "text/plain"): str},
    )
    def file(self, request, pk=None, name=""):
        return _text(self.get_object(), name)


urlpatterns = [
    path(
        "feff-calculations/",
        FeffCalculationViewSet.as_view({"get": "list", "post": "create"}),
        name="feffcalculation-list",
    ),
    path(
        "feff-calculations/<int:pk>/",
        FeffCalculationViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="feffcalculation-detail",
    ),
    path(
        "feff-calculations/<int:pk>/feff.inp",
        FeffFileViewSet.as_view({"get": "feff_inp"}),
        name="feffcalculation-feff-inp",
    ),
    path(
        "feff-calculations/<int:pk>/paths/<str:name>",
        FeffFileViewSet.as_view({"get": "file"}),
        name="feffcalculation-file",
    ),
]
