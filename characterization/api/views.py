"""Characterization API: raw files (upload, preview, download), measurements, XAS fits."""

from __future__ import annotations

import django_filters
from django.conf import settings
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404  # a non-numeric id is a 404, not a 500
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from characterization import selectors, services
from characterization.api import serializers as s
from characterization.enums import DataSource
from characterization.models import (
    AbsorptionMeasurement,
    CompositionMeasurement,
    DataFile,
    FTIRMeasurement,
    PLMeasurement,
    ReportedQuantity,
    TEMImageMeasurement,
    TEMSizeMeasurement,
    XASFit,
    XASSpectrum,
    XRDMeasurement,
)
from labdb.lib.errors import DomainError
from labdb.lib.filters import IdFilter
from labdb.lib.viewsets import LabRecordViewSet
from labdb.storage import open_stored, stored_label
from labdb.upload_handlers import refused_uploads, too_large_message
from synthesis.models import Sample, SynthesisRun


def raw_file_response(data_file) -> FileResponse:
    """The stored bytes unchanged, as a download named like the upload, with its sha256.

    ``ETag`` is the quoted sha256 (hex) and ``Repr-Digest`` the RFC 9530 sha-256 digest, so a
    client can check that what it saved is what was uploaded. Bytes gone from the file
    storage raise StoredFileMissing (HTTP 410 naming the file).
    """
    import base64

    content_type = data_file.content_type or "application/octet-stream"
    response = FileResponse(
        open_stored(data_file.file.name, label=stored_label(data_file)),
        as_attachment=True,
        filename=data_file.original_name,
        content_type=content_type,
    )
    response["ETag"] = f'"{data_file.sha256}"'
    digest = base64.b64encode(bytes.fromhex(data_file.sha256)).decode()
    response["Repr-Digest"] = f"sha-256=:{digest}:"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class DataFileFilter(django_filters.FilterSet):
    """``sample`` follows the links (a file shared by several samples is listed for each);
    ``meta`` filters on the stored header tree: ``meta=facility.name:APS`` is the JSON lookup
    ``metadata__facility__name = "APS"`` (dots separate levels, ``:`` the value)."""

    sample = IdFilter(method="filter_sample")
    run = IdFilter(method="filter_run", help_text="files of a synthesis run")
    meta = django_filters.CharFilter(method="filter_meta", help_text="key.sub:value")

    class Meta:
        model = DataFile
        fields = ["kind", "format", "technique", "parse_status", "sha256"]

    def filter_sample(self, queryset, name, value):
        return queryset.filter(pk__in=selectors.linked_file_ids(int(value)))

    def filter_run(self, queryset, name, value):
        return queryset.filter(pk__in=selectors.run_file_ids(int(value)))

    def filter_meta(self, queryset, name, value):
        path, sep, wanted = value.partition(":")
        keys = [k.strip() for k in path.split(".")]
        if not sep or not all(k and k.replace("_", "").replace("-", "").isalnum() for k in keys):
            raise DomainError(
                f"meta: {value!r} is not key.sub:value (e.g. meta=facility:APS).", field="meta"
            )
        return queryset.filter(**{"metadata__" + "__".join(keys): _json_value(wanted)})


def _json_value(text: str):
    """'10' → 10, '7.5' → 7.5, 'true' → True, anything else the text itself."""
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool)) else text


