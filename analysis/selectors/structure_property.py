"""The structure–property frame: one row per sample, structure and properties side by side.

``structure_property_frame(fit_choice=..., as_of=..., filters=...)`` returns a pandas DataFrame
built from ELEVEN narrow SQL queries read in one transaction (one per branch: samples, recipe
steps, layers, PL, TEM sizes, XAS fit paths, PL lifetimes, absorption and reported/computed
quantities; query count pinned in the tests). Rows are sorted by ``sample_code``; retired
samples and retired measurements, stale computed fits and simulated data are left out.

Columns, in this order (fixed even when the frame is empty):

==============================  =================================================================
``sample_code``, ``sample_id``  the sample
``architecture``                layer roles present, in the order core, crown, shell:
                                ``core``, ``core/crown``, ``core/shell``, ``core/crown/shell``
                                (several shells still read ``core/shell``); None without layers
``core_ml``                     thickness of the (first) core layer in monolayers
``layer_stack``                 e.g. ``CdSe 4.5 ML core / CdS crown / Cd_xZn_{1-x}S shell``
                                (composition formula when given, else material; ML or nm)
``material``, ``morphology``    as on the sample
``recipe``                      name of the recipe of the run that produced the sample
``max_setpoint_c``              highest set point over the recipe steps (°C; the upper end of a
                                printed range counts)
``max_injection_rate_ml_per_h`` highest injection rate of any step, before or after a switch
``total_hold_s``                sum of the durations of ``hold`` steps (s)
``length_nm``, ``width_nm``,    TEM size statistics (mean) of the chosen TEM measurement
``diameter_nm``
``peak_nm``, ``fwhm_mev``,      PL of the chosen PL measurement. ``qy_pct`` is the number that
``qy_pct``, ``qy_pct_err``,     enters statistics, by the printed-value rule below: a range
``qy_pct_min``, ``qy_pct_max``, (88–90 %) enters as its midpoint 89 with ``qy_pct_err`` = the
``qy_pct_qualifier``,           half-range 1 (no σ is printed); ``qy_pct_min``/``qy_pct_max``
``qy_pct_censored``             are the printed ends of a range or a bound (88, 90; "below 1 %"
                                → None, 1; "above 80 %" → 80, None), None for a single value;
                                ``qy_pct_qualifier`` is "~", "range", "<", ">", "≤" or "≥", None
                                for a single value as printed (or no QY);
                                ``qy_pct_censored`` is True for a bound ("below 1 %"), whose
                                ``qy_pct`` is None (never 1.0) unless ``include_censored``
``fwhm_mev_err``, ``_min``,     the PL FWHM (meV) by the same printed-value rule as the QY: a
``_max``, ``_qualifier``,       printed range enters ``fwhm_mev`` as its midpoint ± half-range
``_censored``                   (``fwhm_mev_err``), a bound is censored
``tem_id``, ``pl_id``           ids of the chosen TEM and PL measurements
``qy_method``                   method of the chosen PL row's QY: its ``qy_method`` ("relative",
                                "absolute" …), else "published" for a paper's QY whose method is
                                not stated; None without a QY (rule below)
``qy_pct_computed``, ``_err``,  the QY computed by labdb (relative-QY runs: a computed PL row
``qy_computed_id``              with a QY), % ± 1σ in percentage points, and its id
``lifetime_ns``, ``_err``,      mean PL lifetime (ns) ± 1σ of the chosen PL lifetime measurement,
``lifetime_kind``,              which mean it is ("intensity" Σaτ²/Σaτ, "amplitude" Σaτ/Σa, None
``lifetime_id``                 when not stated) and its id
``abs_1s_nm``, ``abs_1s_ev``,   1S absorption peak (nm, eV), its low-energy HWHM (meV) and peak-
``abs_1s_hwhm_mev``,            to-valley ratio of the chosen absorption measurement, its id
``abs_peak_to_valley``,
``abs_id``
``sizing_diameter_nm``,         diameter (nm ± 1σ) from a published sizing curve, the
``sizing_diameter_nm_err``,     correlation's name (``extra.correlation``) and the row's id;
``sizing_correlation``,         beside ``diameter_nm``, which is always TEM
``sizing_id``
``<a>_<s>_n``, ``_n_err``,      for EVERY fitted absorber–scatterer path ``a``–``s`` (lower case,
``_r_a``, ``_r_err_a``,         e.g. ``cd_s_n``, ``zn_s_sigma2_a2``), N, R (Å) and σ² (Å²) with
``_sigma2_a2``,                 their errors, from the chosen fit of absorber ``a``. ``cd_s`` and
``_sigma2_err_a2``              ``cd_se`` are always present; others appear, sorted, when some
                                fit has them. A second shell of the same pair in one fit gets
                                ``_2`` (``cd_cd_2_n``).
``<a>_fit_id``,                 id, citation and effective age (days) of the fit chosen for each
``<a>_fit_citation``,           absorber, so every number can be traced (``cd`` and ``zn`` always
``<a>_fit_age_days``            present)
``cd_s_cd_se_n_ratio``,         N(Cd–S)/N(Cd–Se) of the chosen Cd fit, error propagated as
``cd_s_cd_se_n_ratio_err``      r·sqrt((σa/a)² + (σb/b)²) (None when an error is missing)
``computed_<name>``, ``_err``   results of calculator runs (analysis kinds ``bond_angle``,
                                ``coordination_ratio``, ``stoichiometry_candidates``): every
                                computed ReportedQuantity whose ``extra["frame_column"]`` is
                                ``<name>`` (e.g. ``computed_cd_s_cd_angle_deg``), value and
                                error of the one chosen per sample by ``fit_choice`` (ties: the
                                latest recorded); a ``<name>`` ending in ``_formula`` is text
                                (``text_value``) without ``_err``. Sorted, after the ratio.
==============================  =================================================================

Which measurement represents a sample — ``fit_choice``
------------------------------------------------------
Chosen independently for PL, for TEM, and for the XAS fits of each absorber element (so all
``cd_*`` columns come from ONE Cd fit and the ratio never mixes fits). A measurement's age is
``measured_at − synthesis_date`` when both are known, else its stored ``age_days`` (published
"2.5 months" → 76.09 d). Measurements with no age at all ("undated", e.g. the main tables of a
paper that only dates its aging study) rank before every dated one: a dated re-measurement is
taken to be later than the undated primary characterization.

* ``"latest"`` (default): the highest age (then ``measured_at``).
* ``"earliest"``: the lowest age; undated measurements first.
* ``"as_of"``: the latest measurement not later than ``as_of``: a number is an age in days
  (undated measurements always qualify); a date/datetime is compared with ``measured_at``, or
  ``synthesis_date + age`` when only an age is known — measurements that cannot be placed on the
  calendar but do have an age are then excluded, undated ones qualify.

Ties (same age and time) go to the highest id, i.e. the most recently recorded measurement —
a correction or re-fit recorded later supersedes the earlier record of the same moment.

``fit_picks={"NPL-CdSe/CdZnS-4.5ML": 11}`` (sample code → XAS fit id) overrides the rule for the
absorber of each picked fit of that sample (the per-sample pick); the fit must be one the frame
may use (that sample's, not retired, stale, flagged or simulated), else DomainError
(field ``fit_picks``) listing the usable fits.

Printed values: ranges, bounds, precedence
------------------------------------------
A PL QY printed as a range (qualifier "range", ``qy_pct`` … ``qy_pct_max``) enters the frame as
the midpoint ± half-range and says so in ``qy_pct_qualifier``. A bound ("<", ">", "≤", "≥",
e.g. "below 1 %") is *censored*: ``qy_pct`` is None, so correlations leave the sample out by
default; ``qy_pct_censored`` says why, and ``include_censored=True`` puts the printed bound in
``qy_pct`` instead (flag still set). When several PL measurements of a sample tie on age and
time, a specific value ("=", "~", as given) is preferred over a range, a range over a bound —
the paper's "89 %" wins over its "88–90 %" of the same sample. The PL linewidth follows the
same rule in its own columns (``fwhm_mev`` … ``fwhm_mev_censored``, from the row's
``fwhm_mev_max`` and ``fwhm_qualifier``): seed 004's "102–139 meV" enters as 120.5 ± 18.5.

Optical and sizing results: which row, and why
----------------------------------------------
All chosen by ``fit_choice``/``as_of`` like PL and TEM, among live (not retired), unflagged
rows of the allowed sources.

* **QY.** ``qy_pct`` … ``qy_pct_censored``, ``qy_method``, ``peak_nm``, ``fwhm_mev`` and
  ``pl_id`` come from the PL rows *other than* labdb's computed QYs (a ``computed`` PL row with
  a QY). Those are the QY columns ``qy_pct_computed`` ± ``_err`` instead: kept beside the
  typed-in or published QY, never replacing it, so a sample measured on the integrating sphere
  and recomputed against a dye shows both, and a correlation on ``qy_pct`` never mixes labdb's
  numbers into the lab's without saying so. A computed PL row without a QY (a peak fit) is an
  ordinary PL row. With ``source=computed`` only ``qy_pct_computed`` can be filled.
* **Lifetime.** Rows with a mean: ``average_tau_ns`` ± ``average_tau_err_ns`` with its
  ``average_kind``; a row without one but with an intensity-weighted (else amplitude-weighted)
  mean stored enters with that mean and kind. Rows with components only (seed 004's Figure
  2j) have no lifetime number: the frame does not derive one.
* **1S absorption.** Rows with a 1S peak (nm or eV). A computed row with a HWHM (the
  absorption decomposition) is preferred: when a sample has one (allowed by ``as_of``), the
  rule chooses among those only; else among all rows with a peak. The missing one of nm/eV is
  E = hc/λ, hc = 1239.841984 eV·nm (seed 004 prints eV, seed 002 nm).
* **Sizing curve.** ``ReportedQuantity`` rows of quantity "diameter from sizing curve" in unit
  "nm" (another unit is left out, never read as nm); a printed range enters as midpoint ±
  half-range (the stored ``err`` wins when given), a bound is censored (None unless
  ``include_censored``) like the QY.

Computed rows of a run that has since become stale still enter (staleness is the run's, see
``staleness_of_run``); a rerun's rows are recorded later and win a tie of age and time.

Flagged records
---------------
Measurements and fits with an open or acknowledged curator flag of kind ``wrong`` or
``duplicate`` (e.g. seed 000's Table S2, a copy of Table 2 under the core/shell names) are left
out unless ``include_flagged=True``; resolved flags do not exclude.

Filters
-------
``filters={"architecture": "core/shell", "qy_pct__gte": 80}`` keep rows of the frame. Lookups:
exact (no suffix), ``ne``, ``gt``, ``gte``, ``lt``, ``lte``, ``in`` (list or comma-separated
text), ``isnull`` (bool), ``contains``, ``icontains``. Text values for numeric columns are
converted. ``source`` / ``source__in`` is special: it restricts which *measurements* may
represent a sample (``published``, ``measured``, ``computed``, ``simulated``; default: all but
``simulated``). An unknown column or lookup raises DomainError naming it and listing the valid
ones.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from django.db import connections, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    DateField,
    DateTimeField,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from characterization.enums import DataSource
from characterization.models import (
    AbsorptionMeasurement,
    PLLifetimeMeasurement,
    PLMeasurement,
    ReportedQuantity,
    TEMSizeMeasurement,
    XASFit,
    XASPath,
)
from labdb.lib.errors import DomainError
from synthesis.enums import FlagKind, FlagStatus, LayerRole, StepAction
from synthesis.models import DataFlag, Qualifier, RecipeStep, Sample, SampleLayer

__all__ = [
    "BASE_COLUMNS",
    "BOOLEAN_COLUMNS",
    "INTEGER_COLUMNS",
    "RESULT_COLUMNS",
    "SIZING_QUANTITY",
    "TEXT_COLUMNS",
    "FIT_CHOICES",
    "PATH_QUANTITIES",
    "RATIO_COLUMNS",
    "EXCLUDING_FLAG_KINDS",
    "apply_frame_filters",
    "error_column",
    "flagged",
    "structure_property_frame",
    "unknown_column_error",
]

FIT_CHOICES = ("latest", "earliest", "as_of")

BASE_COLUMNS = [
    "sample_code", "sample_id", "architecture", "core_ml", "layer_stack", "material",
    "morphology", "recipe", "max_setpoint_c", "max_injection_rate_ml_per_h", "total_hold_s",
    "length_nm", "width_nm", "diameter_nm", "peak_nm", "fwhm_mev", "fwhm_mev_err",
    "fwhm_mev_min", "fwhm_mev_max", "fwhm_mev_qualifier", "fwhm_mev_censored", "qy_pct",
    "qy_pct_err", "qy_pct_min", "qy_pct_max", "qy_pct_qualifier", "qy_pct_censored", "tem_id",
    "pl_id",
]
#: Columns of the optical and sizing analyses (issue 15), after the PL columns: the QY's
#: method, labdb's computed relative QY beside the typed-in one, the PL lifetime, the 1S
#: absorption feature and the diameter from a sizing curve (beside the TEM ``diameter_nm``).
RESULT_COLUMNS = [
    "qy_method", "qy_pct_computed", "qy_pct_computed_err", "qy_computed_id", "lifetime_ns",
    "lifetime_ns_err", "lifetime_kind", "lifetime_id", "abs_1s_nm", "abs_1s_ev",
    "abs_1s_hwhm_mev", "abs_peak_to_valley", "abs_id", "sizing_diameter_nm",
    "sizing_diameter_nm_err", "sizing_correlation", "sizing_id",
]
BASE_COLUMNS += RESULT_COLUMNS
#: ReportedQuantity.quantity of a diameter read off a sizing curve (the sizing kind's rows).
SIZING_QUANTITY = "diameter from sizing curve"
#: h·c in eV·nm (CODATA; the parsers' ``spectra.HC_EV_NM``): E[eV] = HC_EV_NM / λ[nm].
HC_EV_NM = 1239.841984
#: Curator flag kinds that take a record out of analyses (unless include_flagged).
EXCLUDING_FLAG_KINDS = (FlagKind.WRONG, FlagKind.DUPLICATE)
#: Qualifiers of a one-sided bound: the value is censored, not measured.
CENSORING_QUALIFIERS = (Qualifier.LT, Qualifier.GT, Qualifier.LE, Qualifier.GE)
#: Prefix of the calculator-run columns (``computed_<extra.frame_column>``).
COMPUTED_PREFIX = "computed_"
#: Per-path quantities, in column order.
PATH_QUANTITIES = ("n", "n_err", "r_a", "r_err_a", "sigma2_a2", "sigma2_err_a2")
ALWAYS_PATHS = ("cd_s", "cd_se")
ALWAYS_ABSORBERS = ("cd", "zn")
FIT_INFO = ("fit_id", "fit_citation", "fit_age_days")
RATIO_COLUMNS = ["cd_s_cd_se_n_ratio", "cd_s_cd_se_n_ratio_err"]

#: Fixed columns by type (besides these, every fixed column is a float): for API schemas.
INTEGER_COLUMNS = ("sample_id", "tem_id", "pl_id", "qy_computed_id", "lifetime_id", "abs_id",
                   "sizing_id")
TEXT_COLUMNS = ("sample_code", "architecture", "layer_stack", "material", "morphology",
                "recipe", "qy_pct_qualifier", "fwhm_mev_qualifier", "qy_method",
                "lifetime_kind", "sizing_correlation")
BOOLEAN_COLUMNS = ("qy_pct_censored", "fwhm_mev_censored")
_INT_COLUMNS = INTEGER_COLUMNS
_ROLE_ORDER = (LayerRole.CORE, LayerRole.CROWN, LayerRole.SHELL)
_DEFAULT_SOURCES = tuple(s for s in DataSource.values if s != DataSource.SIMULATED)

# The generic columns every branch of the UNION fills (NULL where a branch has nothing).
_RAW = ("kind", "sample_id", "rec_id", "grp", "measured_at", "age_days", "source",
        "t1", "t2", "t3", "t4", "pos", "f1", "f2", "f3", "f4", "f5", "f6", "syn_date")
#: Branch codes: a small integer per row, not a letter, so that pandas groups 10⁶ rows on an
#: int64 column instead of building a string column first.
KIND_CODES = {"S": 1, "R": 2, "L": 3, "P": 4, "T": 5, "X": 6, "Q": 7,
              # computed QY (C), PL lifetime (F), absorption 1S (A), sizing-curve diameter (Z)
              "C": 8, "F": 9, "A": 10, "Z": 11}
_FLOATS = tuple(f"f{i}" for i in range(1, 7))
_TYPES = {"kind": IntegerField, "sample_id": BigIntegerField, "rec_id": BigIntegerField,
          "grp": CharField, "measured_at": DateTimeField, "age_days": FloatField,
          "source": CharField, "t1": CharField, "t2": CharField, "t3": CharField,
          "t4": CharField, "pos": BigIntegerField, "syn_date": DateField,
          **{f"f{i}": FloatField for i in range(1, 7)}}


# --- the one query ---------------------------------------------------------------------------

def flagged(model, ref: str = "pk") -> Exists:
    """SQL: the record ``ref`` (a ``model`` id) has an open or acknowledged flag of a kind in
    EXCLUDING_FLAG_KINDS. Matches the content type by app label and model name in SQL, so it
    costs no extra query."""
    meta = model._meta
    return Exists(DataFlag.objects.filter(
        content_type__app_label=meta.app_label, content_type__model=meta.model_name,
        object_id=OuterRef(ref), kind__in=EXCLUDING_FLAG_KINDS,
    ).exclude(status=FlagStatus.RESOLVED))


def _branch(qs: QuerySet, kind: str, **exprs: Any) -> QuerySet:
    """``qs`` reduced to the generic columns; names get a prefix so they never clash with fields.

    Empty columns are NULL, typed with a CAST on PostgreSQL (which must resolve one type per
    UNION column) and bare on SQLite (where a CAST per row and column costs ~15 % of the query).
    """
    typed_nulls = connections[qs.db].vendor != "sqlite"
    columns: dict[str, Any] = {}
    for name in _RAW:
        field = _TYPES[name]()
        if name == "kind":
            columns["u_kind"] = Value(KIND_CODES[kind], output_field=IntegerField())
        elif name in exprs:
            # Columns keep their own type (a CAST per row costs seconds on 10⁶ rows; on
            # PostgreSQL UNION resolves float/bigint/varchar across branches by itself).
            expr = exprs[name]
            columns[f"u_{name}"] = F(expr) if isinstance(expr, str) else expr
        else:
            # A typed NULL, so that PostgreSQL can resolve the column type of the UNION.
            columns[f"u_{name}"] = Cast(Value(None), field) if typed_nulls else \
                Value(None, output_field=field)
    return qs.order_by().annotate(**columns).values_list(*columns)


def _narrow(qs: QuerySet, **exprs: Any) -> tuple[QuerySet, list[str]]:
    """``qs`` reduced to the generic columns it fills (in ``_RAW`` order) and their names.

    Names get a prefix in SQL so they never clash with fields; each column keeps its own type.
    """
    names = [name for name in _RAW if name in exprs]
    text_dates = connections[qs.db].vendor == "sqlite"
    columns = {}
    for name in names:
        expr = F(exprs[name]) if isinstance(exprs[name], str) else exprs[name]
        if text_dates and name in ("measured_at", "syn_date"):
            # SQLite's no-op unary plus: the value as stored (ISO text), but no longer a bare
            # column, so the sqlite3 module does not run Django's per-value datetime converter
            # (10⁶ Python calls on a 10⁵-sample lab); pandas parses the text vectorised.
            expr = Func(expr, template="+%(expressions)s", output_field=CharField())
        columns[f"u_{name}"] = expr
    return qs.order_by().annotate(**columns).values_list(*columns), names


def _frame_queries(sources: Iterable[str], include_flagged: bool = False
                   ) -> dict[str, tuple[QuerySet, list[str]]]:
    """One narrow query per branch, by branch code: samples (S), recipe step aggregates (R),
    layers (L), PL (P), TEM (T), XAS paths (X), calculator results (Q), computed QYs (C), PL
    lifetimes (F), 1S absorption (A) and sizing-curve diameters (Z). Flagged-as-wrong/duplicate
    records are left out unless ``include_flagged``. Run them with ``_fetch`` (one snapshot)."""
    sources = list(sources)
    samples = _narrow(
        Sample.objects.filter(is_retired=False), sample_id="id", t1="code", t2="material",
        t3="morphology", t4="produced_by__recipe__name", rec_id="produced_by__recipe_id",
        syn_date="synthesis_date",
    )
    # One row per recipe with its step aggregates, joined to the samples in pandas: cheaper
    # than four correlated subqueries per sample on a 10⁵-sample lab.
    recipes = _narrow(
        RecipeStep.objects.values("recipe_id").annotate(
            a_set=Max(Coalesce("setpoint_max_c", "setpoint_c")),
            a_rate=Max("injection_rate_ml_per_h"),
            a_rate2=Max("injection_rate_after_switch_ml_per_h"),
            a_hold=Sum("duration_s", filter=Q(action=StepAction.HOLD))),
        rec_id="recipe_id", f1="a_set", f2="a_rate", f3="a_rate2", f4="a_hold",
    )
    layers = _narrow(
        SampleLayer.objects.filter(sample__is_retired=False), sample_id="sample_id",
        rec_id="id", pos="position", t1="material", t2="role", t3="composition_formula",
        f1="thickness_ml", f2="thickness_nm",
    )
    live = Q(is_retired=False, sample__is_retired=False, source__in=sources)
    # ``source`` is filtered in SQL and not fetched: one string column less on 10⁶ rows.
    common = {"sample_id": "sample_id", "rec_id": "id", "measured_at": "measured_at",
              "age_days": "age_days"}
    # A QY computed by labdb (the relative-QY kind) is kept beside the typed-in/published QY
    # (branch C), not among the PL rows that represent the sample (P).
    computed_qy = Q(source=DataSource.COMPUTED, qy_pct__isnull=False)
    pl_qs = PLMeasurement.objects.filter(live).exclude(computed_qy)
    computed_qy_qs = PLMeasurement.objects.filter(live, computed_qy)
    tem_qs = TEMSizeMeasurement.objects.filter(live)
    lifetime_qs = PLLifetimeMeasurement.objects.filter(
        live, Q(average_tau_ns__isnull=False) | Q(intensity_weighted_tau_ns__isnull=False)
        | Q(amplitude_weighted_tau_ns__isnull=False))
    absorption_qs = AbsorptionMeasurement.objects.filter(
        live, Q(peak_1s_nm__isnull=False) | Q(peak_1s_ev__isnull=False))
    sizing_qs = ReportedQuantity.objects.filter(live, quantity=SIZING_QUANTITY, unit="nm")
    path_qs = XASPath.objects.filter(fit__is_retired=False, fit__is_stale=False,
                                     fit__sample__is_retired=False, fit__source__in=sources)
    if not include_flagged:
        pl_qs = pl_qs.filter(~flagged(PLMeasurement))
        computed_qy_qs = computed_qy_qs.filter(~flagged(PLMeasurement))
        tem_qs = tem_qs.filter(~flagged(TEMSizeMeasurement))
        lifetime_qs = lifetime_qs.filter(~flagged(PLLifetimeMeasurement))
        absorption_qs = absorption_qs.filter(~flagged(AbsorptionMeasurement))
        sizing_qs = sizing_qs.filter(~flagged(ReportedQuantity))
        path_qs = path_qs.filter(~flagged(XASFit, "fit_id"))
    computed_qs = ReportedQuantity.objects.filter(live, source=DataSource.COMPUTED,
                                                  extra__has_key="frame_column")
    if not include_flagged:
        computed_qs = computed_qs.filter(~flagged(ReportedQuantity))
    # The QY's method as stored, else "published" for a paper's QY whose method is not stated:
    # one text column computed in SQL instead of fetching the source too.
    qy_method = Case(When(~Q(qy_method=""), then=F("qy_method")),
                     When(source=DataSource.PUBLISHED, then=Value(DataSource.PUBLISHED)),
                     default=Value(""), output_field=CharField())
    pl = _narrow(pl_qs, **common, f1="peak_nm", f2="fwhm_mev", f3="qy_pct",
                 f4="qy_pct_max", f5="fwhm_mev_max", t1="qualifier", t2="fwhm_qualifier",
                 t3=qy_method)
    computed_qy_rows = _narrow(computed_qy_qs, **common, f1="qy_pct", f2="qy_pct_err")
    lifetimes = _narrow(lifetime_qs, **common, t1="average_kind", f1="average_tau_ns",
                        f2="average_tau_err_ns", f3="intensity_weighted_tau_ns",
                        f4="intensity_weighted_tau_err_ns", f5="amplitude_weighted_tau_ns",
                        f6="amplitude_weighted_tau_err_ns")
    absorption = _narrow(absorption_qs, **common, source="source", f1="peak_1s_nm",
                         f2="peak_1s_ev", f3="hwhm_1s_mev", f4="peak_to_valley")
    sizing = _narrow(sizing_qs, **common, t1="qualifier",
                     t2=KeyTextTransform("correlation", "extra"), f1="value", f2="err",
                     f3="value_max")
    tem = _narrow(tem_qs, **common, f1="length_nm", f2="width_nm", f3="diameter_nm")
    paths = _narrow(
        path_qs, sample_id="fit__sample_id", rec_id="fit_id", grp="fit__absorber",
        measured_at="fit__measured_at", age_days="fit__age_days", t1="fit__citation",
        t2="absorber", t3="scatterer", pos="position", f1="n", f2="n_err", f3="r_a",
        f4="r_err_a", f5="sigma2_a2", f6="sigma2_err_a2",
    )
    computed = _narrow(computed_qs, **common, grp=KeyTextTransform("frame_column", "extra"),
                       t1="text_value", f1="value", f2="err")
    return {"S": samples, "R": recipes, "L": layers, "P": pl, "T": tem, "X": paths,
            "Q": computed, "C": computed_qy_rows, "F": lifetimes, "A": absorption, "Z": sizing}


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector paused (reference counting still frees memory).

    Why: fetching 1.5·10⁶ rows creates 1.5·10⁶ tuples (and their cells), and every few
    thousand new objects CPython's collector runs; its older generations rescan all the tuples
    alive so far, again and again (10 % of the whole build on a 10⁵-sample lab, measured
    alternately: benchmarks/README.md). The rows hold no reference cycles, so nothing is
    left for it to find.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def _snapshot(using: str) -> Iterator[None]:
    """One transaction around the frame's queries, so that all of them read one state.

    SQLite: a DEFERRED read transaction (one snapshot from its first read under WAL, the shared
    lock under a rollback journal); not ``transaction.atomic``, which opens SQLite transactions
    with the settings' ``BEGIN IMMEDIATE`` and would hold the write lock for the whole build.
    PostgreSQL: ``atomic`` at REPEATABLE READ. Inside a caller's transaction (a test, a
    service) the caller's holds, at its isolation level (PostgreSQL's default READ COMMITTED
    gives each query its own snapshot: the level can only be set before a transaction's first
    query).
    """
    connection = connections[using]
    if connection.in_atomic_block:
        yield
    elif connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
            try:
                yield
            finally:
                cursor.execute("COMMIT")  # read only: nothing to keep or undo
    else:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield


def _read(cursor: Any, qs: QuerySet, columns: list[str]) -> pd.DataFrame:
    """One branch's rows as a DataFrame of its own columns (timestamps parsed vectorised,
    ``age_days`` and ``f*`` float64)."""
    sql, params = qs.query.get_compiler(using=qs.db).as_sql()
    cursor.execute(sql, params)
    rows = cursor.fetchall()
    part = pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)
    del rows
    for name in columns:
        if name in ("measured_at", "syn_date"):
            # Microseconds, the unit the timestamps of the one-UNION fetch always parsed to
            # (an all-NULL column alone would parse to seconds).
            part[name] = pd.to_datetime(part[name], utc=True, format="ISO8601").dt.as_unit("us")
        elif name == "age_days" or name in _FLOATS:
            part[name] = pd.to_numeric(part[name], errors="coerce").astype("float64")
    return part


def _fetch(branches: dict[str, tuple[QuerySet, list[str]]],
           using: str = "default") -> dict[str, pd.DataFrame]:
    """Run every branch's narrow query on a bare cursor, in one transaction (``_snapshot``),
    and hand the tuples straight to pandas: a DataFrame per branch code.

    Why one query per branch and not one UNION: a UNION pads every branch to the 19 columns of
    the widest (a third of its 2.9·10⁷ cells on a 10⁵-sample lab were NULL padding), and
    fetching and building the frame from those cells was three quarters of the build.
    Why not iterate the querysets: Django's per-row converters (datetime parsing on SQLite)
    cost more than the query on a 10⁶-row lab; pandas parses the timestamp columns vectorised.
    """
    with _snapshot(using), _no_cycle_collection(), connections[using].cursor() as cursor:
        return {kind: _read(cursor, qs, columns) for kind, (qs, columns) in branches.items()}


# --- choosing the representative measurement ------------------------------------------------

def _parse_as_of(fit_choice: str, as_of: Any) -> Any:
    if fit_choice not in FIT_CHOICES:
        raise DomainError(f"fit_choice must be one of {', '.join(FIT_CHOICES)}; got "
                          f"{fit_choice!r}.", field="fit_choice")
    if fit_choice != "as_of":
        return None
    if as_of is None or as_of == "":
        raise DomainError("as_of: fit_choice='as_of' needs as_of (an age in days, or a date).",
                          field="as_of")
    if isinstance(as_of, bool):
        raise DomainError("as_of: give an age in days or a date.", field="as_of")
    if isinstance(as_of, int | float):
        return float(as_of)
    if isinstance(as_of, dt.datetime | dt.date):
        return pd.Timestamp(as_of).tz_localize("UTC") if pd.Timestamp(as_of).tzinfo is None \
            else pd.Timestamp(as_of).tz_convert("UTC")
    text = str(as_of).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise DomainError(f"as_of: {as_of!r} is neither an age in days nor an ISO date.",
                          field="as_of") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _choose(meas: pd.DataFrame, keys: list[str], fit_choice: str, as_of: Any,
            prefer: str | None = None, tier: str | None = None) -> set:
    """Ids (``rec_id``) of the representative measurement per group ``keys``; ``prefer`` names
    a column ranking ties of age and time (higher wins) before the id does; ``tier`` names a
    column that restricts each group to its rows of the highest tier before the rule chooses
    (after ``as_of`` has left out the later rows)."""
    if meas.empty:
        return set()
    extra = [prefer] if prefer else []
    tiers = [tier] if tier else []
    meas = meas[[*keys, "rec_id", "age", "age_days", "measured_at", "syn_date", *extra,
                 *tiers]]
    has_age = meas["age"].notna()
    if fit_choice == "as_of":
        if isinstance(as_of, float):
            eligible = ~has_age | (meas["age"] <= as_of)
        else:
            when = meas["measured_at"].fillna(
                meas["syn_date"] + pd.to_timedelta(meas["age_days"], unit="D"))
            eligible = (when <= as_of) | (when.isna() & ~has_age)
        meas, has_age = meas[eligible], has_age[eligible]
    if tier:
        top = meas[tier] == meas.groupby(keys, sort=False)[tier].transform("max")
        meas, has_age = meas[top], has_age[top]
    ordered = meas.assign(_has_age=has_age, _has_mt=meas["measured_at"].notna())
    by = [*keys, "_has_age", "age", "_has_mt", "measured_at", *extra, "rec_id"]
    if fit_choice == "earliest":
        ascending = [True] * (len(by) - 1 - len(extra)) + [False] * len(extra) + [False]
        ordered = ordered.sort_values(by, ascending=ascending,
                                      na_position="first", kind="mergesort")
        chosen = ordered.drop_duplicates(keys, keep="first")
    else:
        ordered = ordered.sort_values(by, na_position="first", kind="mergesort")
        chosen = ordered.drop_duplicates(keys, keep="last")
    return set(chosen["rec_id"].tolist())


def _apply_fit_picks(fits: pd.DataFrame, codes: pd.Series, chosen: set, picks: dict) -> set:
    """``chosen`` fit ids with each picked fit replacing the chosen fit of its sample and
    absorber. ``codes``: sample code by sample id. Raises DomainError (``fit_picks``) for an
    unknown sample code or a fit the frame may not use for that sample."""
    chosen = set(chosen)
    for code, raw_id in picks.items():
        ids = codes.index[codes == code]
        if len(ids) == 0:
            raise DomainError(f"fit_picks: no sample with code {code!r}.", field="fit_picks")
        try:
            fit_id = int(raw_id)
        except (TypeError, ValueError):
            raise DomainError(f"fit_picks: the fit of {code!r} must be a fit id (a number), "
                              f"got {raw_id!r}.", field="fit_picks") from None
        own = fits[fits["sample_id"] == ids[0]]
        row = own[own["rec_id"] == fit_id]
        if row.empty:
            usable = ", ".join(str(i) for i in sorted(own["rec_id"].tolist())) or "none"
            raise DomainError(f"fit_picks: fit {fit_id} is not a usable XAS fit of {code} "
                              f"(another sample's, retired, stale, flagged or simulated); "
                              f"usable fits: {usable}.", field="fit_picks")
        same = own[own["grp"] == row["grp"].iloc[0]]["rec_id"]
        chosen = (chosen - set(same.tolist())) | {fit_id}
    return chosen


def _with_age(part: pd.DataFrame, syn: pd.Series) -> pd.DataFrame:
    part = part.copy()
    # reindex, not map: Series.map on an empty datetime mapping fails in pandas 3.
    part["syn_date"] = syn.reindex(part["sample_id"].to_numpy()).array
    if part.empty:
        return part.assign(age=pd.Series([], dtype="float64"))
    delta = (part["measured_at"] - part["syn_date"]) / pd.Timedelta(days=1)  # type: ignore[operator]  # pandas-stubs: datetime Series / Timedelta is a float Series
    part["age"] = delta.where(part["measured_at"].notna() & part["syn_date"].notna(),
                              part["age_days"])
    return part


# --- assembling the frame --------------------------------------------------------------------

def _layer_columns(layers: pd.DataFrame) -> pd.DataFrame:
    """architecture, core_ml, layer_stack per sample_id.

    Column-wise (pandas' Arrow string kernels, one small lookup per distinct thickness and per
    role combination) rather than a Python loop over samples: 0.3 s instead of 0.6–0.9 s for
    10⁵ samples and 2·10⁵ layers (benchmarks/README.md, structure_property_frame)."""
    if layers.empty:
        return pd.DataFrame(columns=["architecture", "core_ml", "layer_stack"])
    layers = layers.sort_values(["sample_id", "pos"], kind="mergesort")
    formula = layers["t3"]
    name = formula.where(formula.fillna("") != "", layers["t1"]).fillna("")
    size = _thickness_text(layers["f1"], " ML").fillna(_thickness_text(layers["f2"], " nm"))
    role = layers["t2"]
    text = name + size.fillna("") + " " + role.fillna("")
    ids = layers["sample_id"].to_numpy()
    position = layers.groupby("sample_id", sort=False).cumcount().to_numpy()  # 0, 1, … in order
    by_position = pd.DataFrame({"sample_id": ids, "k": position, "text": text.to_numpy()}) \
        .pivot(index="sample_id", columns="k", values="text")
    stack = by_position[0]
    for k in by_position.columns[1:]:  # " / " between the layers, inside out
        stack = stack.where(by_position[k].isna(), stack + " / " + by_position[k])
    return pd.DataFrame({"architecture": _architecture(ids, role),
                         "core_ml": _core_ml(layers, role),
                         "layer_stack": stack.astype(object)})


def _thickness_text(value: pd.Series, unit: str) -> pd.Series:
    """" 4 ML" / " 1.2 nm" per layer ({:g}, formatted once per distinct value), NaN where
    ``value`` is missing."""
    text = {v: f" {v:g}{unit}" for v in value.dropna().unique().tolist()}
    return value.map(text).astype(object)


def _architecture(ids: np.ndarray, role: pd.Series) -> pd.Series:
    """"core/crown/shell"-style names by sample id: a bit per role present, one lookup per
    combination (None for a sample without core, crown or shell layers)."""
    present = pd.DataFrame(
        {i: (role == r).fillna(False).to_numpy(dtype=bool) for i, r in enumerate(_ROLE_ORDER)},
        index=ids).groupby(level=0).max()
    code = sum(present[i].to_numpy().astype(np.int64) << i for i in range(len(_ROLE_ORDER)))
    names = np.array(["/".join(r for i, r in enumerate(_ROLE_ORDER) if c >> i & 1) or None
                      for c in range(1 << len(_ROLE_ORDER))], dtype=object)
    return pd.Series(names[code], index=present.index, dtype=object)


def _core_ml(layers: pd.DataFrame, role: pd.Series) -> pd.Series:
    """Thickness (ML) of each sample's first core layer, by sample id."""
    cores = layers[(role == LayerRole.CORE).fillna(False)].drop_duplicates("sample_id")
    return pd.Series(cores["f1"].to_numpy(), index=cores["sample_id"].to_numpy())


