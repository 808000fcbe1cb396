"""Aging: a sample's properties over time, the changes between re-measurements, what is due.

``aging_series(sample)`` is a long DataFrame, one row per (measurement, property):

=====================  ========================================================================
``sample_code``,       the sample the point was measured on (with ``include_lineage`` also its
``sample_id``          ancestors and descendants: aliquots, the core it grew from …)
``property``           ``qy_pct``, ``pl_peak_nm``, ``fwhm_mev``, ``fwhm_nm``, ``tem_length_nm``,
                       ``tem_width_nm``, ``tem_diameter_nm``, and per XAS path
                       ``<a>_<s>_n``, ``<a>_<s>_r_a``, ``<a>_<s>_sigma2_a2`` (``cd_s_n`` …)
``edge``               absorption edge of an XAS value (``Cd K``), else ``""``
``citation``,          where the number comes from; the age as printed (``6 months``)
``age_label``
``measured_at``        when measured (UTC), if known
``age_days``           ``measured_at − synthesis_date`` when both are known, else the stored
                       ``age_days`` (derived from the printed label); NaN = undated
``value``, ``err``     the value and its 1σ error (NaN when none was given). TEM: the error of
                       the *mean*, SD/√N, only when N counted is known — the SD itself is the
                       spread of the population, not an uncertainty of the mean. A QY printed
                       as a range is its midpoint ± half-range; a bound ("below 1 %") is
                       censored and left out (as in the structure–property frame)
``source``             published / measured / computed / simulated
``measurement_kind``,  ``pl``, ``tem`` or ``xas_fit`` and the record id
``measurement_id``
=====================  ========================================================================

``aging_changes(series)`` compares consecutive *dated* points of each (sample, property, edge):
``delta = to − from``, ``combined_err = sqrt(e1² + e2²)`` and ``significant = |delta| > k·
combined_err`` (k = 2). When an error is missing the test is undefined: ``significant`` is False
and ``verdict`` says "undefined (error missing)". Undated points stay in the series but are not
compared: without an age they cannot be placed in time.

Measurements and fits flagged ``wrong`` or ``duplicate`` by a curator (open or acknowledged;
e.g. seed 000's Table S2, which repeats the bare cores' Table 2 under the core/shell names) are
not part of a sample's series unless ``include_flagged=True``.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
from django.db import connections
from django.db.models import CharField, Q, QuerySet, Value
from django.db.models.functions import Concat

from analysis.models import PlannedRemeasurement
from analysis.selectors.structure_property import (
    CENSORING_QUALIFIERS,
    KIND_CODES,
    _branch,
    flagged,
)
from characterization.models import PLMeasurement, TEMSizeMeasurement, XASFit, XASPath
from synthesis.models import Qualifier, Sample
from synthesis.selectors import ancestor_ids, descendant_ids

__all__ = [
    "AGING_CHANGE_COLUMNS",
    "AGING_SERIES_COLUMNS",
    "DUE_COLUMNS",
    "SIGNIFICANCE_K",
    "aging_changes",
    "aging_series",
    "due_remeasurements",
]

SIGNIFICANCE_K = 2.0

AGING_SERIES_COLUMNS = [
    "sample_code", "sample_id", "property", "edge", "citation", "age_label", "measured_at",
    "age_days", "value", "err", "source", "measurement_kind", "measurement_id",
]
AGING_CHANGE_COLUMNS = [
    "sample_code", "sample_id", "property", "edge", "from_measurement_id",
    "to_measurement_id", "from_age_days", "to_age_days", "from_value", "from_err", "to_value",
    "to_err", "delta", "combined_err", "threshold", "significant", "verdict",
]
DUE_COLUMNS = ["planned_id", "study_id", "sample_code", "sample_id", "storage_condition",
               "label", "due_on", "days_overdue", "status"]

_RAW = ("kind", "sample_id", "rec_id", "grp", "measured_at", "age_days", "source",
        "t1", "t2", "t3", "t4", "pos", "f1", "f2", "f3", "f4", "f5", "f6", "syn_date")


def _series_queryset(sample_ids: list[int], include_flagged: bool = False) -> QuerySet:
    """UNION ALL of PL (P), TEM (T) and XAS paths (X) of the samples, with code and dates;
    records flagged wrong/duplicate left out unless ``include_flagged``."""
    live = Q(is_retired=False, sample_id__in=sample_ids)
    common = {"sample_id": "sample_id", "rec_id": "id", "measured_at": "measured_at",
              "age_days": "age_days", "source": "source", "t1": "citation",
              "t2": "sample__code", "t4": "age_label", "syn_date": "sample__synthesis_date"}
    pl_qs = PLMeasurement.objects.filter(live)
    tem_qs = TEMSizeMeasurement.objects.filter(live)
    path_qs = XASPath.objects.filter(fit__is_retired=False, fit__sample_id__in=sample_ids)
    if not include_flagged:
        pl_qs = pl_qs.filter(~flagged(PLMeasurement))
        tem_qs = tem_qs.filter(~flagged(TEMSizeMeasurement))
        path_qs = path_qs.filter(~flagged(XASFit, "fit_id"))
    pl = _branch(pl_qs, "P", **common, f1="qy_pct", f2="peak_nm", f3="fwhm_mev",
                 f4="fwhm_nm", f5="qy_pct_max", t3="qualifier")
    tem = _branch(tem_qs, "T", **common, pos="n_counted",
                  f1="length_nm", f2="length_sd_nm", f3="width_nm", f4="width_sd_nm",
                  f5="diameter_nm", f6="diameter_sd_nm")
    paths = _branch(
        path_qs, "X",
        sample_id="fit__sample_id", rec_id="fit_id",
        grp=Concat("fit__absorber", Value(" "), "fit__edge_name", output_field=CharField()),
        measured_at="fit__measured_at", age_days="fit__age_days",
        source="fit__source", t1="fit__citation", t2="fit__sample__code",
        t3="scatterer", t4="fit__age_label", pos="position", f1="n", f2="n_err", f3="r_a",
        f4="r_err_a", f5="sigma2_a2", f6="sigma2_err_a2",
        syn_date="fit__sample__synthesis_date",
    )
    # ``grp`` holds the edge, "Cd K": its first word is the absorber that names the property.
    return pl.union(tem, paths, all=True)


def _raw(qs: QuerySet) -> pd.DataFrame:
    sql, params = qs.query.get_compiler(using=qs.db).as_sql()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    raw = pd.DataFrame.from_records(rows, columns=list(_RAW), coerce_float=True)
    for name in ("measured_at", "syn_date"):
        raw[name] = pd.to_datetime(raw[name], utc=True, format="ISO8601")
    for name in ("age_days", *(f"f{i}" for i in range(1, 7))):
        raw[name] = pd.to_numeric(raw[name], errors="coerce").astype("float64")
    return raw


def _sem(sd: pd.Series, n: pd.Series) -> pd.Series:
    n = pd.to_numeric(n, errors="coerce")
    return (sd / np.sqrt(n)).where(n > 0)


def _long(raw: pd.DataFrame) -> pd.DataFrame:
    """The generic rows turned into one row per (measurement, property)."""
    parts = []
    specs: dict[str, tuple[str, list[tuple[str, str, str | None]]]] = {
        "P": ("pl", [("qy_pct", "f1", None), ("pl_peak_nm", "f2", None),
                     ("fwhm_mev", "f3", None), ("fwhm_nm", "f4", None)]),
        "T": ("tem", [("tem_length_nm", "f1", "f2"), ("tem_width_nm", "f3", "f4"),
                      ("tem_diameter_nm", "f5", "f6")]),
    }
    for kind, (label, props) in specs.items():
        part = raw[raw["kind"] == KIND_CODES[kind]]
        for prop, value, sd in props:
            err = _sem(part[sd], part["pos"]) if sd else pd.Series(np.nan, index=part.index)
            values = part[value]
            if prop == "qy_pct":
                values, err = _qy_value(part)
            parts.append(_rows(part, label, prop, values, err, edge=""))
    paths = raw[raw["kind"] == KIND_CODES["X"]]
    if not paths.empty:
        edge = paths["grp"].astype(object)
        pair = edge.str.split(" ").str[0].str.lower() + "_" + \
            paths["t3"].astype(object).str.lower()
        for quantity, value_col, err_col in (("n", "f1", "f2"), ("r_a", "f3", "f4"),
                                             ("sigma2_a2", "f5", "f6")):
            parts.append(_rows(paths, "xas_fit", pair + "_" + quantity, paths[value_col],
                               paths[err_col], edge=edge))
    series = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if series.empty:
        return pd.DataFrame(columns=AGING_SERIES_COLUMNS)
    return series[series["value"].notna()]


def _qy_value(part: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """QY as it enters the series: a range (f1 … f5) → midpoint ± half-range; a bound
    (qualifier in t3 "<", ">", "≤", "≥") → NaN, i.e. left out; else the value, no error."""
    value, upper = part["f1"], part["f5"]
    qualifier = part["t3"].fillna("").astype(object)
    is_range = (qualifier == Qualifier.RANGE) & upper.notna()
    value = value.where(~is_range, (value + upper) / 2)
    value = value.where(~qualifier.isin(CENSORING_QUALIFIERS))
    return value, ((upper - part["f1"]) / 2).where(is_range)


def _rows(part: pd.DataFrame, kind: str, prop, value, err, *, edge) -> pd.DataFrame:
    measured: pd.Series[pd.Timestamp] = part["measured_at"]
    synthesized: pd.Series[pd.Timestamp] = part["syn_date"]
    delta = (measured - synthesized) / pd.Timedelta(days=1)
    age = delta.where(part["measured_at"].notna() & part["syn_date"].notna(), part["age_days"])
    return pd.DataFrame({
        "sample_code": part["t2"], "sample_id": part["sample_id"], "property": prop,
        "edge": edge, "citation": part["t1"], "age_label": part["t4"],
        "measured_at": part["measured_at"], "age_days": age, "value": value, "err": err,
        "source": part["source"], "measurement_kind": kind, "measurement_id": part["rec_id"],
    })


def aging_series(sample: Sample | int, *, include_lineage: bool = False,
                 include_flagged: bool = False) -> pd.DataFrame:
    """Every value measured on ``sample`` over time, long format (columns: module docstring).

    Records flagged wrong/duplicate are left out unless ``include_flagged``.

    ``include_lineage`` adds the sample's ancestors and descendants (2 more queries for the
    lineage, then the same single query). Sorted by sample code, property, edge, then age with
    undated points first, then measurement id.
    """
    sample_id = sample if isinstance(sample, int) else sample.pk
    ids = [sample_id]
    if include_lineage:
        ids += sorted(set(ancestor_ids(sample_id)) | set(descendant_ids(sample_id)))
    raw = _raw(_series_queryset(ids, include_flagged))
    series = _long(raw).reindex(columns=AGING_SERIES_COLUMNS)
    series = series.sort_values(["sample_code", "property", "edge", "age_days",
                                 "measurement_id"], na_position="first", kind="mergesort")
    series = series.reset_index(drop=True)
    for name in ("sample_id", "measurement_id"):
        series[name] = pd.to_numeric(series[name]).astype("Int64")
    for name in ("age_days", "value", "err"):
        series[name] = pd.to_numeric(series[name], errors="coerce").astype("float64")
    for name in ("sample_code", "property", "edge", "citation", "age_label", "source",
                 "measurement_kind"):
        series[name] = series[name].astype(object)
    series["measured_at"] = pd.to_datetime(series["measured_at"], utc=True)
    return series


def aging_changes(series: pd.DataFrame, *, k: float = SIGNIFICANCE_K) -> pd.DataFrame:
    """Changes between consecutive dated points per (sample, property, edge).

    ``significant`` is ``|delta| > k · sqrt(from_err² + to_err²)``; False with ``verdict``
    "undefined (error missing)" when either error is missing. Columns: AGING_CHANGE_COLUMNS.
    """
    dated = series[series["age_days"].notna()].sort_values(
        ["sample_id", "property", "edge", "age_days", "measurement_id"], kind="mergesort")
    rows = []
    for _key, group in dated.groupby(["sample_id", "property", "edge"], sort=True):
        points = group.to_dict("records")
        for before, after in zip(points, points[1:]):
            rows.append(_change(before, after, k))
    changes = pd.DataFrame.from_records(rows, columns=AGING_CHANGE_COLUMNS)
    changes["significant"] = changes["significant"].astype(bool)
    for name in ("from_measurement_id", "to_measurement_id", "sample_id"):
        changes[name] = pd.to_numeric(changes[name]).astype("Int64")
    for name in ("from_age_days", "to_age_days", "from_value", "from_err", "to_value", "to_err",
                 "delta", "combined_err", "threshold"):
        changes[name] = pd.to_numeric(changes[name], errors="coerce").astype("float64")
    return changes


def _change(before: dict, after: dict, k: float) -> dict:
    delta = after["value"] - before["value"]
    e1, e2 = before["err"], after["err"]
    known = not (pd.isna(e1) or pd.isna(e2))
    combined = math.sqrt(e1 ** 2 + e2 ** 2) if known else math.nan
    threshold = k * combined if known else math.nan
    significant = bool(known and abs(delta) > threshold)
    verdict = ("significant" if significant else "not significant") if known \
        else "undefined (error missing)"
    return {"sample_code": after["sample_code"], "sample_id": after["sample_id"],
            "property": after["property"], "edge": after["edge"],
            "from_measurement_id": before["measurement_id"],
            "to_measurement_id": after["measurement_id"], "from_age_days": before["age_days"],
            "to_age_days": after["age_days"], "from_value": before["value"], "from_err": e1,
            "to_value": after["value"], "to_err": e2, "delta": delta, "combined_err": combined,
            "threshold": threshold, "significant": significant, "verdict": verdict}


def due_remeasurements(today: dt.date, *, horizon_days: int = 0) -> pd.DataFrame:
    """Planned re-measurements not done yet and due on or before ``today + horizon_days``.

    One query. ``status`` is "overdue" (due before today), "due" (today) or "upcoming" (within
    the horizon); ``days_overdue`` is negative for upcoming ones. Retired studies are left out.
    Sorted by due date, then id. Columns: DUE_COLUMNS.
    """
    limit = today + dt.timedelta(days=horizon_days)
    planned = (PlannedRemeasurement.objects
               .filter(done_on__isnull=True, due_on__lte=limit, study__is_retired=False)
               .order_by("due_on", "id")
               .values_list("id", "study_id", "study__sample__code", "study__sample_id",
                            "study__storage_condition", "label", "due_on"))
    rows = []
    for pk, study_id, code, sample_id, storage, label, due_on in planned:
        late = (today - due_on).days
        status = "overdue" if late > 0 else "due" if late == 0 else "upcoming"
        rows.append((pk, study_id, code, sample_id, storage, label, due_on, late, status))
    return pd.DataFrame.from_records(rows, columns=DUE_COLUMNS)
