"""Synthesis API viewsets: validate shape, call one service or selector, serialize."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.response import Response

from labdb.lib.errors import DomainError
from labdb.lib.filters import IdFilter
from labdb.lib.pagination import CappedCountPagination
from labdb.lib.viewsets import LabRecordViewSet, include_retired
from synthesis import selectors, services
from synthesis.api import serializers as s
from synthesis.models import (
    Recipe,
    RecipeStep,
    RunStep,
    Sample,
    SampleLayer,
    SampleParent,
    SynthesisRun,
)


class SampleFilter(django_filters.FilterSet):
    core_ml = django_filters.NumberFilter(
        method="filter_core_ml", help_text="Core thickness in monolayers, e.g. 4.5"
    )
    core_ml_min = django_filters.NumberFilter(method="filter_core_ml_min")
    core_ml_max = django_filters.NumberFilter(method="filter_core_ml_max")
    synthesis_date_after = django_filters.DateFilter("synthesis_date", lookup_expr="gte")
    synthesis_date_before = django_filters.DateFilter("synthesis_date", lookup_expr="lte")
    layer_material = django_filters.CharFilter(method="filter_layer_material")
    parent = IdFilter("parent_links__parent")

    class Meta:
        model = Sample
        fields = ["material", "morphology", "crystal_phase", "is_reference", "owner", "code"]

    def _core(self, queryset, **lookup):
        # EXISTS, not ``pk IN (…)``: SQLite drives an IN from its ~30 % of the samples and sorts
        # them all for a page (64 ms at 100k); EXISTS keeps the page on the code index, probed
        # per row through layer_role_thickness (0.4 ms). benchmarks/api_latency.py
        return queryset.filter(Exists(SampleLayer.objects.filter(
            sample_id=OuterRef("pk"), role="core", **lookup)))

    def filter_core_ml(self, queryset, name, value):
        return self._core(queryset, thickness_ml=value)

    def filter_core_ml_min(self, queryset, name, value):
        return self._core(queryset, thickness_ml__gte=value)

    def filter_core_ml_max(self, queryset, name, value):
        return self._core(queryset, thickness_ml__lte=value)

    def filter_layer_material(self, queryset, name, value):
        return queryset.filter(
            pk__in=SampleLayer.objects.filter(material__iexact=value).values("sample_id")
        )


class SampleSearchFilter(SearchFilter):
    """``?search=``: every term a substring of code, name or material, found through the
    search index (selectors.search_samples) instead of a ``LIKE '%…%'`` scan."""

    search_description = ("Terms (separated by spaces or commas) that must all occur, "
                          "case-insensitively, in the code, name or material.")

    def filter_queryset(self, request, queryset, view):
        query = request.query_params.get(self.search_param, "")
        return selectors.search_samples(queryset, query,
                                        include_retired=include_retired(request))


class SampleViewSet(LabRecordViewSet):
    """Samples with their layer stack and parents. ``/lineage/`` gives ancestors+descendants."""
    json_body_fields = ("layers", "parents")

    selector = staticmethod(selectors.sample_list)
    serializer_class = s.SampleSerializer
    filterset_class = SampleFilter
    filter_backends = [DjangoFilterBackend, SampleSearchFilter, OrderingFilter]
    # The columns of the search index (not notes or external_origin: a free-text LIKE scan of
    # them made each page's COUNT(*) too slow at 100k samples, benchmarks/api_latency.py).
    search_fields = list(selectors.SAMPLE_SEARCH_COLUMNS)
    # A broad search over a million samples must not be counted to the end (issue 16).
    pagination_class = CappedCountPagination
    ordering_fields = ["code", "name", "synthesis_date", "created_at"]
    ordering = ["code"]

    def create_service(self, data, actor):
        layers = data.pop("layers", [])
        parents = data.pop("parent_links", [])
        return services.create_sample(data=data, layers=layers, parents=parents, actor=actor)

    def update_service(self, instance, data, expected_version, actor):
        layers = data.pop("layers", None)
        parents = data.pop("parent_links", None)
        return services.update_sample(
            sample=instance,
            expected_version=expected_version,
            changes=data,
            layers=layers,
            parents=parents,
            actor=actor,
        )

    def get_queryset(self):
        if self.action == "lineage":  # the lineage selector reads the graph itself
            return Sample.objects.filter(is_retired=False)
        if self.action in ("list", "retrieve"):  # reads: only what the serializer shows
            return selectors.sample_api_list(include_retired=include_retired(self.request))
        return super().get_queryset()

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def lineage(self, request, pk=None):
        """Ancestors and descendants of this sample with depth and the edges between them."""
        lineage = selectors.sample_lineage(self.get_object())

        def rows(items):
            return [{"id": x.pk, "code": x.code, "name": x.name, "depth": d} for x, d in items]

        return Response(
            {
                "ancestors": rows(lineage["ancestors"]),
                "descendants": rows(lineage["descendants"]),
                "edges": [
                    {"parent": e.parent_id, "child": e.child_id, "process": e.process}
                    for e in lineage["edges"]
                ],
            }
        )


class RecipeFilter(django_filters.FilterSet):
    max_setpoint_c_min = django_filters.NumberFilter("max_setpoint_c", lookup_expr="gte")
    max_setpoint_c_max = django_filters.NumberFilter("max_setpoint_c", lookup_expr="lte")

    class Meta:
        model = Recipe
        fields = ["slug", "is_current", "paper"]


class RecipeViewSet(LabRecordViewSet):
    """Versioned recipes. Editing a recipe that runs used creates a new version."""
    json_body_fields = ("steps",)

    selector = staticmethod(selectors.recipe_list)
    serializer_class = s.RecipeSerializer
    filterset_class = RecipeFilter
    search_fields = ["name", "slug", "description", "product_description"]
    ordering_fields = ["slug", "version_number", "created_at"]
    ordering = ["slug", "-version_number"]

    @staticmethod
    def _steps(data):
        steps = data.pop("steps", None)
        if steps is None:
            return None
        out = []
        for step in steps:
            step = dict(step)
            additions = []
            for addition in step.pop("additions", []):
                addition = dict(addition)
                if "input_name" in addition:
                    addition["input"] = addition.pop("input_name")
                additions.append(addition)
            step["additions"] = additions
            out.append(step)
        return out

    def create_service(self, data, actor):
        inputs = data.pop("inputs", [])
        steps = self._steps(data) or []
        return services.create_recipe(data=data, inputs=inputs, steps=steps, actor=actor)

    def update_service(self, instance, data, expected_version, actor):
        if "inputs" in data:
            raise DomainError(
                "inputs: a recipe's inputs cannot be changed; create a new recipe.", field="inputs"
            )
        steps = self._steps(data)
        return services.revise_recipe(
            recipe=instance,
            expected_version=expected_version,
            changes=data,
            steps=steps,
            actor=actor,
        )


class RunFilter(django_filters.FilterSet):
    max_setpoint_c_min = django_filters.NumberFilter(
        "max_setpoint_c", lookup_expr="gte", help_text="Runs with a set point ≥ this (°C)."
    )
    max_setpoint_c_max = django_filters.NumberFilter("max_setpoint_c", lookup_expr="lte")
    started_after = django_filters.IsoDateTimeFilter("started_at", lookup_expr="gte")
    started_before = django_filters.IsoDateTimeFilter("started_at", lookup_expr="lte")
    recipe_slug = django_filters.CharFilter("recipe__slug")

    class Meta:
        model = SynthesisRun
        fields = ["recipe", "operator"]


class SynthesisRunViewSet(LabRecordViewSet):
    """Runs as performed: recipe version, actual steps, deviations, products."""
    json_body_fields = ("steps",)

    selector = staticmethod(selectors.run_list)
    serializer_class = s.SynthesisRunSerializer
    filterset_class = RunFilter
    search_fields = ["code", "observations", "recipe__name", "operator_name"]
    ordering_fields = ["started_at", "code"]
    ordering = ["-started_at", "code"]

    def create_service(self, data, actor):
        recipe = data.pop("recipe")
        inputs = data.pop("inputs", {})
        actual = {item.pop("position"): item for item in map(dict, data.pop("actual_steps", []))}
        products = []
        for product in data.pop("new_products", []):
            product = dict(product)
            products.append(
                {
                    "process": product.pop("process", "other"),
                    "layers": product.pop("layers", []),
                    "data": product,
                }
            )
        return services.record_synthesis_run(
            data=data,
            recipe=recipe,
            inputs=inputs,
            actual_steps=actual,
            products=products,
            actor=actor,
        )

    def update_service(self, instance, data, expected_version, actor):
        for name in ("inputs", "new_products", "recipe"):
            if name in data:
                raise DomainError(
                    f"{name}: cannot be changed after the run was recorded.", field=name
                )
        steps = {item.pop("position"): item for item in map(dict, data.pop("actual_steps", []))}
        return services.update_run(
            run=instance,
            expected_version=expected_version,
            changes=data,
            steps=steps,
            actor=actor,
        )


class ChemicalViewSet(LabRecordViewSet):
    selector = staticmethod(selectors.chemical_list)
    serializer_class = s.ChemicalSerializer
    filterset_fields = ["supplier", "grade", "cas"]
    search_fields = ["name", "formula", "cas", "supplier"]
    ordering_fields = ["name", "supplier"]
    ordering = ["name"]

    def update_service(self, instance, data, expected_version, actor):
        return services.update_chemical(
            chemical=instance, expected_version=expected_version, changes=data, actor=actor
        )


class ChemicalLotViewSet(LabRecordViewSet):
    selector = staticmethod(selectors.lot_list)
    serializer_class = s.ChemicalLotSerializer
    filterset_fields = {
        "chemical": ["exact"],
        "received_on": ["gte", "lte"],
        "quantity_canonical": ["gte", "lte"],
    }
    search_fields = ["lot_number", "chemical__name", "location"]
    ordering_fields = ["received_on", "lot_number"]
    ordering = ["lot_number"]

    def update_service(self, instance, data, expected_version, actor):
        return services.update_chemical_lot(
            lot=instance, expected_version=expected_version, changes=data, actor=actor
        )


class StockSolutionViewSet(LabRecordViewSet):
    json_body_fields = ("components",)
    selector = staticmethod(selectors.stock_list)
    serializer_class = s.StockSolutionSerializer
    filterset_fields = {"concentration_canonical": ["gte", "lte"], "solvent": ["exact"]}
    search_fields = ["code", "name", "notes"]
    ordering_fields = ["code", "prepared_at"]
    ordering = ["code"]
    nested_fields = ("components",)

    def create_service(self, data, actor):
        components = [dict(c) for c in data.pop("components", [])]
        return services.create_stock_solution(data=data, components=components, actor=actor)

    def update_service(self, instance, data, expected_version, actor):
        components = data.pop("components", None)
        return services.update_stock_solution(
            stock=instance,
            expected_version=expected_version,
            changes=data,
            components=[dict(c) for c in components] if components is not None else None,
            actor=actor,
        )


class PaperViewSet(LabRecordViewSet):
    selector = staticmethod(selectors.paper_list)
    serializer_class = s.PaperSerializer
    search_fields = ["key", "title", "doi"]
    ordering = ["key"]


class DataFlagViewSet(LabRecordViewSet):
    """Flags on records (e.g. inconsistencies in a paper). Any member raises one (POST); its
    author edits kind, location and message; only curators change ``status`` (acknowledge,
    resolve, reopen) or the ``annotation`` — anyone else gets 403 with a sentence."""

    selector = staticmethod(selectors.flag_list)
    serializer_class = s.DataFlagSerializer
    filterset_fields = ["kind", "status", "content_type__model", "object_id"]
    search_fields = ["location", "message", "annotation"]
    ordering = ["id"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    @extend_schema(request=s.DataFlagCreateSerializer, responses={201: s.DataFlagSerializer})
    def create(self, request, *args, **kwargs):
        shape = s.DataFlagCreateSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        flag = services.raise_flag(**shape.validated_data, actor=request.user)
        return Response(s.DataFlagSerializer(flag).data, status=status.HTTP_201_CREATED)

    def update_service(self, instance, data, expected_version, actor):
        return services.update_flag(flag=instance, expected_version=expected_version,
                                    changes=data, actor=actor)


class _ReadOnly(viewsets.ReadOnlyModelViewSet):
    """Child rows are written through their parent record (with its version check)."""


class SampleLayerViewSet(_ReadOnly):
    queryset = SampleLayer.objects.select_related("sample").order_by("sample_id", "position")
    serializer_class = s.SampleLayerSerializer
    filterset_fields = {
        "sample": ["exact"],
        "role": ["exact"],
        "material": ["exact"],
        "thickness_ml": ["exact", "gte", "lte"],
    }


class SampleParentViewSet(_ReadOnly):
    queryset = SampleParent.objects.select_related("parent", "child").order_by("id")
    serializer_class = s.SampleParentSerializer
    filterset_fields = ["child", "parent", "process"]


class RecipeStepViewSet(_ReadOnly):
    queryset = RecipeStep.objects.prefetch_related("additions__recipe_input").order_by(
        "recipe_id", "position"
    )
    serializer_class = s.RecipeStepSerializer
    filterset_fields = {
        "recipe": ["exact"],
        "action": ["exact"],
        "setpoint_c": ["gte", "lte"],
        "duration_s": ["gte", "lte"],
        "injection_rate_ml_per_h": ["gte", "lte"],
    }


class RunStepViewSet(_ReadOnly):
    queryset = RunStep.objects.prefetch_related("additions").order_by("run_id", "position")
    serializer_class = s.RunStepSerializer
    filterset_fields = {"run": ["exact"], "action": ["exact"], "setpoint_c": ["gte", "lte"]}
