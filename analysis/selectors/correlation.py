"""Correlation of two structure–property frame columns, with the rule that chose each fit.

``frame_correlation(x=, y=, ...)`` reads the frame cached per data version (only the columns it
needs; one query when cached) and answers "does y track
x?" with ``analysis.engines.statistics.correlate``: Pearson/Spearman and the unweighted line,
the errors-in-variables fits (York 2004, scipy.odr) on both axes' errors (``error_column``), the
seeded resampled intervals and the warnings — and ``fit_rule``, the representative-measurement
rule in words with a note per sample whose chosen fit is an aged one (and whether that sample
is then used or drops out). ``correlation_of_columns`` does the same on a frame already built
(the explorer shows the frame too, so it does not build it twice).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from analysis.engines.statistics import DEFAULT_DRAWS, DEFAULT_SEED, WARN_LISTED, correlate
from analysis.selectors.frame_cache import cached_answer, select_columns, versioned_full_frame
from analysis.selectors.structure_property import (
    BASE_COLUMNS,
    RATIO_COLUMNS,
    error_column,
    unknown_column_error,
)
from labdb.lib.errors import DomainError

__all__ = ["MAX_DRAWS", "correlation_columns", "correlation_of_columns", "fit_rule",
           "frame_correlation", "page_of_points", "parse_fit_picks",
           "points_page"]

#: Most resampling draws one request may ask for (the engine also caps draws × points at
#: ``MAX_RESAMPLED_VALUES``, saying so in ``eiv_note``).
MAX_DRAWS = 20000
#: Largest database id (bigint); a larger "fit id" cannot exist.
_MAX_ID = 2**63 - 1
#: Frame columns that come from the Cd fit although they do not start with ``cd_``.
_RATIO_ABSORBER = "cd"


def parse_fit_picks(value: Any) -> dict[str, int]:
    """``{sample code: fit id}`` from a dict, a JSON object text, or ``code=id`` items separated
    by new lines or ``;`` (the explorer's text box). Empty → {}. Raises DomainError
    (``fit_picks``) naming what was expected."""
    if value is None or value == "" or value == {}:
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DomainError(f"fit_picks: not a JSON object ({exc.msg}); expected e.g. "
                                  '{"NPL-CdSe/CdZnS-4.5ML": 11}.', field="fit_picks") from None
        else:
            value = dict(_pick_item(item) for item in text.replace(";", "\n").splitlines()
                         if item.strip())
    if not isinstance(value, dict):
        raise DomainError("fit_picks: expected an object {sample code: fit id}.",
                          field="fit_picks")
    picks = {}
    for code, fit_id in value.items():
        text = str(fit_id).strip()
        if isinstance(fit_id, bool) or not (text.isascii() and text.isdigit()) or \
                int(text) > _MAX_ID:
            raise DomainError(f"fit_picks: the fit of {code!r} must be a fit id (a number), "
                              f"got {fit_id!r}.", field="fit_picks")
        picks[str(code).strip()] = int(str(fit_id).strip())
    return picks


def _pick_item(item: str) -> tuple[str, str]:
    code, sep, fit_id = item.rpartition("=")
    if not sep or not code.strip():
        raise DomainError(f"fit_picks: {item.strip()!r} is not 'sample code = fit id'.",
                          field="fit_picks")
    return code.strip(), fit_id.strip()


def _absorbers(columns: list[str], frame_columns: list[str]) -> list[str]:
    """Absorbers (``cd``, ``zn`` …) whose chosen fit supplies one of ``columns``."""
    out = []
    absorbers = [c[: -len("_fit_id")] for c in frame_columns if c.endswith("_fit_id")]
    for column in columns:
        if column in RATIO_COLUMNS:
            found = _RATIO_ABSORBER
        elif column in BASE_COLUMNS:
            continue
        else:
            found = next((a for a in absorbers if column.startswith(f"{a}_")), "")
        if found and found not in out:
            out.append(found)
    return out


def _rule_text(fit_choice: str, as_of: Any, fit_picks: dict[str, int]) -> str:
    if fit_choice == "earliest":
        text = "each sample's earliest measurement and fit (undated records first)"
    elif fit_choice == "as_of":
        when = (f"{float(as_of):g} days after synthesis" if _is_number(as_of)
                else f"{as_of}")
        text = (f"each sample's latest measurement and fit not later than {when} "
                "(undated records qualify)")
    else:
        text = ("each sample's latest measurement and fit (highest age after synthesis; "
                "undated records count as earlier than dated ones)")
    if fit_picks:
        picked = ", ".join(f"{code}: fit {fit_id}" for code, fit_id in fit_picks.items())
        text += f"; picked by hand: {picked}"
    return text


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def fit_rule(frame: pd.DataFrame, *, x: str, y: str, fit_choice: str, as_of: Any = None,
             fit_picks: dict[str, int] | None = None) -> dict[str, Any]:
    """The fit-choice rule in words and what it did to the points of ``x`` against ``y``.

    Returns ``{"fit_choice", "as_of", "fit_picks", "rule", "absorbers", "notes"}``: after a
    first note counting them, one note per sample whose chosen fit (of an absorber supplying x
    or y) is dated after synthesis (an aged sample), saying the fit id, its age (days) and
    whether the sample is used or excluded for lack of a value — for the first WARN_LISTED
    such samples, then a last note saying how many more there are.
    """
    picks = fit_picks or {}
    absorbers = _absorbers([x, y], list(frame.columns))
    notes: list[str] = []
    # Whole columns at once: per-row pandas access costs seconds on a 10⁴-sample lab.
    x_missing, y_missing = frame[x].isna().to_numpy(), frame[y].isna().to_numpy()
    # 0: used, 1: excluded for a missing x, 2: for a missing y.
    fate_of = np.where(x_missing, 1, np.where(y_missing, 2, 0))
    fates = ("used", "x is missing with this fit, so the sample is excluded",
             "y is missing with this fit, so the sample is excluded")
    codes = frame["sample_code"].to_numpy()
    excluded = total = 0
    for absorber in absorbers:
        fit_id, age = frame[f"{absorber}_fit_id"], frame[f"{absorber}_fit_age_days"]
        aged = (fit_id.notna() & age.notna() & (age > 0)).to_numpy().nonzero()[0]
        states = fate_of[aged]
        total += aged.size
        excluded += int(np.count_nonzero(states))
        listed = aged[:max(0, WARN_LISTED - len(notes))]  # only the notes that are sent
        ids = fit_id.to_numpy()[listed].astype(float).astype(int).tolist()
        ages = age.to_numpy()[listed].astype(float).tolist()
        name = absorber.capitalize()
        for code, fit, days, state in zip(map(str, codes[listed].tolist()), ids, ages,
                                          states[:listed.size].tolist()):
            how = "picked by hand" if code in picks else "chosen by the rule"
            notes.append(f"{code}: the {name} fit {fit} ({how}) is {days:.1f} days after "
                         f"synthesis — an aged sample; {fates[state]}.")
    if total > len(notes):
        notes.append(f"… and {total - len(notes)} more aged samples, not listed (at most "
                     f"{WARN_LISTED} are).")
    if total:
        notes.insert(0, f"{total} sample(s) represented by an aged fit: "
                        f"{excluded} excluded, {total - excluded} used.")
    return {"fit_choice": fit_choice, "as_of": as_of, "fit_picks": picks,
            "rule": _rule_text(fit_choice, as_of, picks), "absorbers": absorbers,
            "notes": notes}


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A numeric frame column as floats, NaN where it is missing (nullable dtypes too)."""
    return frame[column].to_numpy(dtype=float, na_value=np.nan)


def _censored(frame: pd.DataFrame, x: str, y: str) -> np.ndarray | None:
    """Per row, whether x or y is a censored printed bound (its ``<column>_censored`` is True)."""
    flags = [frame[f"{name}_censored"].fillna(False) for name in (x, y)
             if f"{name}_censored" in frame.columns]
    if not flags:
        return None
    return (flags[0] | flags[-1]).to_numpy(dtype=bool)


def _check_columns(frame: pd.DataFrame, x: str, y: str, group: str | None) -> None:
    for name in (x, y, group):
        if name is not None and name not in frame.columns:
            raise unknown_column_error(name, frame.columns)
    for name in (x, y):
        if not pd.api.types.is_numeric_dtype(frame[name]):
            raise DomainError(f"{name}: column is not numeric; choose a numeric column for x "
                              f"and y.", field=name)


def correlation_of_columns(frame: pd.DataFrame, *, x: str, y: str, group: str | None = None,
                           fit_choice: str = "latest", as_of: Any = None,
                           fit_picks: dict[str, int] | None = None,
                           include_censored: bool = False, error_correlation: float = 0.0,
                           draws: int = DEFAULT_DRAWS, seed: int = DEFAULT_SEED,
                           points: slice | None = slice(None)) -> dict[str, Any]:
    """``correlate`` on columns ``x``, ``y`` (and ``group``) of a structure–property ``frame``
    built with ``fit_choice``/``as_of``/``fit_picks`` (echoed in ``fit_rule``); ``points``
    (all, a slice of the used points in frame order, or None) as in ``correlate``.

    Errors come from ``error_column`` (``x_err_column``/``y_err_column`` in the answer). A
    censored printed bound is not a point unless ``include_censored``. Raises DomainError for an
    unknown or non-numeric column, ``draws`` outside 1…MAX_DRAWS, a negative ``seed`` or
    ``error_correlation`` outside −1…1.
    """
    _check_columns(frame, x, y, group)
    if not 1 <= draws <= MAX_DRAWS:
        raise DomainError(f"draws: expected 1 to {MAX_DRAWS} resampling draws, got {draws}.",
                          field="draws")
    if seed < 0:
        raise DomainError(f"seed: expected a whole number ≥ 0, got {seed}.", field="seed")
    if not -1.0 <= error_correlation <= 1.0:
        raise DomainError("error_correlation: the correlation of x and y errors must be "
                          f"between -1 and 1, got {error_correlation}.",
                          field="error_correlation")
    x_err, y_err = error_column(x, frame.columns), error_column(y, frame.columns)
    result = correlate(
        _floats(frame, x), _floats(frame, y),
        x_err=_floats(frame, x_err) if x_err else None,
        y_err=_floats(frame, y_err) if y_err else None,
        groups=frame[group].tolist() if group else None,
        labels=frame["sample_code"].tolist(),
        # A printed bound ("QY below 1 %") is not a point unless include_censored asked for it.
        censored=None if include_censored else _censored(frame, x, y),
        error_correlation=error_correlation, draws=draws, seed=seed, points=points)
    rule = fit_rule(frame, x=x, y=y, fit_choice=fit_choice, as_of=as_of, fit_picks=fit_picks)
    return {"x": x, "y": y, "group": group, "x_err_column": x_err, "y_err_column": y_err,
            **result, "fit_rule": rule}


def correlation_columns(frame_columns: list[str], *, x: str, y: str,
                        group: str | None) -> list[str]:
    """The frame columns a correlation of ``x`` and ``y`` (by ``group``) reads: the two
    columns, their error and ``_censored`` columns, the group, and the fit id and age of each
    absorber supplying x or y (for ``fit_rule``), after ``sample_code``."""
    names = ["sample_code", x, y]
    for name in (x, y):
        names += [c for c in (error_column(name, frame_columns), f"{name}_censored")
                  if c in frame_columns]
    if group:
        names.append(group)
    for absorber in _absorbers([x, y], frame_columns):
        names += [f"{absorber}_fit_id", f"{absorber}_fit_age_days"]
    return list(dict.fromkeys(names))


def page_of_points(offset: int, limit: int) -> slice:
    """The ``points`` argument of ``frame_correlation`` for ``limit`` points from ``offset``
    (in sample-code order)."""
    return slice(offset, offset + limit)


def points_page(result: dict[str, Any], *, offset: int, limit: int) -> dict[str, Any]:
    """``result`` (computed with ``points=page_of_points(offset, limit)``) with
    ``points_total`` (every used point: ``n``), ``points_offset`` and ``points_limit`` saying
    which page ``points`` is."""
    return {**result, "points_total": result["n"], "points_offset": offset,
            "points_limit": limit}


def frame_correlation(*, x: str, y: str, group: str | None = None, fit_choice: str = "latest",
                      as_of: Any = None, fit_picks: dict[str, int] | None = None,
                      filters: dict | None = None, include_flagged: bool = False,
                      include_censored: bool = False, error_correlation: float = 0.0,
                      draws: int = DEFAULT_DRAWS, seed: int = DEFAULT_SEED,
                      points: slice | None = slice(None)) -> dict[str, Any]:
    """``correlation_of_columns`` on the frame for these arguments (as
    ``structure_property_frame``), read from the frame cached per data version
    (``analysis.selectors.frame_cache``; one query when cached) and narrowed to
    ``correlation_columns`` before the row filters, so a request copies and reads only the
    columns it needs. Same answer, errors and messages as on the full frame.

    The answer itself is kept per frame and question (``cached_answer``: the statistics are
    seeded, so the same question on the same data version has the same answer); a write to any
    input of the frame changes the version and the next request computes afresh. The answer is
    shared: read it, never modify it."""
    full, row_filters, identity = versioned_full_frame(
        fit_choice=fit_choice, as_of=as_of, filters=filters, include_flagged=include_flagged,
        include_censored=include_censored, fit_picks=fit_picks)
    _check_columns(full, x, y, group)
    question = (x, y, group, repr(sorted(row_filters.items())), include_censored,
                float(error_correlation), int(draws), int(seed),
                None if points is None else (points.start, points.stop, points.step))

    def compute() -> dict[str, Any]:
        frame = select_columns(full, correlation_columns(list(full.columns), x=x, y=y,
                                                         group=group), row_filters)
        return correlation_of_columns(frame, x=x, y=y, group=group, fit_choice=fit_choice,
                                      as_of=as_of, fit_picks=fit_picks,
                                      include_censored=include_censored,
                                      error_correlation=error_correlation, draws=draws,
                                      seed=seed, points=points)

    return cached_answer(identity, question, compute)
