"""The correlation explorer's view model: x, y and group picked from the frame's columns.

Reads ``analysis.selectors.structure_property_frame()`` (one row per sample) and, when
available, ``analysis.engines.statistics.correlate``. The query string (``?x=&y=&group=``)
fully describes the view, so a URL reproduces it.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from dataclasses import dataclass, field

from web.pages import analysis_function

LABEL_COLUMN = "sample_code"


def _correlate_function():
    try:
        module = importlib.import_module("analysis.engines.statistics")
    except ImportError:
        return None
    return getattr(module, "correlate", None)


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


def explore(params) -> Explore:
    frame_fn = analysis_function("structure_property_frame")
    if frame_fn is None:
        return Explore(available=False)
    frame = frame_fn()
    numeric = _numeric(frame)
    groups = _groups(frame, numeric)
    m = Explore(available=True, numeric_columns=numeric, group_columns=groups,
                columns=list(frame.columns), csv=frame.to_csv(index=False))
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
        _plot(m, frame)
    return m


def _err(frame, column: str):
    """The error column of ``column`` (``cd_s_r_a`` → ``cd_s_r_err_a``), if the frame has one."""
    try:
        from analysis.selectors.structure_property import error_column
    except ImportError:
        error_column = None
    name = error_column(column, frame.columns) if error_column else f"{column}_err"
    return frame[name] if name in frame.columns else None


def _plot(m: Explore, frame) -> None:
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
    _stats(m, sub)


def _stats(m: Explore, sub) -> None:
    correlate = _correlate_function()
    if correlate is None:
        m.stats_error = "Correlation statistics are not available yet on this server."
        return
    x_err, y_err = _err(sub, m.x), _err(sub, m.y)
    try:
        result = correlate(list(sub[m.x]), list(sub[m.y]),
                           x_err=list(x_err) if x_err is not None else None,
                           y_err=list(y_err) if y_err is not None else None,
                           groups=list(sub[m.group]) if m.group else None)
    except (ValueError, TypeError) as exc:
        m.stats_error = f"Correlation could not be computed: {exc}"
        return
    if dataclasses.is_dataclass(result):
        result = dataclasses.asdict(result)
    if not isinstance(result, dict):
        m.stats = {"result": _format(result)}
        m.stat_rows = [("all samples", m.stats)]
        return
    m.stats = {k: _format(v) for k, v in result.items() if k not in ("groups", "points")}
    m.stat_rows = [("all samples", m.stats)] + [
        (name, {k: _format(v) for k, v in values.items()})
        for name, values in (result.get("groups") or {}).items()]


def _format(value):
    value = _clean(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_format(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(_format(v)) for v in value)
    return value
