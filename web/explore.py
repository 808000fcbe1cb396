"""The correlation explorer's view model: x, y and group picked from the frame's columns.

Reads ``analysis.selectors.structure_property_frame()`` (one row per sample) built with the
chosen fit rule (``fit_choice`` latest/earliest/as_of, ``as_of``, per-sample ``fit_picks``) and
``analysis.selectors.correlation.correlation_of_columns`` on it: the unweighted statistics, the
York/ODR lines on both axes' errors, the seeded resampled intervals, the warnings and the rule
in words. The query string (``?x=&y=&group=&fit_choice=&as_of=&fit_picks=&draws=&seed=``)
fully describes the view, so a URL reproduces it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from labdb.lib.exports import safe_csv
from web.pages import analysis_function

LABEL_COLUMN = "sample_code"
BAND_LEVEL = 0.95
BAND_POINTS = 50

# --- column metadata: what each frame column is, in a chemist's words, with its unit ---------

#: Labels of the frame's fixed columns (``analysis.selectors.structure_property.BASE_COLUMNS``
#: and the ratio); per-path columns (``cd_s_n`` …) are labelled by ``column_label``'s rules.
COLUMN_LABELS = {
    "sample_code": "Sample",
    "sample_name": "Sample name",
    "architecture": "Architecture",
    "core_ml": "Core thickness (ML)",
    "layer_stack": "Layer stack",
    "material": "Material",
    "morphology": "Morphology",
    "recipe": "Recipe",
    "max_setpoint_c": "Highest set point (°C)",
    "max_injection_rate_ml_per_h": "Highest injection rate (mL/h)",
    "total_hold_s": "Total hold time (s)",
    "length_nm": "TEM length (nm)",
    "width_nm": "TEM width (nm)",
    "diameter_nm": "TEM diameter (nm)",
    "peak_nm": "PL peak (nm)",
    "fwhm_mev": "PL FWHM (meV)",
    "fwhm_mev_err": "PL FWHM, half-range of a printed range (meV)",
    "fwhm_mev_min": "PL FWHM, lower end of a printed range or bound (meV)",
    "fwhm_mev_max": "PL FWHM, upper end of a printed range or bound (meV)",
    "fwhm_mev_qualifier": "PL FWHM as printed: =, ~, range, <, >",
    "fwhm_mev_censored": "PL FWHM is a bound only (censored)",
    "qy_pct": "QY (%)",
    "qy_pct_err": "QY, half-range of a printed range (%)",
    "qy_pct_min": "QY, lower end of a printed range or bound (%)",
    "qy_pct_max": "QY, upper end of a printed range or bound (%)",
    "qy_pct_qualifier": "QY as printed: =, ~, range, <, >",
    "qy_pct_censored": "QY is a bound only (censored)",
    "peak_1s_nm": "1S absorption (nm)",
    "peak_1s_ev": "1S absorption (eV)",
    "qy_method": "QY method (relative, absolute, published)",
    "qy_pct_computed": "QY computed by labdb, relative to a standard (%)",
    "qy_pct_computed_err": "QY computed by labdb, 1σ (%)",
    "lifetime_ns": "PL lifetime, mean (ns)",
    "lifetime_ns_err": "PL lifetime, mean, 1σ (ns)",
    "lifetime_kind": "PL lifetime mean: intensity- or amplitude-weighted",
    "abs_1s_nm": "1S absorption (nm)",
    "abs_1s_ev": "1S absorption (eV)",
    "abs_1s_hwhm_mev": "1S HWHM, low-energy side (meV)",
    "abs_peak_to_valley": "1S peak-to-valley ratio",
    "sizing_diameter_nm": "Diameter from sizing curve (nm)",
    "sizing_diameter_nm_err": "Diameter from sizing curve, 1σ (nm)",
    "sizing_correlation": "Sizing curve used",
    "cd_s_cd_se_n_ratio": "N(Cd–S) / N(Cd–Se)",
    "cd_s_cd_se_n_ratio_err": "N(Cd–S) / N(Cd–Se), error",
}
#: Per-path quantities (``<absorber>_<scatterer>[_<shell>]_<quantity>``): label and unit.
PATH_LABELS = {
    "n": ("coordination number N", ""), "n_err": ("coordination number N, error", ""),
    "r_a": ("distance R", "Å"), "r_err_a": ("distance R, error", "Å"),
    "sigma2_a2": ("σ²", "Å²"), "sigma2_err_a2": ("σ², error", "Å²"),
}
FIT_INFO_LABELS = {"fit_id": "fit id", "fit_citation": "fit source",
                   "fit_age_days": "fit age (days)"}
#: Unit suffixes of column names (STYLE.md), for columns the tables above do not know.
UNIT_SUFFIXES = (("_ml_per_h", "mL/h"), ("_c_per_min", "°C/min"), ("_mev", "meV"),
                 ("_ev", "eV"), ("_nm", "nm"), ("_pct", "%"), ("_frac", "fraction"),
                 ("_days", "days"), ("_min", "min"), ("_a2", "Å²"), ("_a", "Å"),
                 ("_c", "°C"), ("_s", "s"), ("_ml", "mL"), ("_mmol", "mmol"))
_PATH = re.compile(r"^([a-z]{1,2})_((?:[a-z]{1,2}_)*?[a-z]{1,2})(?:_(\d+))?_"
                   r"(n|n_err|r_a|r_err_a|sigma2_a2|sigma2_err_a2)$")
_FIT_INFO = re.compile(r"^([a-z]{1,2})_(fit_id|fit_citation|fit_age_days)$")


def column_label(column: str) -> str:
    """``qy_pct`` → "QY (%)", ``cd_s_n`` → "Cd–S coordination number N", ``zn_se_r_a`` →
    "Zn–Se distance R (Å)"; an unknown ``foo_bar_nm`` → "foo bar (nm)"."""
    if column in COLUMN_LABELS:
        return COLUMN_LABELS[column]
    path = _PATH.match(column)
    if path:
        absorber, scatterers, shell, quantity = path.groups()
        pair = "–".join(p.capitalize() for p in [absorber, *scatterers.split("_")])
        label, unit = PATH_LABELS[quantity]
        text = f"{pair} {label}" + (f" (shell {shell})" if shell else "")
        return f"{text} ({unit})" if unit else text
    info = _FIT_INFO.match(column)
    if info:
        return f"{info.group(1).capitalize()} {FIT_INFO_LABELS[info.group(2)]}"
    for suffix, unit in UNIT_SUFFIXES:
        if column.endswith(suffix) and len(column) > len(suffix):
            return f"{column[: -len(suffix)].replace('_', ' ')} ({unit})"
    return column.replace("_", " ")


def _clean(value):
    """JSON/plot friendly: NaN/inf and pandas NA → None, numpy scalars → Python."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    return value


