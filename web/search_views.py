"""The header search box's results page and the synthesis run list. Thin: one read each."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from labdb.lib.errors import LabdbError
from web import search as search_index
from web.filters import RunListFilter, run_list_queryset

SEARCH_LIMIT = 100
RUNS_PER_PAGE = 50


def hit_url(hit: search_index.Hit) -> str:
    """Where a hit leads: the record's page in the web UI, else its API page."""
    record = hit.record
    if hit.kind == "sample":
        return reverse("web:sample-detail", args=[hit.pk])
    if hit.kind == "run":
        return reverse("web:run-detail", args=[hit.pk])
    if hit.kind == "recipe":
        return reverse("web:recipe-detail", args=[hit.pk])
    if hit.kind == "chemical":
        return reverse("web:chemical-list") + f"#chemical-{hit.pk}"
    if hit.kind == "lot":
        return reverse("web:lot-list") + f"#lot-{hit.pk}"
    if record.sample_id:
        return reverse("web:sample-detail", args=[record.sample_id]) + "#files"
    return reverse("datafile-detail", args=[hit.pk])  # a file on no sample: its API record


@login_required
@require_GET
def search(request):
    query = request.GET.get("q", "").strip()
    error, groups, total = "", [], 0
    try:
        hits = search_index.search(query, limit=SEARCH_LIMIT)
    except LabdbError as exc:
        error, hits = exc.message, []
    for kind, items in search_index.grouped(hits):
        groups.append((kind, [(hit, hit_url(hit)) for hit in items]))
        total += len(items)
    return render(request, "web/search/results.html", {
        "q": query, "groups": groups, "total": total, "error": error,
        "limit": SEARCH_LIMIT}, status=400 if error else 200)


@login_required
@require_GET
def run_list(request):
    filterset = RunListFilter(request.GET or None, queryset=run_list_queryset())
    valid = not filterset.is_bound or filterset.is_valid()
    # A bad filter lists nothing (with the field's error) rather than silently ignoring it.
    paginator = Paginator(filterset.qs if valid else filterset.queryset.none(), RUNS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "web/run_list.html", {
        "filter": filterset, "page_obj": page, "query": query.urlencode(), "invalid": not valid},
        status=200 if valid else 400)
