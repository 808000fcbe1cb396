"""The XAS fit builder page: set up a fit of one or several spectra in the browser.

The page is a shell; ``web/assets/js/fit_builder.js`` does the work against the JSON APIs:
``POST /api/feff-calculations/`` (FEFF paths), ``POST /api/xas-spectra/<id>/preview-processing/``
(live plots) and ``POST /api/fit-runs/`` (the run — the service validates the model, and the
page shows its 400 beside the field the JSON path names). This module only gathers what the
page starts from: the spectra, a stored fit's model ("fit this sample like that one"), and the
bundled AMCSD structures the FEFF engine knows.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from characterization.enums import DataSource
from characterization.models import XASFit, XASSpectrum

MAX_SPECTRA = 8
MAX_CHOICES = 300
#: Lattice presets offered on the page (Å; room-temperature literature values, editable).
LATTICE_PRESETS = (
    {"label": "ZnSe zinc blende (stilleite)", "kind": "zincblende", "a_a": 5.6676,
     "cation": "Zn", "anion": "Se"},
    {"label": "ZnS zinc blende (sphalerite)", "kind": "zincblende", "a_a": 5.4093,
     "cation": "Zn", "anion": "S"},
    {"label": "CdSe zinc blende", "kind": "zincblende", "a_a": 6.077, "cation": "Cd",
     "anion": "Se"},
    {"label": "CdS wurtzite (greenockite)", "kind": "wurtzite", "a_a": 4.1367, "c_a": 6.7161,
     "u": 0.3769, "cation": "Cd", "anion": "S"},
    {"label": "HgSe zinc blende (tiemannite)", "kind": "zincblende", "a_a": 6.084,
     "cation": "Hg", "anion": "Se"},
)


def _spectra_with_data():
    return (XASSpectrum.objects.filter(is_retired=False, data_file__parse_status="ok")
            .select_related("sample", "data_file").order_by("sample__code", "element", "pk"))


def _spectrum_json(spectrum: XASSpectrum) -> dict:
    return {
        "id": spectrum.pk,
        "element": spectrum.element.strip().capitalize(),
        "edge": spectrum.edge.strip().upper(),
        "e0_ev": spectrum.e0_ev,
        "sample": spectrum.sample.code,
        "sample_id": spectrum.sample_id,
        "file": spectrum.data_file.original_name,
        "label": ("SIMULATED · " if spectrum.source == DataSource.SIMULATED else "")
                 + f"{spectrum.sample.code} · {spectrum.element} {spectrum.edge} · "
                 f"{spectrum.data_file.original_name}",
        "simulated": spectrum.source == DataSource.SIMULATED,
    }


def _ids(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip().isdigit()][:MAX_SPECTRA]


def _stored_model(fit: XASFit, spectra: list[dict]) -> tuple[dict | None, str]:
    """The fit's stored model with its datasets pointed at ``spectra`` (in order), its FEFF
    source moved into each dataset; ``(None, reason)`` for a fit without a stored model."""
    run = getattr(fit, "fit_run", None)
    if run is None or not isinstance(run.model, dict):
        return None, (f"Fit {fit.pk} was transcribed from a paper: it has no stored model to "
                      "start from.")
    stored = run.ordered_model()
    model = {key: value for key, value in stored.items() if key != "feff"}
    shared_feff = stored.get("feff")
    datasets = []
    for index, ds in enumerate(stored.get("datasets") or []):
        if index >= len(spectra):
            break
        ds = dict(ds)
        ds["spectrum"] = spectra[index]["id"]
        if "feff" not in ds and shared_feff is not None:
            ds["feff"] = shared_feff
        datasets.append(ds)
    model["datasets"] = datasets
    return model, ""


def _builder_context(spectrum_ids: list[int], fit: XASFit | None) -> dict:
    choices = [_spectrum_json(s) for s in _spectra_with_data()[:MAX_CHOICES]]
    by_id = {c["id"]: c for c in choices}
    chosen = [by_id[i] for i in spectrum_ids if i in by_id]
    if not chosen and spectrum_ids:
        chosen = [_spectrum_json(s) for s in _spectra_with_data().filter(pk__in=spectrum_ids)]
    model, note = (None, "")
    if fit is not None:
        if not chosen:
            own = fit.fit_run.datasets.order_by("position") if getattr(
                fit, "fit_run", None) else []
            chosen = [_spectrum_json(row.spectrum) for row in own] or (
                [_spectrum_json(fit.spectrum)] if fit.spectrum_id else [])
        model, note = _stored_model(fit, chosen)
    found = {c["id"] for c in chosen}
    return {
        "spectra": chosen,
        "missing": [i for i in spectrum_ids if i not in found],
        "choices": choices,
        "model": model,
        "from_fit": fit.pk if fit is not None else None,
        "note": note,
        "lattices": list(LATTICE_PRESETS),
        "urls": {
            "preview": "/api/xas-spectra/{id}/preview-processing/",
            "feff": "/api/feff-calculations/",
            "fit_runs": "/api/fit-runs/",
            "progress": reverse("web:fit-runs") + "?ids=",
            "structures": reverse("web:fit-builder-structures"),
        },
    }


@login_required
@require_GET
def fit_builder(request):
    """``/fit-builder/?spectra=12,13`` (the spectra to fit together) and optionally
    ``&from_fit=41`` (start from that fit's model)."""
    fit = None
    raw_fit = request.GET.get("from_fit", "")
    if raw_fit.isdigit():
        fit = get_object_or_404(XASFit.objects.select_related("spectrum__sample"),
                                pk=int(raw_fit), is_retired=False)
    context = _builder_context(_ids(request.GET.get("spectra", "")), fit)
    return render(request, "web/fit_builder.html", {"builder": context, "fit": fit})


@lru_cache(maxsize=32)
def _bundled_structures(element: str) -> tuple[dict, ...]:
    """AMCSD entries bundled with larixite (the ones ``amcsd_cif`` can pick) that contain
    ``element`` and at most two other elements, as ``{amcsd_id, mineral, formula, elements}``."""
    from larixite import get_amcsd

    db = get_amcsd(download_full=False)
    out = []
    for entry in db.find_cifs(contains_elements=[element], strict_contains=False):
        elements = sorted(set(re.findall(r"[A-Z][a-z]?", str(entry.formula))))
        if element not in elements or len(elements) > 3:
            continue
        out.append({"amcsd_id": int(entry.ams_id), "mineral": str(entry.get_mineralname()),
                    "formula": " ".join(str(entry.formula).split()), "elements": elements,
                    "a_a": float(entry.a), "c_a": float(entry.c)})
    out.sort(key=lambda e: (len(e["elements"]), e["formula"], e["amcsd_id"]))
    return tuple(out)


@login_required
@require_GET
def bundled_structures(request):
    """``?element=Zn`` → ``{"element", "structures": [...]}`` for the structure chooser."""
    element = request.GET.get("element", "").strip().capitalize()
    if not re.fullmatch(r"[A-Z][a-z]?", element):
        return JsonResponse({"error": "DomainError", "field": "element",
                             "message": "element: give an element symbol such as Zn."},
                            status=400)
    return JsonResponse({"element": element, "structures": list(_bundled_structures(element))})