def _path_columns(paths: pd.DataFrame, chosen: set) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wide path columns and per-absorber fit provenance, both indexed by sample_id."""
    paths = paths[paths["rec_id"].isin(chosen)].sort_values(["rec_id", "pos"], kind="mergesort")
    # Arrow's string kernels (not .astype(object) then Python's str.lower per row)
    pair = (paths["t2"].str.lower() + "_" + paths["t3"].str.lower()).fillna("").astype(object)
    if paths.empty:
        paths = paths.assign(_key=pd.Series([], dtype=object))
    else:
        repeat = paths.groupby(["rec_id", pair]).cumcount()
        suffix = np.where(repeat > 0, "_" + (repeat + 1).astype(str).astype(object), "")
        paths = paths.assign(_key=pair + suffix)
    present = sorted(set(ALWAYS_PATHS) | set(paths["_key"].unique().tolist()))
    present = [k for k in present if k]
    values = {"n": "f1", "n_err": "f2", "r_a": "f3", "r_err_a": "f4", "sigma2_a2": "f5",
              "sigma2_err_a2": "f6"}
    wide = paths.drop_duplicates(["sample_id", "_key"]).pivot(
        index="sample_id", columns="_key", values=list(values.values()))
    out = {}
    for k in present:
        for quantity, raw in values.items():
            column = (raw, k)
            out[f"{k}_{quantity}"] = wide[column] if column in wide.columns else np.nan
    path_frame = pd.DataFrame(out, index=wide.index)
    fits = paths.drop_duplicates("rec_id").assign(_abs=lambda d: d["grp"].str.lower())
    # .unique() first: iterating an Arrow string column is one Python call per row (0.4 s)
    absorbers = sorted(set(ALWAYS_ABSORBERS) | set(fits["_abs"].dropna().unique().tolist()))
    info = {}
    for a in absorbers:
        sub = fits[fits["_abs"] == a].drop_duplicates("sample_id").set_index("sample_id")
        info[f"{a}_fit_id"] = sub["rec_id"]
        info[f"{a}_fit_citation"] = sub["t1"]
        info[f"{a}_fit_age_days"] = sub["age"]
    info_frame = pd.DataFrame(info)
    return path_frame.reindex(columns=[f"{k}_{q}" for k in present for q in PATH_QUANTITIES]), \
        info_frame.reindex(columns=[f"{a}_{i}" for a in absorbers for i in FIT_INFO])


def _ratio(frame: pd.DataFrame) -> pd.DataFrame:
    a, b = frame["cd_s_n"].astype(float), frame["cd_se_n"].astype(float)
    sa, sb = frame["cd_s_n_err"].astype(float), frame["cd_se_n_err"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = a / b
        err: pd.Series = ratio.abs() * np.sqrt((sa / a) ** 2 + (sb / b) ** 2)
    ratio = ratio.where(np.isfinite(ratio))
    err = err.where(np.isfinite(err))
    frame["cd_s_cd_se_n_ratio"] = ratio
    frame["cd_s_cd_se_n_ratio_err"] = err
    return frame


def _sources_from(filters: dict) -> tuple[list[str], dict]:
    rest = dict(filters)
    sources = list(_DEFAULT_SOURCES)
    for key in ("source", "source__in"):
        if key in rest:
            value = rest.pop(key)
            chosen = _as_list(value) if key.endswith("__in") or not isinstance(value, str) \
                else [value]
            bad = [s for s in chosen if s not in DataSource.values]
            if bad:
                raise DomainError(f"source: unknown source {bad[0]!r}; valid sources: "
                                  f"{', '.join(DataSource.values)}.", field="source")
            sources = chosen
    return sources, rest


def _precision(qualifier: pd.Series) -> pd.Series:
    """2 for a specific value ("=", "~", as given), 1 for a range, 0 for a censored bound."""
    q = qualifier.fillna("").astype(object)
    return pd.Series(np.where(q.isin(CENSORING_QUALIFIERS), 0,
                              np.where(q == Qualifier.RANGE, 1, 2)), index=qualifier.index)


def _printed_columns(prefix: str, value: pd.Series, upper: pd.Series, qualifier: pd.Series,
                     include_censored: bool) -> pd.DataFrame:
    """``<prefix>`` (midpoint of a range; None for a censored bound), ``_err`` (its half-range),
    ``_min``/``_max`` (printed bounds), ``_qualifier`` and ``_censored``, by the printed-value
    rule of the module docstring, from one quantity's value, upper end and qualifier."""
    qualifier = qualifier.fillna("").astype(object)
    # A plain value ("=" or as given) has no qualifier: None, which also survives CSV export
    # (a cell starting with "=" is escaped there as a formula).
    qualifier = qualifier.where(~qualifier.isin(("", Qualifier.EQ)) & value.notna(), None)
    is_range = (qualifier == Qualifier.RANGE) & upper.notna() & value.notna()
    censored = qualifier.isin(CENSORING_QUALIFIERS)
    below = qualifier.isin((Qualifier.LT, Qualifier.LE))
    out = pd.DataFrame(index=value.index)
    midpoint = (value + upper) / 2
    out[prefix] = value.where(~is_range, midpoint).where(~censored | include_censored)
    out[f"{prefix}_err"] = ((upper - value) / 2).where(is_range)
    out[f"{prefix}_min"] = value.where(is_range | (censored & ~below))
    out[f"{prefix}_max"] = upper.where(is_range, value.where(censored & below))
    out[f"{prefix}_qualifier"] = qualifier
    out[f"{prefix}_censored"] = censored.where(value.notna() | upper.notna(), None)
    return out


