"""Manual measurements on the sample page, and downloads of stored files.

Thin: a form checks shape, one service writes (``characterization.services``), errors are
shown beside the field they name with what was typed kept. Who may add: the sample's owner
and curators; who may change or retire: the author and curators (the services decide).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from characterization import selectors as char_selectors
from characterization import services as char_services
from characterization.api.views import raw_file_response
from labdb.lib.errors import ConflictError, LabdbError
from labdb.lib.permissions import can_edit
from labdb.storage import StoredFileMissing
from web import measurement_forms, pages


def _sample_url(sample_id: int, anchor: str = "measurements") -> str:
    return reverse("web:sample-detail", args=[sample_id]) + f"#{anchor}"


@login_required
@require_POST
def measurement_add(request, sample_id: int, kind: str):
    """Record one hand-entered value; on error the sample page again, with the form as typed."""
    if kind not in measurement_forms.FORMS:
        raise Http404(f"No manual measurement kind {kind!r}.")
    sample = pages.sample(sample_id=sample_id)
    form = measurement_forms.entry_form(kind, request.POST)
    if form.is_valid():
        try:
            measurement = char_services.record_manual_measurement(
                kind=kind, sample=sample, entry=form.entry(), actor=request.user
            )
        except LabdbError as exc:
            form.show_error(exc)
        else:
            label = char_services.MANUAL_KINDS[kind].label
            messages.success(request, f"Manual {label} added to {sample.code}.")
            return redirect(_sample_url(sample.pk, f"m-{kind}-{measurement.pk}"))
    page = pages.sample_page(sample_id=sample.pk, viewer=request.user, bound_form=form)
    if not page.manual.can_add:
        raise PermissionDenied(page.manual.who_may_add)
    return render(request, "web/sample_detail.html", {"page": page}, status=400)


def _manual_measurement(kind: str, pk: int):
    if kind not in char_services.MANUAL_KINDS:
        raise Http404(f"No manual measurement kind {kind!r}.")
    model = char_services.MANUAL_KINDS[kind].model
    return get_object_or_404(
        char_selectors.measurement_list(model), pk=pk, source="manual", extra__manual_kind=kind
    )


def _expected_version(request) -> int | None:
    raw = request.POST.get("version", "")
    return int(raw) if raw.isdigit() else None


@login_required
@require_http_methods(["GET", "POST"])
def measurement_edit(request, kind: str, pk: int):
    """Change a manual measurement; a concurrent change gives 409 and says who made it."""
    measurement = _manual_measurement(kind, pk)
    _require_may_change(request.user, measurement)
    if request.method == "GET":
        form = measurement_forms.edit_form(measurement)
        return _edit_page(request, measurement, form, version=measurement.version)
    form = measurement_forms.edit_form(measurement, request.POST)
    version = _expected_version(request)
    status = 400
    if form.is_valid():
        try:
            char_services.update_manual_measurement(
                measurement=measurement,
                entry=form.entry(),
                expected_version=version,
                actor=request.user,
            )
        except ConflictError as exc:
            form.show_error(exc)
            status = 409
        except LabdbError as exc:
            form.show_error(exc)
        else:
            messages.success(request, f"Manual {char_services.MANUAL_KINDS[kind].label} updated.")
            return redirect(_sample_url(measurement.sample_id, f"m-{kind}-{pk}"))
    return _edit_page(request, measurement, form, version=version, status=status)


def _require_may_change(user, measurement) -> None:
    if not can_edit(user, measurement):
        author = measurement.owner.username if measurement.owner_id else "unknown"
        raise PermissionDenied(
            f"Only the author of this measurement ({author}) and curators can change it."
        )


def _edit_page(request, measurement, form, *, version, status: int = 200):
    return render(
        request,
        "web/measurements/edit.html",
        {"m": measurement, "form": form, "version": version, "kind": form.kind,
         "label": char_services.MANUAL_KINDS[form.kind].label},
        status=status,
    )


@login_required
@require_POST
def measurement_retire(request, kind: str, pk: int):
    """Retire (hide, with a reason) a manual measurement."""
    measurement = _manual_measurement(kind, pk)
    try:
        char_services.retire_manual_measurement(
            measurement=measurement,
            reason=request.POST.get("reason", ""),
            expected_version=_expected_version(request),
            actor=request.user,
        )
    except LabdbError as exc:
        form = measurement_forms.edit_form(measurement)
        return render(
            request,
            "web/measurements/edit.html",
            {"m": measurement, "form": form, "version": measurement.version, "kind": kind,
             "label": char_services.MANUAL_KINDS[kind].label, "retire_error": exc.message,
             "reason": request.POST.get("reason", "")},
            status=409 if isinstance(exc, ConflictError) else 400,
        )
    messages.success(request, f"Manual {char_services.MANUAL_KINDS[kind].label} retired.")
    return redirect(_sample_url(measurement.sample_id))


@login_required
@require_GET
def retired_measurements(request, sample_id: int):
    """The sample's retired hand-entered values, each with its reason and (for its author and
    curators) a Restore form asking why."""
    sample = pages.sample(sample_id=sample_id)
    models_by_kind = {key: kind.model for key, kind in char_services.MANUAL_KINDS.items()}
    rows = [
        {"kind": kind, "label": char_services.MANUAL_KINDS[kind].label, "m": row,
         "values": [(name.replace("_", " "), getattr(row, name, None))
                    for name in char_services.MANUAL_KINDS[kind].fields
                    if getattr(row, name, None) not in (None, "")],
         "may_restore": can_edit(request.user, row)}
        for kind, row in char_selectors.retired_manual_rows(sample, models_by_kind)
        if kind in char_services.MANUAL_KINDS
    ]
    return render(request, "web/measurements/retired.html", {"sample": sample, "rows": rows})


@login_required
@require_POST
def measurement_restore(request, kind: str, pk: int):
    """Restore a retired manual measurement with a reason (author or curator)."""
    if kind not in char_services.MANUAL_KINDS:
        raise Http404(f"No manual measurement kind {kind!r}.")
    measurement = get_object_or_404(
        char_services.MANUAL_KINDS[kind].model.objects.all(),
        pk=pk, source="manual", extra__manual_kind=kind, is_retired=True,
    )
    try:
        char_services.restore_manual_measurement(
            measurement=measurement, reason=request.POST.get("reason", ""), actor=request.user
        )
    except (LabdbError, PermissionDenied) as exc:
        messages.error(request, getattr(exc, "message", None) or str(exc))
        return redirect(reverse("web:retired-measurements", args=[measurement.sample_id]))
    label = char_services.MANUAL_KINDS[kind].label
    messages.success(request, f"Manual {label} restored: it is on the sample page again.")
    return redirect(_sample_url(measurement.sample_id, f"m-{kind}-{measurement.pk}"))


@login_required
@require_GET
def file_download(request, file_id: int):
    """The stored bytes unchanged (any logged-in member may download); 410 naming the file
    when its bytes are gone from the file storage."""
    try:
        return raw_file_response(pages.data_file(file_id=file_id))
    except StoredFileMissing as exc:
        return HttpResponse(exc.message, status=410, content_type="text/plain; charset=utf-8")


@login_required
@require_GET
def sample_sections(request, sample_id: int):
    """The measurement tables and file lists of a sample page, for refreshing after an upload."""
    page = pages.sample_page(sample_id=sample_id, viewer=request.user)
    context = {"page": page}
    return JsonResponse({
        "measurements": render_to_string("web/_measurements.html", context, request=request),
        "files": render_to_string("web/measurements/_file_lists.html", context, request=request),
    })


# --- one file, many samples: unlink, relink with chosen groups, declare the XAS absorber ----


def _back_to_files(sample_id: int, file_id: int):
    return redirect(_sample_url(sample_id, f"file-{file_id}"))


def _act_on_file(request, sample_id: int, file_id: int, act, done: str):
    """Run one file service for the sample page; its error is shown as a message there."""
    sample = pages.sample(sample_id=sample_id)
    data_file = pages.data_file(file_id=file_id)
    try:
        act(sample, data_file)
    except LabdbError as exc:
        messages.error(request, f"{data_file.original_name}: {exc.message}")
    else:
        messages.success(request, f"{data_file.original_name}: {done}")
    return _back_to_files(sample.pk, data_file.pk)


@login_required
@require_POST
def file_unlink(request, sample_id: int, file_id: int):
    """Take a file off this sample with a reason (its rows here are retired, not deleted)."""
    reason = request.POST.get("reason", "")

    def act(sample, data_file):
        char_services.unlink_data_file(
            data_file=data_file, sample=sample, reason=reason, actor=request.user
        )

    sample = pages.sample(sample_id=sample_id)
    return _act_on_file(request, sample_id, file_id, act, f"unlinked from {sample.code}")


@login_required
@require_POST
def file_link(request, sample_id: int, file_id: int):
    """Link a stored file to this sample, or change which Athena groups are its spectra."""
    groups = [g for g in request.POST.getlist("groups") if g != ""]
    if request.POST.get("relink"):  # "Link again": keep the Athena groups chosen before
        groups = None

    def act(sample, data_file):
        char_services.require_may_link(sample, request.user)
        char_services.link_data_file(
            data_file=data_file, sample=sample, actor=request.user,
            reason=request.POST.get("reason", ""), groups=groups,
        )

    sample = pages.sample(sample_id=sample_id)
    return _act_on_file(request, sample_id, file_id, act, f"linked to {sample.code}")


@login_required
@require_POST
def file_declare_xas(request, sample_id: int, file_id: int):
    """Declare the element and edge of an XAS file that does not state them (and the columns
    that form μ when the file is a column table that does not name them)."""
    element, edge = request.POST.get("element", ""), request.POST.get("edge", "")
    fields = ("energy_column", "energy_unit", "mode", "numerator", "denominator")
    columns = {k: request.POST[k] for k in fields if request.POST.get(k, "").strip()} or None

    def act(sample, data_file):
        char_services.declare_xas_absorber(
            data_file=data_file, element=element, edge=edge, actor=request.user, columns=columns
        )

    return _act_on_file(request, sample_id, file_id, act,
                        f"declared {element.strip()} {edge.strip()}")
