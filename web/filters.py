"""The sample list's search and filters: a GET form whose URL reproduces the view.

Shape only: each filter narrows the queryset of ``synthesis.selectors.sample_list()``; the
architecture of a sample is read from its layer roles (core, core/crown, core/shell,
core/crown/shell), the same vocabulary as the structure–property frame.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef

from synthesis import selectors as syn_selectors
from synthesis.enums import Morphology
from synthesis.models import Sample, SampleLayer, SynthesisRun

ARCHITECTURES = [
    ("core", "core only"),
    ("core/crown", "core/crown"),
    ("core/shell", "core/shell"),
    ("core/crown/shell", "core/crown/shell"),
]


def _has_role(role: str) -> Exists:
    return Exists(SampleLayer.objects.filter(sample=OuterRef("pk"), role=role))


def _owner_choices():
    users = get_user_model().objects.filter(is_active=True).order_by("username")
    return [(u.pk, u.get_username()) for u in users]


class SampleListFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search",
                                  help_text="Code, name or material (every word)")
    material = django_filters.CharFilter(field_name="material", lookup_expr="icontains",
                                         label="Material")
    morphology = django_filters.ChoiceFilter(choices=Morphology.choices, label="Morphology",
                                             empty_label="any")
    architecture = django_filters.ChoiceFilter(choices=ARCHITECTURES, method="filter_architecture",
                                               label="Architecture", empty_label="any")
    core_ml = django_filters.NumberFilter(method="filter_core_ml", label="Core thickness (ML)",
                                          widget=forms.NumberInput(attrs={"step": "0.5"}))
    owner = django_filters.ChoiceFilter(choices=_owner_choices, label="Owner",
                                             empty_label="anyone")
    date_after = django_filters.DateFilter(field_name="synthesis_date", lookup_expr="gte",
                                           label="Synthesised from",
                                           widget=forms.DateInput(attrs={"type": "date"}))
    date_before = django_filters.DateFilter(field_name="synthesis_date", lookup_expr="lte",
                                            label="Synthesised until",
                                            widget=forms.DateInput(attrs={"type": "date"}))

    class Meta:
        model = Sample
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # The API's ?search=, served by the search index (no LIKE scan at a million samples).
        return syn_selectors.search_samples(queryset, value)

    def filter_architecture(self, queryset, name, value):
        crown, shell = "crown" in value, "shell" in value
        queryset = queryset.filter(_has_role("core"))
        queryset = queryset.filter(_has_role("crown")) if crown else queryset.exclude(
            _has_role("crown"))
        return queryset.filter(_has_role("shell")) if shell else queryset.exclude(
            _has_role("shell"))

    def filter_core_ml(self, queryset, name, value):
        return queryset.filter(Exists(SampleLayer.objects.filter(
            sample=OuterRef("pk"), role="core", thickness_ml=value)))


# --- the run list ---------------------------------------------------------------------------

def _recipe_choices():
    from synthesis.models import Recipe

    recipes = Recipe.objects.filter(is_retired=False).order_by("name", "version_number")
    return [(r.pk, f"{r.name} (v{r.version_number})") for r in recipes]


def run_list_queryset():
    """Runs for a list page: recipe, operator and products, newest first.

    "Newest" is when the run was performed (``started_at``), or when it was logged
    (``created_at``) if no start time was recorded; ties by newest id.
    """
    from django.db.models.functions import Coalesce

    from synthesis import selectors

    return (selectors.run_list().prefetch_related(None)
            .select_related("recipe", "operator").prefetch_related("products")
            .annotate(performed_at=Coalesce("started_at", "created_at"))
            .order_by("-performed_at", "-id"))


class RunListFilter(django_filters.FilterSet):
    recipe = django_filters.ChoiceFilter(choices=_recipe_choices, field_name="recipe_id",
                                         label="Recipe", empty_label="any recipe")
    operator = django_filters.ChoiceFilter(choices=_owner_choices, field_name="operator_id",
                                           label="Operator", empty_label="anyone")
    product = django_filters.CharFilter(method="filter_product", label="Product (sample code)",
                                        help_text="Part of a product's code, e.g. MSC-311")
    date_after = django_filters.DateFilter(field_name="performed_at", lookup_expr="date__gte",
                                           label="Performed from",
                                           widget=forms.DateInput(attrs={"type": "date"}))
    date_before = django_filters.DateFilter(field_name="performed_at", lookup_expr="date__lte",
                                            label="Performed until",
                                            widget=forms.DateInput(attrs={"type": "date"}))

    class Meta:
        model = SynthesisRun
        fields: list[str] = []

    def filter_product(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Exists(Sample.objects.filter(
            produced_by=OuterRef("pk"), code__icontains=value, is_retired=False)))