def _pl_columns(picked: pd.DataFrame, include_censored: bool) -> pd.DataFrame:
    """The QY and FWHM columns of the chosen PL rows (f3 = qy_pct, f4 = qy_pct_max, t1 = its
    qualifier; f2 = fwhm_mev, f5 = fwhm_mev_max, t2 = its qualifier)."""
    qy = _printed_columns("qy_pct", picked["f3"], picked["f4"], picked["t1"], include_censored)
    fwhm = _printed_columns("fwhm_mev", picked["f2"], picked["f5"], picked["t2"],
                            include_censored)
    return fwhm.join(qy)


def structure_property_frame(*, fit_choice: str = "latest", as_of: Any = None,
                             filters: dict | None = None, include_flagged: bool = False,
                             include_censored: bool = False,
                             fit_picks: dict | None = None) -> pd.DataFrame:
    """One row per sample: structure, synthesis conditions, TEM, PL, XAS paths, and the
    optical and sizing results (lifetime, computed QY, 1S absorption, sizing-curve diameter).

    See the module docstring for the column list, ``fit_choice``/``as_of``, ``filters``, the
    printed-value rule (ranges → midpoint ± half-range, bounds censored unless
    ``include_censored``, specific values preferred) and ``include_flagged`` (records flagged
    wrong/duplicate are left out by default). Eleven SQL queries in one transaction. Raises
    DomainError for an unknown fit_choice, a bad as_of, or an unknown filter column/lookup (the
    message lists the valid columns).
    """
    as_of_value = _parse_as_of(fit_choice, as_of)
    sources, row_filters = _sources_from(filters or {})
    kinds = _fetch(_frame_queries(sources, include_flagged))
    samples = kinds["S"].set_index("sample_id")
    syn = samples["syn_date"]

    frame = pd.DataFrame(index=samples.index)
    frame["sample_code"] = samples["t1"]
    frame["sample_id"] = samples.index
    frame = frame.join(_layer_columns(kinds["L"]))
    frame["material"], frame["morphology"] = samples["t2"], samples["t3"]
    frame["recipe"] = samples["t4"]
    steps = kinds["R"].set_index("rec_id")
    recipe_ids = samples["rec_id"].to_numpy()
    frame["max_setpoint_c"] = steps["f1"].reindex(recipe_ids).to_numpy()
    frame["max_injection_rate_ml_per_h"] = steps[["f2", "f3"]].max(axis=1, skipna=True) \
        .reindex(recipe_ids).to_numpy()
    frame["total_hold_s"] = steps["f4"].reindex(recipe_ids).to_numpy()
    for kind, id_column, names in (("T", "tem_id", ("length_nm", "width_nm", "diameter_nm")),
                                   ("P", "pl_id", ("peak_nm",))):
        part = _with_age(kinds[kind], syn)
        prefer = None
        if kind == "P":
            part = part.assign(_precision=_precision(part["t1"]))
            prefer = "_precision"
        chosen = _choose(part, ["sample_id"], fit_choice, as_of_value, prefer)
        picked = part[part["rec_id"].isin(chosen)].drop_duplicates("sample_id")
        picked = picked.set_index("sample_id")
        for i, name in enumerate(names, start=1):
            frame[name] = picked[f"f{i}"]
        if kind == "P":
            frame = frame.join(_pl_columns(picked, include_censored))
            has_qy = picked["f3"].notna() | picked["f4"].notna()
            method = picked["t3"].astype(object)
            frame["qy_method"] = method.where(has_qy & method.notna() & (method != ""), None)
        frame[id_column] = picked["rec_id"]
    frame = frame.join(_result_columns(kinds, syn, fit_choice, as_of_value,
                                       include_censored))
    paths = _with_age(kinds["X"], syn)
    fits = paths.drop_duplicates("rec_id")
    chosen_fits = _choose(fits, ["sample_id", "grp"], fit_choice, as_of_value)
    if fit_picks:
        chosen_fits = _apply_fit_picks(fits, samples["t1"], chosen_fits, fit_picks)
    path_frame, info_frame = _path_columns(paths, chosen_fits)
    frame = frame.join(path_frame).join(info_frame)
    frame = _ratio(frame)
    computed = _computed_columns(_with_age(kinds["Q"], syn), fit_choice,
                                 as_of_value)
    frame = frame.join(computed)
    frame = _finish(frame, path_frame.columns, info_frame.columns, computed.columns)
    return apply_frame_filters(frame, row_filters)