@dataclass
class Explore:
    available: bool
    numeric_columns: list[str] = field(default_factory=list)
    group_columns: list[str] = field(default_factory=list)
    x: str = ""
    y: str = ""
    group: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)  # (sample id, values)
    traces: list[dict] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    stat_rows: list[tuple[str, dict]] = field(default_factory=list)
    stats_error: str = ""
    n_points: int = 0
    csv: str = ""
    errors: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # column → "QY (%)"
    band: dict | None = None  # the least-squares line with its confidence band, if any
    fit_choice: str = "latest"
    as_of: str = ""
    fit_picks_text: str = ""
    fit_rule: dict = field(default_factory=dict)  # rule in words + notes (aged fits …)
    eiv_rows: list[tuple[str, dict]] = field(default_factory=list)  # York / ODR lines
    resampled: dict | None = None  # intervals of r and slope, with draws and seed
    warnings: list[dict] = field(default_factory=list)
    eiv_note: str = ""

    @property
    def x_label(self) -> str:
        return self.labels.get(self.x, self.x)

    @property
    def y_label(self) -> str:
        return self.labels.get(self.y, self.y)

    @property
    def group_label(self) -> str:
        return self.labels.get(self.group, self.group)


def _numeric(frame) -> list[str]:
    import pandas as pd

    return [c for c in frame.columns
            if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
            and not _is_error_or_id(c) and frame[c].notna().any()]


def _is_error_or_id(column: str) -> bool:
    return (column.endswith(("_err", "_err_a", "_err_a2", "_id")) or column == "sample_id")


def _groups(frame, numeric: list[str]) -> list[str]:
    return [c for c in frame.columns if c not in numeric and not _is_error_or_id(c)
            and c not in (LABEL_COLUMN, "sample_name", "layer_stack")
            and not c.endswith("_citation")
            and frame[c].nunique(dropna=True) <= 30]


def _pick(value: str, options: list[str], default: str) -> str:
    return value if value in options else default


FIT_CHOICE_LABELS = (("latest", "each sample's latest fit"),
                     ("earliest", "each sample's earliest fit"),
                     ("as_of", "the latest fit as of a date or age"))


def _frame_for(params, frame_fn) -> tuple:
    """The frame under the requested fit rule, the rule's arguments, and any error message
    (a bad rule falls back to each sample's latest fit, saying so)."""
    from labdb.lib.errors import DomainError

    choice = params.get("fit_choice", "") or "latest"
    rule = {"fit_choice": choice, "as_of": (params.get("as_of") or "").strip() or None,
            "fit_picks": {}}
    try:
        from analysis.selectors.correlation import parse_fit_picks

        rule["fit_picks"] = parse_fit_picks(params.get("fit_picks", ""))
        return frame_fn(**rule), rule, ""
    except DomainError as exc:
        fallback = {"fit_choice": "latest", "as_of": None, "fit_picks": {}}
        return frame_fn(**fallback), fallback, (f"{exc.message} Showing each sample's "
                                                "latest fit instead.")


