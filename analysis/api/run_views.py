"""Analysis runs of every kind: ``/api/analysis-runs/`` (list, create, detail, rerun) and
``/api/analysis-runs/kinds/`` (what each kind takes). Fit runs appear as kind ``exafs_fit``;
``/api/fit-runs/`` keeps working beside it."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from analysis.enums import RunStatus
from analysis.kinds.base import get_kind
from analysis.models import AnalysisRun
from analysis.selectors.runs import analysis_run_list, describe_kinds, staleness_by_run
from analysis.services import runs as run_services
from labdb.lib.errors import DomainError
from labdb.lib.viewsets import include_retired


def _kind_label(run: AnalysisRun) -> str:
    try:
        return get_kind(run.kind).label
    except KeyError:
        return run.kind


def _summary(run: AnalysisRun) -> str:
    try:
        return get_kind(run.kind).summary(run)
    except KeyError:
        return ""


LIST_FIELDS: tuple[str, ...] = (
    "id", "kind", "kind_label", "status", "progress_pct", "inputs", "spectrum",
    "engine_name", "engine_version", "summary", "stale", "refit_of_run",
    "requested_by", "queued_at", "started_at", "finished_at", "elapsed_s", "error",
)
DETAIL_FIELDS: tuple[str, ...] = (
    *LIST_FIELDS, "parameters", "log", "output", "provenance", "records", "repeat", "fit",
    "attempts", "worker",
)


class AnalysisRunSerializer(serializers.ModelSerializer):
    """A run in the list: kind, inputs, status, one-line summary, staleness."""

    kind_label = serializers.SerializerMethodField(help_text="The kind as the UI names it.")
    summary = serializers.SerializerMethodField(help_text="One line about the result.")
    stale = serializers.SerializerMethodField(
        help_text="Why the result no longer matches its inputs or engine ('' when current)."
    )
    requested_by: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = AnalysisRun
        fields = LIST_FIELDS
        read_only_fields = LIST_FIELDS

    def get_kind_label(self, run: AnalysisRun) -> str:
        return _kind_label(run)

    def get_summary(self, run: AnalysisRun) -> str:
        return _summary(run)

    def get_stale(self, run: AnalysisRun) -> str:
        known = self.context.get("staleness") or {}
        if run.pk in known:
            return known[run.pk]
        return run_services.staleness_of_run(run) if run.status == RunStatus.SUCCEEDED else ""


class AnalysisRunDetailSerializer(AnalysisRunSerializer):
    """A run in full: parameters, log, output, provenance, records created."""

    records = serializers.SerializerMethodField(help_text="[{type, id, label}] created.")
    repeat = serializers.SerializerMethodField(
        help_text="True when this request returned an identical earlier run."
    )
    fit = serializers.SerializerMethodField(help_text="EXAFS fit: the XASFit id it stored.")
    provenance = serializers.SerializerMethodField(
        help_text="kind, engine, software, parameters, inputs (with sha256), who and when."
    )

    class Meta(AnalysisRunSerializer.Meta):
        fields = DETAIL_FIELDS
        read_only_fields = DETAIL_FIELDS

    def get_records(self, run: AnalysisRun) -> list[dict]:
        return run_services.run_records(run)

    def get_repeat(self, run: AnalysisRun) -> bool:
        return bool(getattr(run, "repeat", False))

    def get_provenance(self, run: AnalysisRun) -> dict:
        return run_services.run_provenance(run)

    def get_fit(self, run: AnalysisRun) -> int | None:
        return run.result_id or run.reproduces_id


class AnalysisRunRequestSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="A kind name from /api/analysis-runs/kinds/.")
    inputs = serializers.DictField(
        child=serializers.JSONField(), required=False, default=dict,
        help_text="{role: id or [ids]} of stored records (see the kind's input roles).",
    )
    parameters = serializers.JSONField(
        required=False, default=dict, help_text="The kind's parameters (its JSON schema)."
    )


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise DomainError(f"{name}: expected an id, got {raw!r}.", field=name) from None


class AnalysisRunViewSet(viewsets.GenericViewSet):
    """Analysis runs of every kind. POST queues one (202); GET follows it."""

    serializer_class = AnalysisRunSerializer
    queryset = AnalysisRun.objects.none()
    filter_backends: list = []

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str), OpenApiParameter("status", str, enum=RunStatus.values),
            OpenApiParameter("sample", int, description="Runs with an input of this sample."),
        ],
        responses={200: AnalysisRunSerializer(many=True)},
    )
    def list(self, request: Request) -> Response:
        qs = analysis_run_list(
            kind=request.query_params.get("kind") or None,
            status=request.query_params.get("status") or None,
            sample=_int_param(request, "sample"),
            include_retired=include_retired(request),
        )
        page = self.paginate_queryset(qs)
        runs = list(page if page is not None else qs)
        context = {**self.get_serializer_context(), "staleness": staleness_by_run(runs)}
        data = AnalysisRunSerializer(runs, many=True, context=context).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    @extend_schema(responses={200: AnalysisRunDetailSerializer})
    def retrieve(self, request: Request, pk: int) -> Response:
        run = get_object_or_404(analysis_run_list(include_retired=True), pk=pk)
        return Response(AnalysisRunDetailSerializer(run, context={"request": request}).data)

    @extend_schema(request=AnalysisRunRequestSerializer,
                   responses={202: AnalysisRunDetailSerializer})
    def create(self, request: Request) -> Response:
        shape = AnalysisRunRequestSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        data = shape.validated_data
        run = run_services.request_run(
            kind=data["kind"], inputs=data["inputs"], parameters=data["parameters"],
            actor=request.user,
        )
        return _accepted(run, request)

    @extend_schema(request=None, responses={202: AnalysisRunDetailSerializer})
    def rerun(self, request: Request, pk: int) -> Response:
        run = get_object_or_404(AnalysisRun.objects.filter(is_retired=False), pk=pk)
        return _accepted(run_services.request_rerun(run=run, actor=request.user), request)


def _accepted(run: AnalysisRun, request: Request) -> Response:
    repeat = run.repeat
    run = analysis_run_list(include_retired=True).get(pk=run.pk)
    run.repeat = repeat
    body = AnalysisRunDetailSerializer(run, context={"request": request}).data
    return Response(body, status=status.HTTP_202_ACCEPTED)


_KIND_SCHEMA = inline_serializer(
    "AnalysisKind",
    many=True,
    fields={
        "name": serializers.CharField(),
        "label": serializers.CharField(),
        "engine": serializers.DictField(),
        "inputs": serializers.ListField(child=serializers.DictField()),
        "parameters_schema": serializers.DictField(),
    },
)


class AnalysisKindViewSet(viewsets.ViewSet):
    """Every kind of analysis run: name, label, engine, input roles, parameters' JSON schema."""

    @extend_schema(responses={200: _KIND_SCHEMA})
    def list(self, request: Request) -> Response:
        data: list[dict[str, Any]] = describe_kinds()
        return Response(data)


urlpatterns = [
    path("analysis-runs/", AnalysisRunViewSet.as_view({"get": "list", "post": "create"}),
         name="analysisrun-list"),
    path("analysis-runs/kinds/", AnalysisKindViewSet.as_view({"get": "list"}),
         name="analysisrun-kinds"),
    path("analysis-runs/<int:pk>/", AnalysisRunViewSet.as_view({"get": "retrieve"}),
         name="analysisrun-detail"),
    path("analysis-runs/<int:pk>/rerun/", AnalysisRunViewSet.as_view({"post": "rerun"}),
         name="analysisrun-rerun"),
]
