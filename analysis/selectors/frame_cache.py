"""The structure–property frame, built once per *data version* and served from memory after.

``cached_structure_property_frame(...)`` answers like ``structure_property_frame(...)`` but keeps
the built frame (before row filters) in a small per-process cache keyed by the data version, the
database and the arguments that change the build (fit_choice, as_of, fit_picks, sources,
include_flagged, include_censored). Row filters and ``columns`` are applied to the cached frame.

The data version — why history tables and not a counter bumped by the write services
---------------------------------------------------------------------------------------
Every input table of the frame (samples, layers, runs, recipes, recipe steps, PL, TEM, XAS fits
and paths, reported and computed quantities, curator flags, PL lifetimes, absorption) is
tracked by django-simple-history: every ``save()``/``delete()`` — a service, the admin, a
shell, a test factory, retire and restore (``labdb.lib.records``) — writes a history row, and
the one bulk write on an input table
(``record_xas_fit``'s paths) uses ``bulk_create_with_history``. So the latest history row of each
table (its id and date) changes with every write that can change a frame column, without a
version bump in each write service that one forgotten service would make stale. The version is
one SQL query of scalar subqueries, each an index seek on a primary key (cost independent of
the lab's size). ``MAX(id)`` of each base table is in the version too, so that rows inserted
with a bare ``bulk_create`` (the benchmark generator) are not missed. Not seen: a bare
``QuerySet.update()`` on an input table; no code path does that (the only ``update()`` calls
are on ``DataFile`` parse state, not a frame input). The history *date* is in the key because
SQLite re-uses ids after a rolled-back transaction.

A frame built while a write commits is stored under the version read *before* the build, so
the next request sees a newer version and rebuilds: never stale, at worst built twice.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import pandas as pd
from django.db import connections
from django.db.models import Model

from analysis.selectors.structure_property import (
    _sources_from,
    apply_frame_filters,
    structure_property_frame,
    unknown_column_error,
)
from characterization.models import (
    AbsorptionMeasurement,
    PLLifetimeMeasurement,
    PLMeasurement,
    ReportedQuantity,
    TEMSizeMeasurement,
    XASFit,
    XASPath,
)
from synthesis.models import DataFlag, Recipe, RecipeStep, Sample, SampleLayer, SynthesisRun

__all__ = ["FRAME_INPUT_MODELS", "MAX_CACHED_ANSWERS", "MAX_CACHED_FRAMES", "cached_answer",
           "cached_full_frame",
           "cached_structure_property_frame", "clear_frame_cache", "data_version", "select_columns",
           "versioned_full_frame"]

#: Models whose rows feed some frame column (see the structure_property module docstring).
FRAME_INPUT_MODELS: tuple[type[Model], ...] = (
    Sample, SampleLayer, SynthesisRun, Recipe, RecipeStep, PLMeasurement, TEMSizeMeasurement,
    XASFit, XASPath, ReportedQuantity, DataFlag, PLLifetimeMeasurement, AbsorptionMeasurement)
#: Frames kept per process (a 10⁵-sample frame is ~60 MB): the common argument sets of a
#: session (latest / earliest / one as_of) fit, an old version is evicted first.
MAX_CACHED_FRAMES = 4
#: Answers computed from a cached frame (``cached_answer``; a correlation of a 10⁵-sample lab
#: with its notes is a few MB) kept per process.
MAX_CACHED_ANSWERS = 8

T = TypeVar("T")

_lock = threading.Lock()
_frames: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
_answers: OrderedDict[tuple, Any] = OrderedDict()


def _version_sql(quote: Any) -> str:
    parts = []
    for model in FRAME_INPUT_MODELS:
        table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
        parts.append(f"(SELECT MAX({pk}) FROM {table})")
        history = model.history.model._meta  # type: ignore[attr-defined]
        h_table, h_pk = quote(history.db_table), quote(history.pk.column)
        parts.append(f"(SELECT MAX({h_pk}) FROM {h_table})")
        parts.append(f"(SELECT {quote('history_date')} FROM {h_table} "
                     f"ORDER BY {h_pk} DESC LIMIT 1)")
    return "SELECT " + ", ".join(parts)


def data_version(using: str = "default") -> tuple:
    """The data version of the frame's inputs: one query, a tuple that changes with every
    write to an input table (see the module docstring for what counts as a write)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(_version_sql(connection.ops.quote_name))
        row = cursor.fetchone()
    return tuple(str(v) if v is not None else None for v in row)


def clear_frame_cache() -> None:
    """Forget every cached frame and answer (the next request of each kind rebuilds)."""
    with _lock:
        _frames.clear()
        _answers.clear()


def cached_answer(frame_identity: tuple, question: tuple, compute: Callable[[], T]) -> T:
    """``compute()`` once per frame (``frame_identity`` from ``versioned_full_frame``) and
    ``question`` (hashable: every argument the answer depends on besides the frame), then the
    same object from memory until the data version changes. ``compute`` must be deterministic
    (seeded) and its answer is shared: read it, never modify it. Answers of another data version
    of the same build are dropped when a new one is stored; at most MAX_CACHED_ANSWERS are kept.
    """
    key = (*frame_identity, question)
    with _lock:
        if key in _answers:
            _answers.move_to_end(key)
            return _answers[key]
    answer = compute()
    build = frame_identity[:-1]
    with _lock:
        for old in [k for k in _answers if k[:len(build)] == build
                    and k[len(build)] != frame_identity[-1]]:
            del _answers[old]
        _answers[key] = answer
        while len(_answers) > MAX_CACHED_ANSWERS:
            _answers.popitem(last=False)
    return answer


