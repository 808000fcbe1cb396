"""Fit-run endpoints: queue fits and refits, follow them, plot and compare fits."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.response import Response

from analysis import selectors, services
from analysis.models import FitDataset, FitRun
from analysis.services import fit_plots
from characterization.models import XASFit, XASSpectrum
from labdb.lib.errors import DomainError
from labdb.lib.viewsets import include_retired


class FitDatasetSerializer(serializers.ModelSerializer):
    """One spectrum of a fit run, with its own statistics once the fit is stored."""

    class Meta:
        model = FitDataset
        fields = (
            "position",
            "dataset_id",
            "spectrum",
            "input_sha256",
            "chi_square",
            "reduced_chi2",
            "r_factor",
            "n_idp",
            "k_min",
            "k_max",
            "r_min_a",
            "r_max_a",
        )
        read_only_fields = fields


class FitRunSerializer(serializers.ModelSerializer):
    result: serializers.PrimaryKeyRelatedField[XASFit]
    result = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="The XAS fit this run stored (null for a reproduction)."
    )
    reproduction_of: serializers.PrimaryKeyRelatedField[XASFit]
    reproduction_of = serializers.PrimaryKeyRelatedField(
        source="reproduces",
        read_only=True,
        allow_null=True,
        help_text="The stored fit this run reproduced (same model, raw files and engine).",
    )
    datasets = FitDatasetSerializer(many=True, read_only=True, help_text="Spectra fitted.")
    provenance = serializers.SerializerMethodField(help_text="Provenance of the resulting fit.")
    model = serializers.JSONField(
        source="ordered_model", read_only=True,
        help_text="The fit model as given (docs/fit-model.md), parameters in their given order.",
    )

    class Meta:
        model = FitRun
        fields = (
            "id",
            "status",
            "progress_pct",
            "spectrum",
            "datasets",
            "refit_of",
            "result",
            "reproduction_of",
            "reproduced_exactly",
            "reproduction_differences",
            "fit_version",
            "previous_version",
            "version_changes",
            "model",
            "model_hash",
            "input_sha256",
            "idempotency_key",
            "attempts",
            "queued_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "worker",
            "elapsed_s",
            "error",
            "log",
            "provenance",
        )
        read_only_fields = fields

    def get_provenance(self, run) -> dict:
        if run.result_id:
            return run.result.provenance
        return run.reproduces.provenance if run.reproduces_id else {}


class FitRunRequestSerializer(serializers.Serializer):
    spectrum = serializers.PrimaryKeyRelatedField(
        queryset=XASSpectrum.objects.all(), required=False
    )
    model = serializers.JSONField(
        required=False, help_text="Fit model (docs/fit-model.md) plus a 'feff' section."
    )
    refit = serializers.PrimaryKeyRelatedField(
        queryset=XASFit.objects.all(), required=False, help_text="Re-run this computed fit."
    )
    force = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if bool(attrs.get("refit")) == bool(attrs.get("spectrum") or attrs.get("model")):
            raise serializers.ValidationError(
                "send either {spectrum, model} or {refit}, not both or neither"
            )
        if not attrs.get("refit") and not attrs.get("model"):
            raise serializers.ValidationError(
                "a new fit needs a model (and a spectrum, unless every model dataset names "
                "its own 'spectrum')"
            )
        return attrs


class FitRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Background XAS fit jobs. POST queues one; GET follows status and gives the result id."""

    serializer_class = FitRunSerializer
    filterset_fields = ["status", "spectrum", "refit_of", "result"]
    ordering = ["-queued_at"]

    def get_queryset(self):
        return selectors.fit_run_list(include_retired=include_retired(self.request))

    def list(self, request, *args, **kwargs):
        services.reap_stale_runs()
        return super().list(request, *args, **kwargs)

    def retrieve(self, request, *args, **kwargs):
        services.reap_stale_runs()
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(request=FitRunRequestSerializer, responses={201: FitRunSerializer})
    def create(self, request):
        shape = FitRunRequestSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        data = shape.validated_data
        if data.get("refit"):
            run = services.request_refit(fit=data["refit"], actor=request.user)
        else:
            run = services.request_fit_run(
                spectrum=data.get("spectrum"),
                model=data["model"],
                actor=request.user,
                force=data["force"],
            )
        run.refresh_from_db()
        if services.dispatch_pending(run):  # saved as queued; the broker sweep re-sends it
            return Response(
                {"id": run.pk, "status": services.BROKER_UNAVAILABLE, "result": None},
                status=status.HTTP_202_ACCEPTED,
            )
        return Response(
            {
                "id": run.pk,
                "status": run.status,
                "result": run.result_id,
                "reproduction_of": run.reproduces_id,
                "reproduced_exactly": run.reproduced_exactly,
            },
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=None, responses={201: dict})
    @action(detail=False, methods=["post"], url_path="refit-stale")
    def refit_stale(self, request):
        """Flag stale computed fits and queue a refit of each."""
        runs = services.refit_stale(actor=request.user)
        return Response(
            {"queued": [{"id": r.pk, "status": r.status} for r in runs]},
            status=status.HTTP_201_CREATED,
        )


