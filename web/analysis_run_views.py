"""Pages of analysis runs of every kind: the one list, the start page of a kind, the run page.

Thin: the list and run read through ``analysis.selectors.runs``; starting and re-running go
through ``analysis.services.runs`` (the kinds' own start forms POST to /api/analysis-runs/).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import ValidationError

from analysis.enums import RunStatus
from analysis.kinds.base import AnalysisKind, all_kinds, get_kind
from analysis.models import AnalysisRun
from analysis.selectors.runs import analysis_run_list, describe_kind, staleness_by_run
from analysis.services import runs as run_services
from labdb.lib.errors import LabdbError

PAGE_SIZE = 50


def _kind_or_404(name: str) -> AnalysisKind:
    try:
        return get_kind(name)
    except KeyError:
        raise Http404(f"no analysis kind {name!r}") from None


def _row(run: AnalysisRun, stale: dict[int, str]) -> dict[str, Any]:
    try:
        kind = get_kind(run.kind)
        label, summary = kind.label, kind.summary(run)
    except KeyError:
        label, summary = run.kind, ""
    inputs = run.inputs or (
        [{"role": "spectrum", "label": str(run.spectrum)}] if run.spectrum_id else [])
    return {"run": run, "label": label, "summary": summary, "stale": stale.get(run.pk, ""),
            "inputs": inputs}


@login_required
@require_GET
def analysis_runs(request: HttpRequest) -> HttpResponse:
    """Every run of every kind (filter by kind and status), newest first."""
    kind, status = request.GET.get("kind") or None, request.GET.get("status") or None
    page = Paginator(analysis_run_list(kind=kind, status=status), PAGE_SIZE).get_page(
        request.GET.get("page"))
    page_runs = list(page.object_list)
    stale = staleness_by_run(page_runs)
    return render(request, "web/analysis_runs.html", {
        "page_obj": page, "rows": [_row(run, stale) for run in page_runs],
        "kinds": all_kinds(), "kind": kind, "status": status, "statuses": RunStatus.values,
    })


@login_required
@require_GET
def analysis_run_new(request: HttpRequest, kind: str) -> HttpResponse:
    """The start page of ``kind``: its own form, or a plain form of roles and parameters."""
    kind_obj = _kind_or_404(kind)
    description = describe_kind(kind_obj)
    return render(request, "web/analysis_run_new.html", {
        "kind": kind_obj, "run": None, "description": description,
        "schema_json": json.dumps(description["parameters_schema"], indent=2, ensure_ascii=False),
        "parameters_text": request.GET.get("parameters", "{}"),
    })


def _form_inputs(request: HttpRequest, kind: AnalysisKind) -> dict[str, Any]:
    """``{role: id | [ids]}`` from the plain form (ids separated by commas or spaces)."""
    out: dict[str, Any] = {}
    for role in kind.inputs:
        raw = request.POST.get(f"input_{role.name}", "").replace(",", " ").split()
        if not raw:
            continue
        ids: list[Any] = [int(p) if p.isdigit() else p for p in raw]
        out[role.name] = ids if role.many else ids[0]
    return out


def _error_text(exc: Exception) -> str:
    if isinstance(exc, LabdbError):
        return exc.message
    detail = exc.detail if isinstance(exc, ValidationError) else str(exc)
    return json.dumps(detail, ensure_ascii=False) if not isinstance(detail, str) else detail


@login_required
@require_POST
def analysis_run_start(request: HttpRequest, kind: str) -> HttpResponse:
    """Start a run from the plain form (kinds with their own form POST to the API)."""
    kind_obj = _kind_or_404(kind)
    try:
        parameters = json.loads(request.POST.get("parameters") or "{}")
        run = run_services.request_run(
            kind=kind_obj.name, inputs=_form_inputs(request, kind_obj),
            parameters=parameters, actor=request.user,
        )
    except json.JSONDecodeError as exc:
        messages.error(request, f"parameters: not valid JSON ({exc.msg} at character {exc.pos}).")
        return redirect("web:analysis-run-new", kind=kind_obj.name)
    except (LabdbError, ValidationError) as exc:
        messages.error(request, _error_text(exc))
        return redirect("web:analysis-run-new", kind=kind_obj.name)
    if run.repeat:
        messages.info(request, f"An identical run already exists: run {run.pk}.")
    return redirect("web:analysis-run-detail", run_id=run.pk)


def _run(run_id: int) -> AnalysisRun:
    return get_object_or_404(analysis_run_list(include_retired=True), pk=run_id)


@login_required
@require_GET
def analysis_run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """One run: status and progress (followed by polling), log, provenance, the kind's result."""
    run = _run(run_id)
    try:
        kind: AnalysisKind | None = get_kind(run.kind)
    except KeyError:
        kind = None
    return render(request, "web/analysis_run_detail.html", {
        "run": run, "kind": kind, "row": _row(run, {}),
        "stale": run_services.staleness_of_run(run) if run.status == "succeeded" else "",
        "records": run_services.run_records(run),
        "provenance_json": json.dumps(run_services.run_provenance(run), indent=2,
                                      ensure_ascii=False),
        "parameters_json": json.dumps(run.parameters or {}, indent=2, ensure_ascii=False),
        "may_rerun": kind is not None and _may_rerun(request, run),
    })


def _may_rerun(request: HttpRequest, run: AnalysisRun) -> bool:
    from labdb.lib.permissions import can_edit

    return can_edit(request.user, run)


@login_required
@require_GET
def analysis_run_status(request: HttpRequest, run_id: int) -> JsonResponse:
    """What the run page polls: status, progress and the log so far."""
    run = get_object_or_404(AnalysisRun.objects.only(
        "pk", "status", "progress_pct", "log", "error"), pk=run_id)
    return JsonResponse({"id": run.pk, "status": run.status, "progress_pct": run.progress_pct,
                         "log": run.log, "error": run.error,
                         "finished": run.status in ("succeeded", "failed")})


@login_required
@require_POST
def analysis_run_rerun(request: HttpRequest, run_id: int) -> HttpResponse:
    """Run it again on the same inputs with the same parameters and today's engine."""
    run = _run(run_id)
    try:
        new = run_services.request_rerun(run=run, actor=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("web:analysis-run-detail", run_id=run.pk)
    except (LabdbError, ValidationError) as exc:
        messages.error(request, _error_text(exc))
        return redirect("web:analysis-run-detail", run_id=run.pk)
    return redirect("web:analysis-run-detail", run_id=new.pk)