def _build_key(using: str, fit_choice: str, as_of: Any, sources: list[str],
               include_flagged: bool, include_censored: bool,
               fit_picks: dict | None) -> tuple:
    settings = connections[using].settings_dict
    return (using, settings.get("ENGINE"), str(settings.get("NAME")), fit_choice,
            None if as_of is None else str(as_of), tuple(sorted(sources)), bool(include_flagged),
            bool(include_censored), tuple(sorted((fit_picks or {}).items())))


def _cached_build(key: tuple, version: tuple, build_args: dict) -> pd.DataFrame:
    full_key = (*key, version)
    with _lock:
        frame = _frames.get(full_key)
        if frame is not None:
            _frames.move_to_end(full_key)
            return frame
    frame = structure_property_frame(**build_args)
    with _lock:
        for old in [k for k in _frames if k[:-1] == key]:  # an older version of this build
            del _frames[old]
        _frames[full_key] = frame
        while len(_frames) > MAX_CACHED_FRAMES:
            _frames.popitem(last=False)
    return frame


def select_columns(frame: pd.DataFrame, columns: Iterable[str] | None,
                   filters: dict | None = None) -> pd.DataFrame:
    """Rows of ``frame`` matching ``filters`` (``apply_frame_filters``), reduced to ``columns``
    (in that order; ``sample_code`` first if not named; all for None/empty). The columns are
    narrowed *before* filtering, so that a filter copies only what is returned. Raises
    DomainError naming an unknown column or filter column (field: the column) and listing the
    valid ones."""
    wanted = [c for c in (columns or []) if c]
    filter_columns = [key.partition("__")[0] for key in (filters or {})]
    for name in [*wanted, *filter_columns]:
        if name not in frame.columns:
            raise unknown_column_error(name, frame.columns)
    if not wanted:
        return apply_frame_filters(frame, filters) if filters else frame
    if "sample_code" not in wanted:
        wanted = ["sample_code", *wanted]
    wanted = list(dict.fromkeys(wanted))
    if not filters:
        return frame[wanted]
    narrow = frame[list(dict.fromkeys([*wanted, *filter_columns]))]
    return apply_frame_filters(narrow, filters)[wanted]


def cached_full_frame(*, fit_choice: str = "latest", as_of: Any = None,
                      filters: dict | None = None, include_flagged: bool = False,
                      include_censored: bool = False, fit_picks: dict | None = None,
                      using: str = "default") -> tuple[pd.DataFrame, dict]:
    """The cached, unfiltered frame for these build arguments, and the row filters still to
    apply (``filters`` without ``source``/``source__in``, which choose the build). One query
    (the data version) when cached, twelve otherwise (the frame's eleven). The frame is the
    cached object: read it, never modify it in place."""
    frame, row_filters, _ = versioned_full_frame(
        fit_choice=fit_choice, as_of=as_of, filters=filters, include_flagged=include_flagged,
        include_censored=include_censored, fit_picks=fit_picks, using=using)
    return frame, row_filters


def versioned_full_frame(*, fit_choice: str = "latest", as_of: Any = None,
                         filters: dict | None = None, include_flagged: bool = False,
                         include_censored: bool = False, fit_picks: dict | None = None,
                         using: str = "default") -> tuple[pd.DataFrame, dict, tuple]:
    """``cached_full_frame`` and the frame's identity: a tuple of the build arguments and the
    data version it was built for, equal for two calls exactly when they read the same frame
    (for caches of answers computed from it)."""
    sources, row_filters = _sources_from(filters or {})
    version = data_version(using)
    key = _build_key(using, fit_choice, as_of, sources, include_flagged, include_censored,
                     fit_picks)
    build_args = {"fit_choice": fit_choice, "as_of": as_of, "filters": {"source__in": sources},
                  "include_flagged": include_flagged, "include_censored": include_censored,
                  "fit_picks": fit_picks}
    return _cached_build(key, version, build_args), row_filters, (*key, version)


def cached_structure_property_frame(*, fit_choice: str = "latest", as_of: Any = None,
                                    filters: dict | None = None, include_flagged: bool = False,
                                    include_censored: bool = False,
                                    fit_picks: dict | None = None,
                                    columns: Iterable[str] | None = None,
                                    using: str = "default") -> pd.DataFrame:
    """``structure_property_frame`` with the same arguments (and errors), served from the
    per-process cache when the data version is unchanged: one query (the version) for a cached
    frame, twelve (version + the frame's eleven) otherwise. ``columns`` narrows the answer
    (``select_columns``). Do not modify the returned frame in place: with no filters and no
    columns it is the cached object itself."""
    frame, row_filters = cached_full_frame(
        fit_choice=fit_choice, as_of=as_of, filters=filters, include_flagged=include_flagged,
        include_censored=include_censored, fit_picks=fit_picks, using=using)
    return select_columns(frame, columns, row_filters)