def _picked(part: pd.DataFrame, syn: pd.Series, fit_choice: str, as_of: Any,
            tier: pd.Series | None = None) -> pd.DataFrame:
    """The representative row per sample of one branch (``fit_choice``; within the highest
    ``tier`` of each sample when given), indexed by sample_id."""
    part = _with_age(part, syn)
    if tier is not None:
        part = part.assign(_tier=tier.reindex(part.index).to_numpy())
    chosen = _choose(part, ["sample_id"], fit_choice, as_of,
                     tier="_tier" if tier is not None else None)
    return part[part["rec_id"].isin(chosen)].drop_duplicates("sample_id").set_index("sample_id")


def _result_columns(kinds: dict[str, pd.DataFrame], syn: pd.Series,
                    fit_choice: str, as_of: Any, include_censored: bool) -> pd.DataFrame:
    """RESULT_COLUMNS but ``qy_method`` per sample_id: computed QY (branch C: f1 qy_pct, f2
    qy_pct_err), PL lifetime (F: f1/f2 average ± err, t1 its kind, f3/f4 intensity- and f5/f6
    amplitude-weighted), 1S absorption (A: f1 nm, f2 eV, f3 HWHM meV, f4 peak-to-valley; a
    computed row with a HWHM first) and sizing-curve diameter (Z: f1 value, f2 err, f3 upper
    end, t1 qualifier, t2 ``extra.correlation``). See the module docstring."""
    out = pd.DataFrame()

    qy = _picked(kinds["C"], syn, fit_choice, as_of)
    out["qy_pct_computed"], out["qy_pct_computed_err"] = qy["f1"], qy["f2"]
    out["qy_computed_id"] = qy["rec_id"]

    life = _picked(kinds["F"], syn, fit_choice, as_of)
    average, intensity = life["f1"].notna(), life["f3"].notna()
    out = out.join(pd.DataFrame({
        "lifetime_ns": life["f1"].where(average, life["f3"].where(intensity, life["f5"])),
        "lifetime_ns_err": life["f2"].where(average, life["f4"].where(intensity, life["f6"])),
        "lifetime_kind": life["t1"].astype(object).where(
            average, pd.Series(np.where(intensity, "intensity", "amplitude"), index=life.index,
                               dtype=object)),
        "lifetime_id": life["rec_id"]}), how="outer")

    part = kinds["A"]
    computed_hwhm = (part["source"] == DataSource.COMPUTED) & part["f3"].notna()
    absorption = _picked(part, syn, fit_choice, as_of, tier=computed_hwhm.astype(int))
    nm, ev = absorption["f1"], absorption["f2"]
    out = out.join(pd.DataFrame({
        "abs_1s_nm": nm.where(nm.notna(), HC_EV_NM / ev.where(ev > 0)),
        "abs_1s_ev": ev.where(ev.notna(), HC_EV_NM / nm.where(nm > 0)),
        "abs_1s_hwhm_mev": absorption["f3"], "abs_peak_to_valley": absorption["f4"],
        "abs_id": absorption["rec_id"]}), how="outer")

    size = _picked(kinds["Z"], syn, fit_choice, as_of)
    printed = _printed_columns("d", size["f1"], size["f3"], size["t1"], include_censored)
    out = out.join(pd.DataFrame({
        "sizing_diameter_nm": printed["d"],
        "sizing_diameter_nm_err": size["f2"].where(size["f2"].notna(), printed["d_err"]),
        "sizing_correlation": size["t2"], "sizing_id": size["rec_id"]}), how="outer")
    return out