def explore(params) -> Explore:
    frame_fn = analysis_function("structure_property_frame")
    if frame_fn is None:
        return Explore(available=False)
    frame, rule, rule_error = _frame_for(params, frame_fn)
    numeric = _numeric(frame)
    groups = _groups(frame, numeric)
    m = Explore(available=True, numeric_columns=numeric, group_columns=groups,
                columns=list(frame.columns), csv=safe_csv(frame),
                labels={c: column_label(c) for c in frame.columns},
                fit_choice=rule["fit_choice"], as_of=params.get("as_of", "") or "",
                fit_picks_text=params.get("fit_picks", "") or "")
    if rule_error:
        m.errors.append(rule_error)
    m.fit_rule = {**rule}
    m.x = _pick(params.get("x", ""), numeric, "core_ml" if "core_ml" in numeric else
                (numeric[0] if numeric else ""))
    m.y = _pick(params.get("y", ""), numeric, "qy_pct" if "qy_pct" in numeric else
                (numeric[1] if len(numeric) > 1 else m.x))
    m.group = _pick(params.get("group", ""), groups,
                    "" if "group" in params else ("architecture" if "architecture" in groups
                                                  else ""))
    for name, label in (("x", "x"), ("y", "y"), ("group", "group")):
        raw = params.get(name, "")
        if raw and raw != getattr(m, name):
            m.errors.append(f"{label}: {raw!r} is not a column that can be plotted; "
                            f"showing {getattr(m, name) or 'none'} instead.")
    ids = frame["sample_id"] if "sample_id" in frame.columns else [None] * len(frame)
    m.rows = [(_clean(pk), [_clean(v) for v in row])
              for pk, row in zip(ids, frame.itertuples(index=False, name=None))]
    if m.x and m.y:
        _plot(m, frame, params)
    return m


def _err(frame, column: str):
    """The error column of ``column`` (``cd_s_r_a`` → ``cd_s_r_err_a``), if the frame has one."""
    try:
        from analysis.selectors.structure_property import error_column
    except ImportError:
        error_column = None
    name = error_column(column, frame.columns) if error_column else f"{column}_err"
    return frame[name] if name in frame.columns else None


def _plot(m: Explore, frame, params) -> None:
    sub = frame[frame[m.x].notna() & frame[m.y].notna()]
    m.n_points = len(sub)
    keys = sub[m.group].fillna("(none)").astype(str) if m.group else None
    for key in (sorted(keys.unique()) if keys is not None else [None]):
        part = sub if key is None else sub[keys == key]
        trace = {"type": "scatter", "mode": "markers", "name": key or "all samples",
                 "x": [_clean(v) for v in part[m.x]], "y": [_clean(v) for v in part[m.y]],
                 "text": [str(v) for v in part[LABEL_COLUMN]] if LABEL_COLUMN in part else [],
                 "hovertemplate": "%{text}<br>x=%{x}<br>y=%{y}<extra>%{fullData.name}</extra>"}
        for axis, column in (("x", m.x), ("y", m.y)):
            err = _err(part, column)
            if err is not None and err.notna().any():
                trace[f"error_{axis}"] = {"type": "data", "visible": True,
                                          "array": [_clean(v) or 0 for v in err]}
        m.traces.append(trace)
    m.band = regression_band(sub[m.x], sub[m.y])
    _stats(m, frame, params)
    york = dict(m.eiv_rows).get("York (2004)")
    if m.band is not None:
        if york is not None:  # before the band: the least-squares line stays the last trace
            m.traces.append(york_trace(m.band["x"], york["slope_value"],
                                       york["intercept_value"]))
        m.traces.extend(band_traces(m.band))


