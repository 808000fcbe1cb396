"""Server-rendered pages for lab members. Thin: validate shape, call one service or page read.

Every view requires a login. Writes go through the apps' services; a ``DomainError`` is shown
beside the form field it names.
"""

from __future__ import annotations

import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

import analysis.services as analysis_services
from labdb.lib.errors import LabdbError
from labdb.lib.pagination import capped_page, parse_page_number
from labdb.storage import StoredFileMissing, open_stored, stored_label
from web import explore as explore_view_model
from web import pages
from web.filters import SampleListFilter
from web.forms import RunEntry
from web.records.views import refuse_if_retired

PAGE_SIZE = 50


def _service(name: str):
    """``analysis.services.<name>`` if another engineer has delivered it, else None."""
    return getattr(analysis_services, name, None)


@login_required
@require_GET
def dashboard(request):
    return render(request, "web/dashboard.html",
                  {"page": pages.dashboard(today=timezone.localdate())})


# --- samples -------------------------------------------------------------------------------

@login_required
@require_GET
def sample_list(request):
    filterset = SampleListFilter(request.GET or None, queryset=pages.sample_queryset())
    try:
        number = parse_page_number(request.GET.get("page"))
    except ValueError:
        number = 1  # as Paginator.get_page: a bad page number shows the first page
    # A capped count: "10000+ samples" rather than counting a million on every page.
    page = capped_page(filterset.qs, number=number, page_size=PAGE_SIZE)
    if not page.rows and number > 1:  # past the end: the first page, as Paginator.get_page
        page = capped_page(filterset.qs, number=1, page_size=PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "web/sample_list.html", {
        "filter": filterset, "page_obj": page, "query": query.urlencode()})


@login_required
@require_GET
@refuse_if_retired("sample", "sample_id", status=410)  # its page says why, with Restore
def sample_detail(request, sample_id: int):
    return render(request, "web/sample_detail.html",
                  {"page": pages.sample_page(sample_id=sample_id, viewer=request.user)})


@login_required
@require_POST
def sample_upload(request, sample_id: int):
    """Attach one or more files; returns an HTML fragment for fetch(), else redirects back."""
    from django.conf import settings

    from characterization.services import attach_data_file
    from labdb.upload_handlers import refused_uploads, too_large_message

    sample = pages.sample(sample_id=sample_id)
    uploads = request.FILES.getlist("files")
    refused = refused_uploads(request)  # skipped while streaming: over LABDB_MAX_UPLOAD_BYTES
    results = [{"name": name, "error": too_large_message(name, settings.LABDB_MAX_UPLOAD_BYTES)}
               for name in refused]
    if not uploads and not refused:
        results.append({"name": "", "error": "Choose at least one file to upload."})
    for upload in uploads:
        try:
            data_file, created = attach_data_file(content=upload.read(), filename=upload.name,
                                                  sample=sample, actor=request.user,
                                                  groups=request.POST.getlist("groups") or None)
            results.append({"name": upload.name, "file": data_file, "created": created,
                            "sample": sample})
        except LabdbError as exc:
            results.append({"name": upload.name, "error": exc.message})
    if request.headers.get("X-Requested-With") == "fetch":
        return render(request, "web/_upload_results.html", {"results": results})
    for item in results:
        if item.get("error"):
            messages.error(request, f"{item['name']}: {item['error']}".lstrip(": "))
        else:
            f = item["file"]
            if not item["created"]:
                messages.info(request,
                              f"{f.original_name}: already stored — linked to {sample.code}")
                continue
            if f.parse_status in ("pending", "parsing"):  # the parse job runs in the background
                messages.info(request, f"{f.original_name}: stored; parsing… (the file list "
                              "below shows the result when it is done)")
                continue
            if f.kind == "attachment":
                messages.info(request, f"{f.original_name}: stored as an attachment")
                continue
            messages.info(request, f"{f.original_name}: parse {f.parse_status}"
                          + (f" — {f.parse_error}" if f.parse_error else ""))
    return redirect(reverse("web:sample-detail", args=[sample.pk]) + "#files")


@login_required
@require_GET
def file_series(request, file_id: int):
    return JsonResponse(pages.data_file(file_id=file_id).series or {})


@login_required
@require_GET
def file_preview(request, file_id: int):
    data_file = pages.data_file(file_id=file_id)
    if not data_file.preview:
        raise Http404("This file has no preview plot.")
    try:
        handle = open_stored(data_file.preview.name,
                             label=f"preview of {stored_label(data_file)}")
    except StoredFileMissing as exc:
        return HttpResponse(exc.message, status=410, content_type="text/plain; charset=utf-8")
    return FileResponse(handle, content_type="image/png")


# --- synthesis runs ------------------------------------------------------------------------