def _computed_columns(part: pd.DataFrame, fit_choice: str, as_of: Any) -> pd.DataFrame:
    """``computed_<name>`` (+ ``_err``) per sample_id from the chosen calculator result of
    each name (``grp`` = ``extra.frame_column``; f1 value, f2 err, t1 text)."""
    chosen = _choose(part, ["sample_id", "grp"], fit_choice, as_of)
    picked = part[part["rec_id"].isin(chosen)]
    out = {}
    for name in sorted(set(picked["grp"].dropna())):
        rows = picked[picked["grp"] == name].drop_duplicates("sample_id").set_index("sample_id")
        column = f"{COMPUTED_PREFIX}{name}"
        if name.endswith("_formula"):
            out[column] = rows["t1"]
        else:
            out[column], out[f"{column}_err"] = rows["f1"], rows["f2"]
    return pd.DataFrame(out)


def _finish(frame: pd.DataFrame, path_cols: Iterable[str],
            info_cols: Iterable[str], computed_cols: Iterable[str] = ()) -> pd.DataFrame:
    columns = [*BASE_COLUMNS, *path_cols, *info_cols, *RATIO_COLUMNS, *computed_cols]
    frame = frame.reindex(columns=columns)
    for name in columns:
        if name in _INT_COLUMNS or name.endswith("_fit_id"):
            frame[name] = pd.to_numeric(frame[name]).astype("Int64")
        elif name.endswith("_fit_citation") or (
                name.startswith(COMPUTED_PREFIX) and name.endswith("_formula")) or \
                name in TEXT_COLUMNS:
            text = frame[name].astype(object)
            # A computed fit has no citation: "" is missing, like in every export of the frame.
            frame[name] = text.where(text.notna() & (text != ""), None)
        elif name in BOOLEAN_COLUMNS:
            frame[name] = frame[name].astype("boolean")
        else:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame = frame.sort_values("sample_code", kind="mergesort").reset_index(drop=True)
    return frame