class DataFileViewSet(LabRecordViewSet):
    """Files: POST multipart ``file`` (+ ``sample``); stored unchanged, then parsed if it is an
    instrument file (``kind = instrument``) or kept with a thumbnail (``kind = attachment``)."""

    selector = staticmethod(
        lambda **kwargs: selectors.with_run_links(selectors.data_file_list(**kwargs))
    )
    serializer_class = s.DataFileSerializer
    filterset_class = DataFileFilter
    search_fields = ["original_name", "sha256", "parse_error"]
    ordering_fields = ["uploaded_at", "original_name"]
    ordering = ["-uploaded_at"]
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_parsers(self):
        # Uploads are multipart; the link/unlink/declare actions take JSON or forms.
        # (``self.action`` is not set yet when DRF asks for the parsers; the map is.)
        if (getattr(self, "action_map", None) or {}).get("post") == "create":
            return [MultiPartParser(), FormParser()]
        return super().get_parsers()

    @extend_schema(
        request={"multipart/form-data": s.DataFileUploadSerializer},
        responses={202: s.DataFileSerializer, 200: s.DataFileSerializer},
    )
    def create(self, request, *args, **kwargs):
        data = request.data  # parses the body: files over the limit are skipped while streaming
        refused = refused_uploads(request)
        if refused:
            error = DomainError(
                too_large_message(refused[0], settings.LABDB_MAX_UPLOAD_BYTES), field="file"
            )
            return Response(error.as_dict(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        shape = s.DataFileUploadSerializer(data=data)
        shape.is_valid(raise_exception=True)
        upload = shape.validated_data["file"]
        sample = self._sample(shape.validated_data.get("sample"))
        run = self._run(shape.validated_data.get("run"))
        if run is not None:
            data_file, _, created = services.attach_run_file(
                content=upload.read(), filename=upload.name, run=run, sample=sample,
                actor=request.user, groups=_group_numbers(shape.validated_data.get("groups")),
            )
        else:
            data_file, created = services.attach_data_file(
                content=upload.read(),
                filename=upload.name,
                sample=sample,
                actor=request.user,
                groups=_group_numbers(shape.validated_data.get("groups")),
            )
        # A new file is answered from the rows just written (its links are known: see
        # attach_data_file); a duplicate is read back, since its links existed before.
        answer = s.DataFileSerializer(data_file).data if created else self._fresh(data_file)
        body = dict(answer, duplicate=not created)
        body["message"] = upload_message(data_file, created, sample, run=run)
        # Stored; the parse runs as a job: 202 with the URL to poll until parse_status is
        # ok, failed or skipped (a duplicate links the stored file at once: 200).
        body["status"] = data_file.parse_status
        body["poll"] = request.build_absolute_uri(reverse("datafile-detail", args=[data_file.pk]))
        return Response(body, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    @extend_schema(request=s.FileLinkSerializer, responses={200: s.DataFileSerializer})
    @action(detail=True, methods=["post"])
    def link(self, request, pk=None):
        """Link this stored file to another sample (its owner or a curator): that sample's
        measurement rows are derived from the file; relinking restores unlinked rows."""
        data_file = self._shared_file(pk)
        shape = s.FileLinkSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        if shape.validated_data.get("run") is not None:
            services.link_data_file_to_run(
                data_file=data_file, run=self._run(shape.validated_data["run"]),
                actor=request.user, reason=shape.validated_data.get("reason", ""),
            )
            return Response(self._fresh(data_file))
        sample = self._sample(shape.validated_data["sample"])
        services.require_may_link(sample, request.user)
        services.link_data_file(
            data_file=data_file,
            sample=sample,
            actor=request.user,
            reason=shape.validated_data.get("reason", ""),
            groups=shape.validated_data.get("groups"),
        )
        return Response(self._fresh(data_file))

    @extend_schema(request=s.FileUnlinkSerializer, responses={200: s.DataFileSerializer})
    @action(detail=True, methods=["post"])
    def unlink(self, request, pk=None):
        """Take this file off a sample, with a reason (reversible: link it again)."""
        data_file = self._shared_file(pk)
        shape = s.FileUnlinkSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        if shape.validated_data.get("run") is not None:
            services.unlink_data_file_from_run(
                data_file=data_file, run=self._run(shape.validated_data["run"]),
                reason=shape.validated_data["reason"], actor=request.user,
            )
            return Response(self._fresh(data_file))
        services.unlink_data_file(
            data_file=data_file,
            sample=self._sample(shape.validated_data["sample"]),
            reason=shape.validated_data["reason"],
            actor=request.user,
        )
        return Response(self._fresh(data_file))

    @extend_schema(request=s.DeclareXASSerializer, responses={200: s.XASSpectrumSerializer})
    @action(detail=True, methods=["post"], url_path="declare-xas")
    def declare_xas(self, request, pk=None):
        """Say which element and edge an XAS file holds when it does not state them (and, for a
        column table, which columns form μ); creates the XAS spectrum of every sample the file
        is linked to."""
        data_file = self._shared_file(pk)
        shape = s.DeclareXASSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        rows = services.declare_xas_absorber(
            data_file=data_file,
            element=shape.validated_data["element"],
            edge=shape.validated_data["edge"],
            actor=request.user,
            columns=shape.columns(),
        )
        spectra = s.XASSpectrumSerializer(rows, many=True).data
        return Response({"file": self._fresh(data_file), "spectra": spectra})

    def _shared_file(self, pk):
        """Any member may act on a lab file for their own sample: the services check who
        may (sample owner, uploader, curator), not the file's owner permission."""
        return get_object_or_404(self.filter_queryset(self.get_queryset()), pk=pk)

    @staticmethod
    def _fresh(data_file) -> dict:
        # include_retired: identical bytes uploaded again find the stored record even if it
        # was retired (the answer says so in is_retired), never a 500.
        fresh = selectors.with_run_links(selectors.data_file_list(include_retired=True)).get(
            pk=data_file.pk)
        return s.DataFileSerializer(fresh).data

    @staticmethod
    def _run(run_id):
        if run_id is None:
            return None
        try:
            return SynthesisRun.objects.select_related("operator", "owner").get(pk=run_id)
        except SynthesisRun.DoesNotExist:
            raise DomainError(f"run: no synthesis run with id {run_id}.", field="run") from None

    @staticmethod
    def _sample(sample_id):
        if sample_id is None:
            return None
        try:
            return Sample.objects.get(pk=sample_id)
        except Sample.DoesNotExist:
            raise DomainError(f"sample: no sample with id {sample_id}.", field="sample") from None

    @extend_schema(responses={(200, "image/png"): bytes})
    @action(detail=True, methods=["get"], url_path="preview")
    def preview(self, request, pk=None):
        """The preview plot (PNG) rendered when the file was parsed."""
        data_file = self.get_object()
        if not data_file.preview:
            raise Http404("This file has no preview (its parse failed or it has no plot).")
        return FileResponse(
            open_stored(data_file.preview.name, label=f"preview of {stored_label(data_file)}"),
            content_type="image/png",
        )

    @extend_schema(responses={(200, "*/*"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The raw bytes exactly as uploaded, in the content type sniffed at upload
        (``content_type`` of the file record); ETag is the quoted sha256."""
        return raw_file_response(self.get_object())

    @extend_schema(responses=s.FileSeriesSerializer)
    @action(detail=True, methods=["get"])
    def series(self, request, pk=None):
        """Decimated x/y series for interactive plots."""
        return Response(self.get_object().series)


def _group_numbers(text: str | None) -> list[int] | None:
    """'1, 2' → [1, 2]; DomainError naming ``groups`` for anything else."""
    if not text or not text.strip():
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        raise DomainError(
            f"groups: {text!r} is not a list of group numbers such as '0' or '1,2'.",
            field="groups",
        )
    return [int(p) for p in parts]


def upload_message(data_file, created: bool, sample, *, run=None) -> str:
    """What the upload did, in words (shown by the API and the upload page)."""
    targets = [x.code for x in (sample, run) if x is not None]
    if run is not None:
        targets[-1] = f"run {run.code}"
    if created:
        return f"stored {data_file.original_name}" + (
            f" for {' and '.join(targets)}" if targets else "")
    if targets:
        return f"already stored — linked to {' and '.join(targets)}"
    return "already stored (identical content); nothing new linked"


class MeasurementFilter(django_filters.FilterSet):
    sample_code = django_filters.CharFilter("sample__code")
    measured_after = django_filters.IsoDateTimeFilter("measured_at", lookup_expr="gte")
    measured_before = django_filters.IsoDateTimeFilter("measured_at", lookup_expr="lte")


def _create_not_manual(self, data, actor):
    """Generic creates are for published and parsed rows; hand entries have their own checks."""
    if data.get("source") == DataSource.MANUAL:
        raise DomainError(
            "source: values entered by hand go through /api/manual-measurements/ "
            "(which checks ranges, units and who may add them).",
            field="source",
        )
    return LabRecordViewSet.create_service(self, data, actor)


def _update_not_manual(self, instance, data, expected_version, actor):
    """Hand-entered rows are changed where their ranges and units are checked."""
    if instance.source == DataSource.MANUAL or data.get("source") == DataSource.MANUAL:
        kind = (instance.extra or {}).get("manual_kind", "<kind>")
        raise DomainError(
            f"source: values entered by hand are changed through "
            f"/api/manual-measurements/{kind}/{instance.pk}/.",
            field="source",
        )
    return LabRecordViewSet.update_service(self, instance, data, expected_version, actor)


def _measurement_viewset(model, serializer, number_fields: tuple[str, ...]):
    """A list/detail/create viewset for one simple measurement model."""
    filter_meta = type(
        "Meta",
        (),
        {
            "model": model,
            "fields": {
                "sample": ["exact"],
                "source": ["exact"],
                "data_file": ["exact"],
                **{name: ["exact", "gte", "lte"] for name in number_fields},
            },
        },
    )
    filterset = type(f"{model.__name__}Filter", (MeasurementFilter,), {"Meta": filter_meta})
    return type(
        f"{model.__name__}ViewSet",
        (LabRecordViewSet,),
        {
            "selector": staticmethod(
                lambda include_retired=False: selectors.measurement_list(
                    model, include_retired=include_retired
                )
            ),
            "serializer_class": serializer,
            "filterset_class": filterset,
            "search_fields": ["sample__code", "citation", "notes"],
            "ordering_fields": ["measured_at", "id", *number_fields],
            "ordering": ["id"],
            "create_service": _create_not_manual,
            "update_service": _update_not_manual,
            "__doc__": f"{model._meta.verbose_name_plural.capitalize()} of samples.",
        },
    )


TEMSizeViewSet = _measurement_viewset(
    TEMSizeMeasurement, s.TEMSizeSerializer, ("length_nm", "width_nm", "diameter_nm")
)
PLViewSet = _measurement_viewset(
    PLMeasurement, s.PLSerializer, ("peak_nm", "fwhm_nm", "fwhm_mev", "qy_pct")
)
AbsorptionViewSet = _measurement_viewset(
    AbsorptionMeasurement, s.AbsorptionSerializer, ("peak_1s_nm", "peak_1s_ev")
)
XRDViewSet = _measurement_viewset(XRDMeasurement, s.XRDSerializer, ("wavelength_a",))
FTIRViewSet = _measurement_viewset(FTIRMeasurement, s.FTIRSerializer, ("wavenumber_min_cm1",))
CompositionViewSet = _measurement_viewset(CompositionMeasurement, s.CompositionSerializer, ())
TEMImageViewSet = _measurement_viewset(
    TEMImageMeasurement, s.TEMImageSerializer, ("accelerating_voltage_kv", "magnification")
)
XASSpectrumViewSet = _measurement_viewset(
    XASSpectrum, s.XASSpectrumSerializer, ("temperature_k", "e0_ev")
)
ReportedQuantityViewSet = _measurement_viewset(
    ReportedQuantity, s.ReportedQuantitySerializer, ("value",)
)


class PLLifetimeViewSet(LabRecordViewSet):
    """PL decay fits with their exponential components."""

    selector = staticmethod(selectors.lifetime_list)
    serializer_class = s.PLLifetimeSerializer
    filterset_fields = ["sample", "source"]
    ordering = ["id"]

    def create_service(self, data, actor):
        components = [dict(c) for c in data.pop("components", [])]
        sample = data.pop("sample")
        return services.record_pl_lifetime(
            sample=sample, data=data, components=components, actor=actor
        )


class XASFitFilter(MeasurementFilter):
    edge = django_filters.CharFilter(method="filter_edge", help_text="e.g. 'Cd K'")
    scatterer = django_filters.CharFilter("paths__scatterer", distinct=True)

    class Meta:
        model = XASFit
        fields = ["sample", "source", "absorber", "edge_name", "spectrum", "is_stale"]

    def filter_edge(self, queryset, name, value):
        absorber, _, edge = value.strip().partition(" ")
        queryset = queryset.filter(absorber__iexact=absorber)
        return queryset.filter(edge_name__iexact=edge) if edge else queryset


class XASFitViewSet(LabRecordViewSet):
    """EXAFS fits (published as printed, or computed) with their paths."""

    selector = staticmethod(selectors.xas_fit_list)
    serializer_class = s.XASFitSerializer
    filterset_class = XASFitFilter
    search_fields = ["sample__code", "citation", "label", "software"]
    ordering_fields = ["id", "r_factor", "measured_at", "age_days"]
    ordering = ["id"]

    def create_service(self, data, actor):
        paths = [dict(p) for p in data.pop("paths", [])]
        sample = data.pop("sample")
        return services.record_xas_fit(sample=sample, data=data, paths=paths, actor=actor)

    def update_service(self, instance, data, expected_version, actor):
        if "paths" in data:
            raise DomainError(
                "paths: published paths are not edited in place; record a new "
                "fit and retire this one.",
                field="paths",
            )
        return super().update_service(instance, data, expected_version, actor)


# --- manual measurements ---------------------------------------------------------------------

LIST_ENDPOINT = {
    "qy": "pl-measurements",
    "pl": "pl-measurements",
    "absorption": "absorption-measurements",
    "tem": "tem-sizes",
    "quantity": "reported-quantities",
}


def _manual_out(measurement) -> dict:
    spec = services.manual_kind_of(measurement)
    entry = services.manual_entry_of(measurement)
    if entry.get("measured_on"):
        entry["measured_on"] = entry["measured_on"].isoformat()
    return s.ManualMeasurementSerializer(
        {
            "kind": spec.key,
            "id": measurement.pk,
            "version": measurement.version,
            "sample_id": measurement.sample_id,
            "source": measurement.source,
            "owner_id": measurement.owner_id,
            "created_at": measurement.created_at,
            "updated_at": measurement.updated_at,
            "is_retired": measurement.is_retired,
            "retired_reason": measurement.retired_reason,
            "entry": entry,
            "measurement_url": f"/api/{LIST_ENDPOINT[spec.key]}/{measurement.pk}/",
        }
    ).data


class ManualMeasurementCreateView(APIView):
    """Record a value typed in at the bench (QY, PL peak, 1S peak, TEM size, any quantity).

    Only the sample's owner and curators may add (403 otherwise). Bad values give 400 with
    ``errors`` naming every bad field; nothing is stored then.
    """

    @extend_schema(request=s.ManualCreateSerializer, responses={201: s.ManualMeasurementSerializer})
    def post(self, request):
        shape = s.ManualCreateSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        entry = dict(shape.validated_data)
        kind, sample = entry.pop("kind"), entry.pop("sample")
        measurement = services.record_manual_measurement(
            kind=kind, sample=sample, entry=entry, actor=request.user
        )
        return Response(_manual_out(measurement), status=status.HTTP_201_CREATED)


class ManualMeasurementDetailView(APIView):
    """Read, change (PATCH with ``version``; 409 if it changed) or retire (DELETE with
    ``?reason=&version=``) a manual measurement; changes by its author or a curator."""

    @staticmethod
    def _measurement(kind: str, pk: int):
        if kind not in services.MANUAL_KINDS:
            raise Http404(f"No manual measurement kind {kind!r}.")
        model = services.MANUAL_KINDS[kind].model
        queryset = selectors.measurement_list(model, include_retired=True)
        return get_object_or_404(queryset, pk=pk, source=DataSource.MANUAL, extra__manual_kind=kind)

    @extend_schema(responses={200: s.ManualMeasurementSerializer})
    def get(self, request, kind: str, pk: int):
        return Response(_manual_out(self._measurement(kind, pk)))

    @extend_schema(request=s.ManualUpdateSerializer, responses={200: s.ManualMeasurementSerializer})
    def patch(self, request, kind: str, pk: int):
        measurement = self._measurement(kind, pk)
        shape = s.ManualUpdateSerializer(data=request.data, partial=True)
        shape.is_valid(raise_exception=True)
        entry = dict(shape.validated_data)
        updated = services.update_manual_measurement(
            measurement=measurement,
            entry=entry,
            expected_version=entry.pop("version", None),
            actor=request.user,
        )
        return Response(_manual_out(updated))

    @extend_schema(responses={200: s.ManualMeasurementSerializer})
    def delete(self, request, kind: str, pk: int):
        measurement = self._measurement(kind, pk)
        body = request.data if hasattr(request.data, "get") else {}
        reason = request.query_params.get("reason") or body.get("reason") or ""
        raw_version = request.query_params.get("version") or body.get("version")
        try:
            version = int(raw_version) if raw_version not in (None, "") else None
        except (TypeError, ValueError):
            raise DomainError(
                "version: expected the record version number.", field="version"
            ) from None
        retired = services.retire_manual_measurement(
            measurement=measurement, reason=reason, expected_version=version, actor=request.user
        )
        return Response(_manual_out(retired))
