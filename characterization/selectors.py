"""Reads of the characterization domain: list querysets with pinned prefetches."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from characterization.models import (
    DataFile,
    DataFileLink,
    DataFileRunLink,
    PLLifetimeMeasurement,
    XASFit,
)


def _active(qs: QuerySet, include_retired: bool) -> QuerySet:
    return qs if include_retired else qs.filter(is_retired=False)


def measurement_list(model, *, include_retired: bool = False) -> QuerySet:
    """Any simple measurement model with its sample, file and paper joined."""
    return _active(
        model.objects.select_related("sample", "data_file", "paper", "owner").order_by(
            "sample__code", "id"
        ),
        include_retired,
    )


def retired_manual_rows(sample, models_by_kind: dict) -> list[tuple[str, object]]:
    """``(kind, row)`` for every retired hand-entered row of ``sample``, newest retirement
    first; ``models_by_kind`` maps a manual kind to its model (one query per model)."""
    rows = []
    for model in dict.fromkeys(models_by_kind.values()):
        retired = model.objects.filter(sample=sample, source="manual", is_retired=True)
        rows += retired.select_related("owner")
    return sorted(((row.extra.get("manual_kind", ""), row) for row in rows),
                  key=lambda pair: (pair[1].retired_at or pair[1].updated_at), reverse=True)


def lifetime_list(*, include_retired: bool = False) -> QuerySet[PLLifetimeMeasurement]:
    return measurement_list(
        PLLifetimeMeasurement, include_retired=include_retired
    ).prefetch_related("components")


def xas_fit_list(*, include_retired: bool = False) -> QuerySet[XASFit]:
    """Fits with their paths prefetched (constant query count per page)."""
    return (
        measurement_list(XASFit, include_retired=include_retired)
        .select_related("spectrum")
        .prefetch_related("paths")
    )


def data_file_list(*, include_retired: bool = False) -> QuerySet[DataFile]:
    """Stored files with their first sample, uploader and owner joined, and their active
    sample links prefetched (``active_links``)."""
    return _active(
        DataFile.objects.select_related("sample", "uploaded_by", "owner").prefetch_related(
            Prefetch(
                "links",
                queryset=DataFileLink.objects.filter(is_active=True).select_related("sample"),
                to_attr="active_links",
            )
        ),
        include_retired,
    )


def files_of_sample(sample_id: int, *, include_retired: bool = False) -> QuerySet[DataFile]:
    """The files linked (actively) to a sample, newest first; one query plus the links."""
    return (
        data_file_list(include_retired=include_retired)
        .filter(pk__in=linked_file_ids(sample_id))
        .order_by("-uploaded_at", "-id")
    )


def linked_file_ids(sample_id) -> QuerySet:
    """Subquery: ids of the files actively linked to ``sample_id``."""
    return DataFileLink.objects.filter(sample_id=sample_id, is_active=True).values(
        "data_file_id"
    )


def with_run_links(files: QuerySet[DataFile]) -> QuerySet[DataFile]:
    """``files`` with their active run links prefetched (``active_run_links``, run joined)."""
    return files.prefetch_related(
        Prefetch(
            "run_links",
            queryset=DataFileRunLink.objects.filter(is_active=True).select_related("run"),
            to_attr="active_run_links",
        )
    )


def run_file_ids(run_id) -> QuerySet:
    """Subquery: ids of the files actively linked to the synthesis run ``run_id``."""
    return DataFileRunLink.objects.filter(run_id=run_id, is_active=True).values("data_file_id")


def files_of_run(run_id: int, *, include_retired: bool = False) -> QuerySet[DataFile]:
    """The files actively linked to a synthesis run, newest first, with their sample and run
    links prefetched (three queries whatever the number of files)."""
    return with_run_links(
        data_file_list(include_retired=include_retired)
        .filter(pk__in=run_file_ids(run_id))
        .order_by("-uploaded_at", "-id")
    )


def link_history(data_file_id: int) -> QuerySet[DataFileLink]:
    """Every link of a file, active or not, with who linked/unlinked (for the file's page)."""
    return DataFileLink.objects.filter(data_file_id=data_file_id).select_related(
        "sample", "linked_by", "unlinked_by"
    )


def failed_parses(limit: int = 20) -> QuerySet[DataFile]:
    """The most recent files whose parse failed (for curators and the dashboard)."""
    return data_file_list().filter(parse_status="failed").order_by("-uploaded_at")[:limit]


def simulated_xas_spectra(*, elements) -> QuerySet:
    """Live SIMULATED XAS spectra (FDMNES, FEFF xmu.dat …; ``source="simulated"``) of the given
    absorbers, with their sample and file: what a μ(E) plot offers as overlays. One query."""
    from characterization.enums import DataSource
    from characterization.models import XASSpectrum

    return XASSpectrum.objects.filter(
        source=DataSource.SIMULATED,
        is_retired=False,
        sample__is_retired=False,
        data_file__isnull=False,
        element__in=sorted(set(elements)),
    ).select_related("sample", "data_file").order_by("element", "sample__code", "id")