# --- filters ---------------------------------------------------------------------------------

_LOOKUPS = ("exact", "ne", "gt", "gte", "lt", "lte", "in", "isnull", "contains", "icontains")


def _as_list(value: Any) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def _as_bool(value: Any, column: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise DomainError(f"{column}__isnull: expected true or false, got {value!r}.",
                      field=f"{column}__isnull")


def _coerce(series: pd.Series, value: Any, key: str) -> Any:
    if not pd.api.types.is_numeric_dtype(series):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DomainError(f"{key}: {value!r} is not a number.", field=key) from None


def unknown_column_error(column: str, columns: Iterable[str]) -> DomainError:
    """The 400 message for a column the frame does not have: names it, lists the valid ones."""
    return DomainError(f"unknown column {column!r}; valid columns: {', '.join(columns)}.",
                       field=column)


def apply_frame_filters(frame: pd.DataFrame, filters: dict | None) -> pd.DataFrame:
    """Rows of ``frame`` matching every ``{"column__lookup": value}``; see the module docstring."""
    mask = pd.Series(True, index=frame.index)
    for key, value in (filters or {}).items():
        column, _, lookup = key.partition("__")
        lookup = lookup or "exact"
        if column not in frame.columns:
            raise unknown_column_error(column, frame.columns)
        if lookup not in _LOOKUPS:
            raise DomainError(f"{key}: unknown lookup {lookup!r}; use one of "
                              f"{', '.join(_LOOKUPS)}.", field=key)
        series = frame[column]
        if lookup == "isnull":
            cond = series.isna() if _as_bool(value, column) else series.notna()
        elif lookup == "in":
            cond = series.isin([_coerce(series, v, key) for v in _as_list(value)])
        elif lookup in ("contains", "icontains"):
            text = series.astype("string")
            cond = text.str.contains(str(value), case=lookup == "contains", regex=False)
        else:
            target = _coerce(series, value, key)
            cond = {"exact": series == target, "ne": series != target, "gt": series > target,
                    "gte": series >= target, "lt": series < target,
                    "lte": series <= target}[lookup]
        mask &= cond.fillna(False).astype(bool)
    return frame[mask].reset_index(drop=True)


def error_column(column: str, columns: Iterable[str]) -> str | None:
    """The column holding the 1σ error of ``column`` (``cd_s_n`` → ``cd_s_n_err``,
    ``cd_s_r_a`` → ``cd_s_r_err_a``, ``zn_s_sigma2_a2`` → ``zn_s_sigma2_err_a2``), or None."""
    columns = set(columns)
    candidates = [f"{column}_err"]
    if column.endswith("_r_a"):
        candidates.append(column[:-2] + "_err_a")
    if column.endswith("_sigma2_a2"):
        candidates.append(column[:-3] + "_err_a2")
    return next((c for c in candidates if c in columns), None)