def regression_band(x, y, *, level: float = BAND_LEVEL, points: int = BAND_POINTS
                    ) -> dict | None:
    """Ordinary least-squares line of y on x with its ``level`` confidence band (of the mean).

    At each of ``points`` x values spanning the data: ŷ = a + b·x and ŷ ± t·s·√(1/n + (x − x̄)²/Sxx),
    with s² = Σ(y − ŷ)²/(n − 2) and t the two-sided Student t quantile with n − 2 degrees of
    freedom. Non-finite pairs are dropped. None with fewer than 3 points or a constant x.
    Returns ``{"x", "y", "lower", "upper", "slope", "intercept", "n", "level"}`` (lists of floats).
    """
    import numpy as np
    from scipy import stats

    xs = np.asarray(list(x), dtype=float)
    ys = np.asarray(list(y), dtype=float)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    n = xs.size
    if n < 3 or np.ptp(xs) == 0:
        return None
    x_mean = xs.mean()
    sxx = float(((xs - x_mean) ** 2).sum())
    slope = float(((xs - x_mean) * (ys - ys.mean())).sum() / sxx)
    intercept = float(ys.mean() - slope * x_mean)
    s = math.sqrt(float(((ys - intercept - slope * xs) ** 2).sum()) / (n - 2))
    t = float(stats.t.ppf(0.5 + level / 2, n - 2))
    grid = np.linspace(xs.min(), xs.max(), points)
    fit = intercept + slope * grid
    half = t * s * np.sqrt(1 / n + (grid - x_mean) ** 2 / sxx)
    return {"x": grid.tolist(), "y": fit.tolist(), "lower": (fit - half).tolist(),
            "upper": (fit + half).tolist(), "slope": slope, "intercept": intercept, "n": n,
            "level": level}


def band_traces(band: dict) -> list[dict]:
    """Plotly traces: the band (lower edge, then upper edge filled down to it) and the line."""
    pct = f"{band['level']:.0%}"
    edge = {"type": "scatter", "mode": "lines", "x": band["x"], "hoverinfo": "skip",
            "line": {"width": 0, "color": "rgba(40, 90, 160, 0.25)"}, "showlegend": False}
    return [
        {**edge, "name": f"{pct} confidence band (lower)", "y": band["lower"]},
        {**edge, "name": f"{pct} confidence band", "y": band["upper"], "fill": "tonexty",
         "fillcolor": "rgba(40, 90, 160, 0.18)", "showlegend": True},
        {"type": "scatter", "mode": "lines", "name": "least-squares line (all samples)",
         "x": band["x"], "y": band["y"], "hoverinfo": "skip",
         "line": {"width": 2, "color": "rgb(40, 90, 160)", "dash": "dash"}},
    ]


def york_trace(xs: list[float], slope: float, intercept: float) -> dict:
    """Plotly trace of the York line over the x range of the data."""
    return {"type": "scatter", "mode": "lines", "name": "York line (errors on both axes)",
            "x": [xs[0], xs[-1]], "y": [intercept + slope * xs[0], intercept + slope * xs[-1]],
            "hoverinfo": "skip", "line": {"width": 2, "color": "rgb(190, 80, 20)"}}


def _int_param(params, name: str, default: int) -> int:
    raw = (params.get(name) or "").strip()
    return int(raw) if raw.isdigit() else default


def _stats(m: Explore, frame, params) -> None:
    from analysis.engines.statistics import DEFAULT_DRAWS, DEFAULT_SEED
    from analysis.selectors.correlation import correlation_of_columns
    from labdb.lib.errors import DomainError

    try:
        result = correlation_of_columns(
            frame, x=m.x, y=m.y, group=m.group or None, fit_choice=m.fit_rule["fit_choice"],
            as_of=m.fit_rule["as_of"], fit_picks=m.fit_rule["fit_picks"],
            draws=_int_param(params, "draws", DEFAULT_DRAWS),
            seed=_int_param(params, "seed", DEFAULT_SEED), points=None)
    except (DomainError, ValueError, TypeError) as exc:
        m.stats_error = f"Correlation could not be computed: {exc}"
        return
    m.stats = {k: _format(v) for k, v in result.items()
               if k not in ("groups", "points", "york", "odr", "resampled", "warnings",
                            "fit_rule")}
    m.stat_rows = [("all samples", m.stats)] + [
        (name, {k: _format(v) for k, v in values.items()})
        for name, values in (result.get("groups") or {}).items()]
    m.fit_rule = result["fit_rule"]
    m.eiv_rows = [(name, {**{k: _format(v) for k, v in fit.items()},
                          "slope_value": fit["slope"], "intercept_value": fit["intercept"]})
                  for name, fit in (("York (2004)", result["york"]),
                                    ("ODR (scipy.odr)", result["odr"])) if fit]
    m.resampled = _formatted_intervals(result["resampled"])
    m.warnings = result["warnings"]
    m.eiv_note = result["eiv_note"]


def _formatted_intervals(resampled: dict | None) -> dict | None:
    if resampled is None:
        return None
    names = {"within_errors": "each point within its errors",
             "over_points": "over the points (bootstrap)", "both": "both"}
    rows = [(label, {q: {k: _format(v) for k, v in resampled[key][q].items()}
                     for q in ("r", "slope")}, resampled[key]["n_degenerate"])
            for key, label in names.items()]
    return {"method": resampled["method"], "draws": resampled["draws"],
            "seed": resampled["seed"], "level_pct": round(100 * resampled["level"]),
            "rows": rows}


def _format(value):
    value = _clean(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_format(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(_format(v)) for v in value)
    return value
