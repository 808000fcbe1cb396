"""Small display helpers: numbers with errors, status badges (text + symbol, never colour alone)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

register = template.Library()

# status -> (symbol, css class); the word itself is always printed beside the symbol.
STATUS = {
    "ok": ("✓", "ok"), "succeeded": ("✓", "ok"), "done": ("✓", "ok"),
    "failed": ("✗", "bad"), "error": ("✗", "bad"),
    "pending": ("…", "wait"), "queued": ("…", "wait"),
    "running": ("↻", "run"), "stale": ("!", "warn"), "due": ("!", "warn"),
    "overdue": ("‼", "bad"), "upcoming": ("◷", "wait"), "significant": ("!", "warn"),
    "published": ("¶", "info"), "measured": ("◆", "info"), "computed": ("∑", "info"),
    "simulated": ("≈", "warn"),
}


@register.simple_tag
def status(value, label=None):
    """A badge: symbol + word, e.g. ``✗ failed``; colour only reinforces."""
    key = str(value or "").lower()
    symbol, css = STATUS.get(key, ("•", "info"))
    return format_html('<span class="badge badge-{}"><span aria-hidden="true">{}</span> {}</span>',
                       css, symbol, label or key or "unknown")


@register.filter
def num(value, digits=4):
    """Number with up to ``digits`` significant digits; blank for None."""
    if value is None or value == "":
        return ""
    try:
        return f"{float(value):.{int(digits)}g}"
    except (TypeError, ValueError):
        return value


@register.simple_tag
def pm(value, err=None, digits=4):
    """``value ± err`` (either may be missing)."""
    if value is None:
        return "—"
    text = num(value, digits)
    if err is not None:
        text = f"{text} ± {num(err, digits)}"
    return text


@register.filter
def get(mapping, key):
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return None


@register.filter
def size(value):
    value = float(value or 0)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return value


@register.simple_tag
def architecture(layers):
    roles = [layer.role for layer in layers]
    if not roles:
        return "—"
    parts = ["core"] + [r for r in ("crown", "shell") if r in roles]
    return "/".join(parts)


@register.simple_tag
def lineage_svg(sample, lineage):
    from web.lineage import lineage_graph

    return lineage_graph(sample, lineage)


@register.simple_tag
def as_table(obj):
    """Generic (columns, rows) of a DataFrame or a list of dicts/objects, for aging series."""
    if obj is None:
        return None
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):
        columns = [str(c) for c in obj.columns]
        rows = [[_cell(v) for v in row] for row in obj.itertuples(index=False, name=None)]
        return {"columns": columns, "rows": rows}
    items = list(obj)
    if not items:
        return {"columns": [], "rows": []}
    if isinstance(items[0], dict):
        columns = list(items[0].keys())
        return {"columns": columns, "rows": [[_cell(i.get(c)) for c in columns] for i in items]}
    return {"columns": ["item"], "rows": [[str(i)] for i in items]}


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return str(value)
