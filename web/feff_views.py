"""FEFF calculations in the web UI: the page of one calculation and the fit page's FEFF section.

Reads only: the calculation's feff.inp, its path table (index, atoms along the path, nleg,
reff in Å, degeneracy, FEFF's amplitude ratio in %) and links to download each file from
``/api/feff-calculations/<id>/…``.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from analysis.models import FeffCalculation
from analysis.services.feff import calculation_path_rows, calculation_text_file


def feff_context(calculation: FeffCalculation) -> dict:
    """What the FEFF templates show of one calculation."""
    return {
        "calculation": calculation,
        "feff_paths": calculation_path_rows(calculation),
        "has_files_dat": calculation_text_file(calculation, "files.dat") is not None,
    }


def fit_feff_calculations(fit) -> list[dict]:
    """The FEFF calculations a stored fit used (one per FEFF section of its model), in the
    order of the provenance; a fit with pasted path files lists none."""
    prov = fit.provenance or {}
    infos = list((prov.get("feff_by_dataset") or {}).values()) or [prov.get("feff") or {}]
    ids = [i["calculation"] for i in infos if isinstance(i.get("calculation"), int)]
    keys = [i["cache_key"] for i in infos if i.get("cache_key") and "calculation" not in i]
    rows = list(FeffCalculation.objects.filter(pk__in=ids)) + list(
        FeffCalculation.objects.filter(cache_key__in=keys)
    )
    order = {**{k: n for n, k in enumerate(keys)}, **{f"id{i}": n for n, i in enumerate(ids)}}
    rows.sort(key=lambda c: order.get(c.cache_key, order.get(f"id{c.pk}", 0)))
    unique = {c.pk: c for c in rows}
    return [feff_context(c) for c in unique.values()]


@login_required
@require_GET
def feff_detail(request, feff_id: int):
    calculation = get_object_or_404(FeffCalculation, pk=feff_id)
    return render(request, "web/feff_detail.html", feff_context(calculation))