@login_required
def run_new(request):
    recipe_id = request.GET.get("recipe")
    if not recipe_id or not recipe_id.isdigit():
        return render(request, "web/run_pick_recipe.html",
                      {"recipes": pages.recipes_for_new_run(),
                       "invalid": bool(recipe_id)})
    recipe = pages.recipe_for_run(recipe_id=int(recipe_id))
    samples = pages.input_samples()
    if request.method != "POST":
        entry = RunEntry.build(recipe, samples)
        return render(request, "web/run_new.html", {"entry": entry})
    data = request.POST.copy()
    if "add_product" in data:
        key = "products-TOTAL_FORMS"
        data[key] = str(int(data.get(key) or 1) + 1)
        entry = RunEntry.build(recipe, samples, data)
        return render(request, "web/run_new.html", {"entry": entry, "unvalidated": True})
    entry = RunEntry.build(recipe, samples, data)
    if entry.is_valid():
        from synthesis.services import record_synthesis_run

        try:
            run = record_synthesis_run(actor=request.user, **entry.service_kwargs())
        except LabdbError as exc:
            entry.show_domain_error(exc)
        else:
            messages.success(request, f"Run {run.code} recorded.")
            return redirect("web:run-detail", run_id=run.pk)
    return render(request, "web/run_new.html", {"entry": entry}, status=400)


@login_required
@require_GET
@refuse_if_retired("run", "run_id", status=410)  # its page says why, with Restore
def run_detail(request, run_id: int):
    return render(request, "web/run_detail.html", {"page": pages.run_page(run_id=run_id)})


# --- XAS fits and refits -------------------------------------------------------------------

@login_required
@require_GET
def fit_detail(request, fit_id: int):
    from analysis.services import fit_results

    fit = pages.xas_fit(fit_id=fit_id)
    return render(request, "web/fit_detail.html", {
        "fit": fit,
        "results": fit_results.fit_results(fit_id=fit.pk, fit=fit),
        "provenance_json": fit_results.provenance_text(fit_id=fit.pk, fit=fit),
        "overlays": fit_results.overlay_candidates(fit),
        "refit_available": _service("request_refit") is not None})


@login_required
@require_POST
def fit_refit(request, fit_id: int):
    fit = pages.xas_fit(fit_id=fit_id)
    request_refit = _service("request_refit")
    if request_refit is None:
        messages.error(request, "Refitting is not available yet on this server.")
        return redirect("web:fit-detail", fit_id=fit.pk)
    try:
        run = request_refit(fit=fit, actor=request.user)
    except LabdbError as exc:
        messages.error(request, exc.message)
        return redirect("web:fit-detail", fit_id=fit.pk)
    return redirect(reverse("web:fit-runs") + f"?ids={run.pk}")


@login_required
@require_POST
def refit_stale(request):
    refit = _service("refit_stale")
    if refit is None:
        messages.error(request, "Batch refitting is not available yet on this server.")
        return redirect("web:dashboard")
    try:
        runs = refit(actor=request.user)
    except LabdbError as exc:
        messages.error(request, exc.message)
        return redirect("web:dashboard")
    if not runs:
        messages.info(request, "No stale fits to refit.")
        return redirect("web:dashboard")
    return redirect(reverse("web:fit-runs") + "?ids=" + ",".join(str(r.pk) for r in runs))


def _run_ids(request) -> list[int]:
    raw = request.GET.get("ids", "")
    ids = [int(part) for part in raw.split(",") if part.strip().isdigit()]
    return ids[:500]


@login_required
@require_GET
def fit_runs(request):
    """Progress of one or more fit runs (the page polls ``fit_runs_status``)."""
    runs = pages.fit_runs(ids=_run_ids(request))
    return render(request, "web/fit_runs.html", {"runs": runs, "summary": _summary(runs),
                                                 "ids": ",".join(str(r.pk) for r in runs)})


@login_required
@require_GET
def fit_runs_status(request):
    runs = pages.fit_runs(ids=_run_ids(request))
    summary = _summary(runs)
    summary["html"] = render_to_string("web/_fit_run_rows.html", {"runs": runs}, request=request)
    summary["text"] = render_to_string("web/_fit_progress_text.html", {"summary": summary}).strip()
    return JsonResponse(summary)


def _summary(runs) -> dict:
    done = sum(r.status in ("succeeded", "failed") for r in runs)
    progress = [100 if r.status in ("succeeded", "failed") else r.progress_pct for r in runs]
    pct = math.floor(sum(progress) / len(progress)) if progress else 100
    return {"total": len(runs), "done": done, "pct": pct,
            "failed": sum(r.status == "failed" for r in runs),
            "finished": done == len(runs)}


# --- correlation explorer ------------------------------------------------------------------

@login_required
@require_GET
def explore(request):
    model = explore_view_model.explore(request.GET)
    if request.GET.get("format") == "csv" and model.available:
        response = HttpResponse(model.csv, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="structure-property.csv"'
        return response
    return render(request, "web/explore.html",
                  {"m": model, "fit_choices": explore_view_model.FIT_CHOICE_LABELS})