def _cached_response(plot) -> HttpResponse:
    if plot.not_modified:
        response = HttpResponse(status=304)
        response["ETag"] = plot.etag
        response["Cache-Control"] = "private, no-cache"
        return response
    response = HttpResponse(plot.content, content_type=plot.content_type)
    response["ETag"] = plot.etag
    # Keys change with the fit's version; the browser revalidates, the server never redraws.
    response["X-Labdb-Plot-Cache"] = "miss" if plot.computed else "hit"
    response["Cache-Control"] = "private, no-cache"
    return response


@extend_schema(
    parameters=[OpenApiParameter("kind", str, enum=["mu", "chik", "chir"])],
    responses={(200, "image/png"): bytes, (200, "image/svg+xml"): bytes},
)
@api_view(["GET"])
def fit_plot(request, pk: int, fmt: str):
    """Image of a computed fit: normalized μ(E), k^w·χ(k) or |χ(R)|, data vs model (cached)."""
    try:
        plot = fit_plots.fit_plot_image(
            fit_id=pk, kind=request.query_params.get("kind", "chir"), fmt=fmt
        )
    except fit_plots.FitNotFound as exc:
        return Response(exc.as_dict(), status=404)
    return _cached_response(plot)


@extend_schema(responses={(200, "application/json"): dict})
@api_view(["GET"])
def fit_plot_data(request, pk: int):
    """Arrays behind a computed fit's plots (μ(E), χ(k) and |χ(R)|, data and model), cached.

    χ(k) is unweighted with the fit's k-weight given, so clients can apply any k-weight.
    """
    try:
        plot = fit_plots.fit_plot_data(fit_id=pk, etag=request.headers.get("If-None-Match"))
        return _cached_response(plot)
    except fit_plots.FitNotFound as exc:
        return Response(exc.as_dict(), status=404)


@extend_schema(
    parameters=[OpenApiParameter("computed", int), OpenApiParameter("published", int)],
    responses={200: dict},
)
@api_view(["GET"])
def fit_comparison(request):
    """Computed vs published fit: per path and parameter, the difference in combined errors."""
    try:
        computed = XASFit.objects.get(pk=int(request.query_params["computed"]))
        published = XASFit.objects.get(pk=int(request.query_params["published"]))
    except (KeyError, ValueError, XASFit.DoesNotExist):
        raise DomainError(
            "computed, published: give the ids of two XAS fits.", field="computed"
        ) from None
    return Response(
        {
            "computed": computed.pk,
            "published": published.pk,
            "rows": selectors.compare_fits(computed, published),
        }
    )


urlpatterns = [
    path("fit-runs/", FitRunViewSet.as_view({"get": "list", "post": "create"}), name="fitrun-list"),
    path(
        "fit-runs/refit-stale/",
        FitRunViewSet.as_view({"post": "refit_stale"}),
        name="fitrun-refit-stale",
    ),
    path("fit-runs/<int:pk>/", FitRunViewSet.as_view({"get": "retrieve"}), name="fitrun-detail"),
    path("xas-fits/<int:pk>/plot.png", fit_plot, {"fmt": "png"}, name="xasfit-plot-png"),
    path("xas-fits/<int:pk>/plot.svg", fit_plot, {"fmt": "svg"}, name="xasfit-plot-svg"),
    path("xas-fits/<int:pk>/plot-data.json", fit_plot_data, name="xasfit-plot-data"),
    path("fit-comparison/", fit_comparison, name="fit-comparison"),
]
