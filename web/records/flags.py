"""Data flags in the web UI: every member sees and raises them; curators change their status.

Thin: the page lists flags, a member raises one on a sample by its code, and the status buttons
(acknowledge, resolve, reopen) are shown to curators only; a member who posts one anyway gets
403 with the service's sentence (the API's rule, ``synthesis.services.update_flag``).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from labdb.lib.errors import ConflictError, DomainError
from labdb.lib.permissions import is_curator
from synthesis import selectors, services
from synthesis.enums import FlagKind, FlagStatus
from synthesis.models import Sample

PAGE_SIZE = 100


def _page(request, *, error: str | None = None, entered=None, status: int = 200):
    flags = (selectors.flag_list().select_related("content_type", "owner")
             .prefetch_related("target").order_by("status", "-id"))
    return render(request, "web/records/flags.html", {
        "page_obj": Paginator(flags, PAGE_SIZE).get_page(request.GET.get("page")),
        "is_curator": is_curator(request.user), "kinds": FlagKind.choices,
        "statuses": FlagStatus.choices, "error": error, "entered": entered or {},
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def flags(request):
    """GET: every live flag; POST: raise a flag on a sample given by its code."""
    if request.method == "GET":
        return _page(request)
    code = request.POST.get("sample_code", "").strip()
    sample = Sample.objects.filter(code=code, is_retired=False).first()
    try:
        if sample is None:
            raise DomainError(f"sample_code: no sample has the code {code!r}.",
                              field="sample_code")
        services.raise_flag(target_type="sample", object_id=sample.pk,
                            kind=request.POST.get("kind", "note"),
                            location=request.POST.get("location", ""),
                            message=request.POST.get("message", ""), actor=request.user)
    except DomainError as exc:
        return _page(request, error=exc.message, entered=request.POST, status=400)
    messages.success(request, f"Flag raised on {sample.code}; a curator will review it.")
    return redirect("web:flags")


@login_required
@require_POST
def flag_status(request, flag_id: int):
    """Acknowledge, resolve or reopen a flag (curators only; 403 with a sentence otherwise)."""
    flag = get_object_or_404(selectors.flag_list(), pk=flag_id)
    raw_version = request.POST.get("version", "")
    try:
        services.update_flag(
            flag=flag, expected_version=int(raw_version) if raw_version.isdigit() else None,
            changes={"status": request.POST.get("status", "")}, actor=request.user)
    except PermissionDenied as exc:
        return _page(request, error=str(exc), status=403)
    except ConflictError as exc:
        return _page(request, error=exc.message, status=409)
    except DomainError as exc:
        return _page(request, error=exc.message, status=400)
    messages.success(request, f"Flag {flag.pk} is now {request.POST.get('status')}.")
    return redirect("web:flags")
