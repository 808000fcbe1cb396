"""Reads about analysis runs of every kind: the one list, staleness in bulk, kind descriptions."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import Q, QuerySet
from rest_framework.schemas.openapi import AutoSchema

from analysis.kinds.base import INPUT_TYPES, AnalysisKind, all_kinds, get_kind
from analysis.models import EXAFS_FIT_KIND, AnalysisRun
from analysis.services.runs import input_fingerprint, input_fingerprint_of

__all__ = ["analysis_run_list", "describe_kind", "describe_kinds", "staleness_by_run"]


def analysis_run_list(
    *, kind: str | None = None, status: str | None = None, sample: int | None = None,
    include_retired: bool = False,
) -> QuerySet[AnalysisRun]:
    """Runs of every kind, newest first, with what the list shows in a fixed number of
    queries. ``sample``: runs with an input of that sample (an EXAFS fit: its spectra's)."""
    qs = AnalysisRun.objects.select_related(
        "spectrum__sample", "result", "reproduces", "requested_by", "owner"
    ).order_by("-queued_at", "-id")
    if not include_retired:
        qs = qs.filter(is_retired=False)
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    if sample is not None:
        matching = AnalysisRun.objects.filter(
            Q(input_samples=sample) | Q(spectrum__sample=sample)
            | Q(datasets__spectrum__sample=sample)
        ).values("pk")
        qs = qs.filter(pk__in=matching)
    return qs


def _current_fingerprints(runs: list[AnalysisRun]) -> dict[tuple[str, int], dict | None]:
    """(type, id) → the input's fingerprint now (None when it is gone or retired), one query
    per input type across every run."""
    wanted: dict[str, set[int]] = {}
    for run in runs:
        for entry in run.inputs or []:
            wanted.setdefault(entry["type"], set()).add(entry["id"])
    out: dict[tuple[str, int], dict | None] = {}
    for type_name, ids in wanted.items():
        qs = apps.get_model(INPUT_TYPES[type_name])._default_manager.filter(pk__in=ids)
        if type_name in ("spectrum", "fit", "quantity"):
            qs = qs.select_related("data_file")
        for row in qs:
            retired = getattr(row, "is_retired", False)
            out[(type_name, row.pk)] = None if retired else input_fingerprint(type_name, row)
    return out


def _kind_or_none(name: str) -> AnalysisKind | None:
    try:
        return get_kind(name)
    except KeyError:
        return None


def staleness_by_run(runs: list[AnalysisRun]) -> dict[int, str]:
    """run id → why it is stale ("" when current), for a page of the list: a fit run reads
    its stored fit's flag (``mark_stale_fits``), other kinds compare input fingerprints and
    the engine version (one query per input type). The run page computes it in full."""
    current = _current_fingerprints([r for r in runs if r.kind != EXAFS_FIT_KIND])
    out = {}
    for run in runs:
        if run.kind == EXAFS_FIT_KIND:
            fit = run.result or run.reproduces
            out[run.pk] = fit.stale_reason if fit is not None and fit.is_stale else ""
            continue
        reasons = []
        for entry in run.inputs or []:
            now = current.get((entry["type"], entry["id"]))
            if now != input_fingerprint_of(entry):
                reasons.append(f"inputs.{entry['role']} {entry['label']} changed")
        kind = _kind_or_none(run.kind)
        if kind is not None and kind.engine_version != run.engine_version:
            reasons.append(f"engine version changed: {run.engine_version} → "
                           f"{kind.engine_version}")
        out[run.pk] = "; ".join(reasons)
    return out


def describe_kind(kind: AnalysisKind) -> dict[str, Any]:
    """What a client needs to start a run of ``kind``: roles and the parameters' JSON schema."""
    return {
        "name": kind.name,
        "label": kind.label,
        "engine": {"name": kind.engine_name, "version": kind.engine_version},
        "inputs": [
            {"name": r.name, "type": r.type, "many": r.many, "required": r.required,
             "min": r.min, "max": r.max, "help": r.help}
            for r in kind.inputs
        ],
        "parameters_schema": AutoSchema().map_serializer(kind.parameters()),
    }


def describe_kinds() -> list[dict[str, Any]]:
    """Every registered kind, by name."""
    return [describe_kind(kind) for kind in all_kinds()]
