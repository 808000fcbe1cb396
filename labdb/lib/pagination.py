"""Pages whose count never rescans a large match: exact up to ``COUNT_CAP``, a bound beyond.

A page is read as ``page_size + 1`` rows (the extra row says whether a next page exists), so a
page that ends the matches needs no count query at all. Otherwise one ``COUNT(*)`` over at most
``COUNT_CAP + 1`` rows gives the exact count, or says "more than ``COUNT_CAP``": the count of a
broad search over a million samples stops after ``COUNT_CAP`` rows instead of scanning them
all. Both databases answer the same numbers (no planner estimates), and paging past the cap
still works (``next`` comes from the extra row, not from the count).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from labdb.lib.api import LabdbPagination

COUNT_CAP = 10_000


@dataclass(frozen=True)
class CappedPage:
    """One page of rows. ``count`` is exact when ``count_exact``; else a lower bound (the
    matches are more than ``COUNT_CAP``, and at least as many as this page reaches)."""

    rows: list[Any]
    number: int  # 1-based
    page_size: int
    has_next: bool
    count: int
    count_exact: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def num_pages(self) -> int | None:
        """Pages in all when the count is exact, else None (unknown)."""
        if not self.count_exact:
            return None
        return max(1, -(-self.count // self.page_size))


def parse_page_number(raw: str | None) -> int:
    """``?page=``: a positive integer (default 1); raises ValueError naming what was expected."""
    if raw in (None, ""):
        return 1
    if raw == "last":
        raise ValueError("page: 'last' is not offered here (the count may be a bound); "
                         "expected a page number from 1")
    try:
        number = int(raw)
    except ValueError:
        raise ValueError(f"page: expected a page number from 1, got {raw!r}") from None
    if number < 1:
        raise ValueError(f"page: expected a page number from 1, got {number}")
    return number


def capped_page(queryset: QuerySet, *, number: int, page_size: int,
                cap: int = COUNT_CAP) -> CappedPage:
    """Page ``number`` (1-based) of ``queryset`` (already ordered) with a capped count.

    Queries: the page (plus the queryset's prefetches); one capped ``COUNT(*)`` only when the
    page does not end the matches and ends before ``cap``. A page past the end has no rows
    (``count`` is then the exact count when it fits under the cap).
    """
    offset = (number - 1) * page_size
    rows = list(queryset[offset:offset + page_size + 1])
    has_next = len(rows) > page_size
    rows = rows[:page_size]
    reached = offset + len(rows) if rows else 0  # past the end: nothing reached
    if not has_next and (rows or number == 1):
        return CappedPage(rows, number, page_size, False, reached, True)
    if reached > cap:
        return CappedPage(rows, number, page_size, has_next, reached, False)
    # Count at most cap + 1 rows: ordering and prefetches are irrelevant to it.
    bounded = queryset.order_by().prefetch_related(None).values("pk")[:cap + 1].count()
    if bounded > cap:
        return CappedPage(rows, number, page_size, has_next, cap, False)
    return CappedPage(rows, number, page_size, has_next, bounded, True)


class CappedCountPagination(LabdbPagination):
    """``{"count", "count_exact", "next", "previous", "results"}`` with ``?page=`` and
    ``?page_size=`` (up to 500). ``count`` is exact up to ``COUNT_CAP`` matches; past that
    ``count_exact`` is false and ``count`` is a lower bound (narrow the search or filters)."""

    display_page_controls = False  # DRF's HTML controls need the page total

    def paginate_queryset(self, queryset, request: Request, view=None) -> list[Any]:
        self.request = request
        try:
            number = parse_page_number(request.query_params.get(self.page_query_param))
        except ValueError as exc:
            raise NotFound(str(exc)) from None
        self.capped = capped_page(queryset, number=number,
                                  page_size=self.get_page_size(request) or self.page_size)
        if number > 1 and not self.capped.rows:
            raise NotFound(f"page: there is no page {number} (the last page has the last "
                           f"of {self.capped.count} matches)")
        return self.capped.rows

    def get_next_link(self) -> str | None:
        if not self.capped.has_next:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.page_query_param, self.capped.number + 1)

    def get_previous_link(self) -> str | None:
        if not self.capped.has_previous:
            return None
        url = self.request.build_absolute_uri()
        if self.capped.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.capped.number - 1)

    def get_paginated_response(self, data) -> Response:
        return Response({
            "count": self.capped.count,
            "count_exact": self.capped.count_exact,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
            "results": data,
        })

    def get_paginated_response_schema(self, schema: dict) -> dict:
        base = super().get_paginated_response_schema(schema)
        base["properties"]["count"]["description"] = (
            f"Number of matches: exact when count_exact is true; past {COUNT_CAP} matches a "
            "lower bound.")
        base["properties"] = {
            "count": base["properties"]["count"],
            "count_exact": {"type": "boolean", "example": True,
                            "description": f"False when more than {COUNT_CAP} records match "
                                           "(the count is then not rescanned)."},
            **{k: v for k, v in base["properties"].items() if k != "count"},
        }
        base["required"] = ["count", "count_exact", "results"]
        return base
