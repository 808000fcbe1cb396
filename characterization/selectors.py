"""Reads of the characterization domain: list querysets with pinned prefetches."""

from __future__ import annotations

from django.db.models import QuerySet

from characterization.models import (
    DataFile,
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
    return _active(
        DataFile.objects.select_related("sample", "uploaded_by", "owner"), include_retired
    )


def failed_parses(limit: int = 20) -> QuerySet[DataFile]:
    """The most recent files whose parse failed (for curators and the dashboard)."""
    return data_file_list().filter(parse_status="failed").order_by("-uploaded_at")[:limit]
