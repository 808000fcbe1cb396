"""Figures for structure–property correlations and aging series (pure: matplotlib Agg).

Each call builds its own ``Figure`` (no pyplot state), so rendering is thread-safe. Groups are
told apart by colour AND marker shape, and significant aging changes by a marker and a text
label, so nothing is conveyed by colour alone. Errors are 1σ error bars.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any, Literal

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from labdb.lib.errors import EngineError
from labdb.lib.plotting import one_figure_at_a_time

__all__ = ["MARKERS", "plot_aging_series", "plot_correlation"]

ImageFormat = Literal["png", "svg"]

#: Marker shapes cycled per group, paired with the colour cycle (Okabe–Ito, colour-blind safe).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def _render(fig: Figure, fmt: str) -> bytes:
    if fmt not in ("png", "svg"):
        raise EngineError(f"image format must be 'png' or 'svg', got {fmt!r}", field="fmt")
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # No timestamps in the files: the same figure gives the same bytes.
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buf, format=fmt, dpi=110, metadata=metadata)
    return buf.getvalue()


def _style(index: int) -> dict[str, Any]:
    return {"marker": MARKERS[index % len(MARKERS)], "color": COLORS[index % len(COLORS)]}


def _err(values: Sequence[Any]) -> list[float] | None:
    out = [float(v) if v is not None and not _nan(v) else 0.0 for v in values]
    return out if any(out) else None


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


@one_figure_at_a_time
def plot_correlation(
    points: Sequence[dict],
    *,
    x_label: str,
    y_label: str,
    line: dict | None = None,
    fmt: ImageFormat = "png",
    title: str = "",
) -> bytes:
    """Scatter of ``points`` ({x, y, x_err, y_err, group, label}) with error bars.

    One colour + marker pair per group (legend), the sample label next to each point, and the
    overall least-squares line when ``line`` = {"slope", "intercept"} has numbers.
    """
    fig = Figure(figsize=(6.4, 4.6))
    ax = fig.add_subplot()
    groups = sorted({p.get("group") for p in points}, key=lambda g: (g is None, str(g)))
    for index, group in enumerate(groups):
        mine = [p for p in points if p.get("group") == group]
        style = _style(index)
        ax.errorbar(
            [p["x"] for p in mine],
            [p["y"] for p in mine],
            xerr=_err([p.get("x_err") for p in mine]),
            yerr=_err([p.get("y_err") for p in mine]),
            linestyle="none",
            markersize=7,
            capsize=3,
            label=str(group) if group is not None else "all",
            **style,
        )
        for p in mine:
            if p.get("label"):
                ax.annotate(
                    str(p["label"]),
                    (p["x"], p["y"]),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                )
    if line and line.get("slope") is not None and points:
        xs = [p["x"] for p in points]
        lo, hi = min(xs), max(xs)
        ax.plot(
            [lo, hi],
            [line["intercept"] + line["slope"] * lo, line["intercept"] + line["slope"] * hi],
            color="0.4",
            lw=1,
            ls="--",
            label="least squares (all points)",
        )
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title or f"{y_label} vs {x_label} (n = {len(points)})")
    if points:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no points with both values", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    return _render(fig, fmt)


@one_figure_at_a_time
def plot_aging_series(
    series: Sequence[dict], changes: Sequence[dict], *, fmt: ImageFormat = "png", title: str = ""
) -> bytes:
    """Dated points per (property, edge) over age (days) with 1σ bars, one panel each.

    ``series`` rows need property, edge, age_days, value, err; ``changes`` rows need property,
    edge, to_age_days, to_value, significant. A significant change is marked with a star and
    the word "significant"; undated points are left out (they have no place on the time axis).
    """
    dated = [r for r in series if r.get("age_days") is not None and not _nan(r["age_days"])]
    keys = sorted({(r["property"], r.get("edge") or "") for r in dated})
    panels = max(len(keys), 1)
    fig = Figure(figsize=(6.4, min(2.4 * panels + 0.8, 40)))
    if not keys:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no dated measurements", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
    for index, (prop, edge) in enumerate(keys):
        ax = fig.add_subplot(panels, 1, index + 1)
        mine = sorted(
            (r for r in dated if (r["property"], r.get("edge") or "") == (prop, edge)),
            key=lambda r: r["age_days"],
        )
        style = _style(index)
        ax.errorbar(
            [r["age_days"] for r in mine],
            [r["value"] for r in mine],
            yerr=_err([r.get("err") for r in mine]),
            capsize=3,
            markersize=6,
            lw=1,
            **style,
        )
        for change in changes:
            if (change["property"], change.get("edge") or "") == (prop, edge) and change.get(
                "significant"
            ):
                ax.plot(
                    [change["to_age_days"]],
                    [change["to_value"]],
                    marker="*",
                    markersize=14,
                    color="black",
                    linestyle="none",
                )
                ax.annotate(
                    "significant",
                    (change["to_age_days"], change["to_value"]),
                    textcoords="offset points",
                    xytext=(6, -10),
                    fontsize=7,
                )
        ax.set_ylabel(f"{prop}\n{edge}".strip(), fontsize=8)
    if keys:
        fig.axes[-1].set_xlabel("age (days)")
    fig.suptitle(title or "aging series (1σ error bars; ★ = change > 2σ)", fontsize=10)
    fig.tight_layout()
    return _render(fig, fmt)
