"""Small display helpers: formulas, numbers rounded to their errors, status badges.

Display only: stored text and numbers are never changed (exports, CSV and the API keep full
precision); the full value is kept in a ``title`` attribute for hovering.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

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
STATUS_WORDS = {"simulated": "SIMULATED"}  # a simulation must never read like a measurement


@register.simple_tag
def status(value, label=None):
    """A badge: symbol + word, e.g. ``✗ failed``; colour only reinforces."""
    key = str(value or "").lower()
    symbol, css = STATUS.get(key, ("•", "info"))
    return format_html('<span class="badge badge-{}"><span aria-hidden="true">{}</span> {}</span>',
                       css, symbol, label or STATUS_WORDS.get(key) or key or "unknown")


@register.filter
def num(value, digits=4):
    """Number with up to ``digits`` significant digits; blank for None."""
    if value is None or value == "":
        return ""
    try:
        return f"{float(value):.{int(digits)}g}"
    except (TypeError, ValueError):
        return value


# --- formulas ------------------------------------------------------------------------------

# ``_x`` / ``^2`` (one character) or ``_{1-x}`` / ``^{2+}`` (braced, no nesting).
_MARKUP = re.compile(r"([_^])(?:\{([^{}]*)\}|([^\s{}_^]))")
_TAGS = {"_": "sub", "^": "sup"}
MINUS = "\u2212"


@register.filter(is_safe=True)
def formula(value):
    """Chemical markup as HTML: ``Cd_xZn_{1-x}S`` → ``Cd<sub>x</sub>Zn<sub>1−x</sub>S``.

    ``_`` makes a subscript, ``^`` a superscript, of one character or of a ``{…}`` group; a
    hyphen inside one becomes a minus sign (−). Everything else is HTML-escaped; markup that is
    not closed stays as typed. Blank for None.
    """
    if value is None:
        return ""
    text = str(value)
    out, last = [], 0
    for match in _MARKUP.finditer(text):
        out.append(escape(text[last:match.start()]))
        inner = match.group(2) if match.group(2) is not None else match.group(3)
        tag = _TAGS[match.group(1)]
        out.append(f"<{tag}>{escape(inner).replace('-', MINUS)}</{tag}>")
        last = match.end()
    out.append(escape(text[last:]))
    return mark_safe("".join(out))


# --- numbers with uncertainties --------------------------------------------------------------

def _finite(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _decimal(number: float) -> Decimal:
    """The shortest decimal that reads back as ``number`` (0.95 is 0.95, not 0.9499…)."""
    return Decimal(repr(float(number)))


def _round(number: float, decimals: int) -> Decimal:
    return _decimal(number).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def error_decimals(err: float) -> int:
    """Decimal places that round ``err`` to 1 significant digit, or 2 if that digit is 1.

    Half-up on the decimal digits as written: 0.003411 → 3 (0.003); 0.0143 → 3 (0.014);
    0.0096 → 3 (it rounds up to 0.010, whose leading digit is 1); 0.95 → 1 (1.0); 23 → -1
    (20). ``err`` must be finite and > 0.
    """
    exponent = _decimal(err).adjusted()  # power of ten of the leading digit
    for _ in range(2):  # at most once more, when rounding carried into the next decade
        leading = int(_decimal(err).scaleb(-exponent))
        decimals = -exponent + (1 if leading == 1 else 0)
        if _round(err, decimals) < Decimal(1).scaleb(exponent + 1):
            return decimals
        exponent += 1
        err = float(Decimal(1).scaleb(exponent))
    return decimals


def _fixed(number: float, decimals: int) -> str:
    text = f"{_round(number, decimals):f}"
    if decimals < 0:
        text = f"{_round(number, decimals):.0f}"
    return text[1:] if text.startswith("-") and Decimal(text) == 0 else text


def rounded_pm(value, err=None, digits=4) -> str | None:
    """``value ± err`` as text, the error to 1 significant digit (2 if it starts with 1) and
    the value to the same decimal place: 2.50812, 0.003411 → ``2.508 ± 0.003``.

    Without a usable error (None, zero, NaN) the value alone with ``digits`` significant digits.
    None when ``value`` is missing or not a number.
    """
    number, error = _finite(value), _finite(err)
    if number is None:
        return None
    if error is None or error <= 0:
        text = num(number, digits)
        return text if error is None else f"{text} ± {num(error, digits)}"
    decimals = error_decimals(error)
    return f"{_fixed(number, decimals)} ± {_fixed(error, decimals)}"


def _full(value, err) -> str:
    parts = [repr(float(value))] if _finite(value) is not None else [str(value)]
    if err is not None:
        parts.append(repr(float(err)) if _finite(err) is not None else str(err))
    return " ± ".join(parts)


@register.simple_tag
def pm(value, err=None, digits=4, unit="", title=None):
    """``value ± err [unit]`` rounded to the error (see ``rounded_pm``), the full digits (or
    ``title``) on hover. ``—`` when there is no value."""
    text = rounded_pm(value, err, digits)
    if text is None:
        return "—" if value is None or value == "" else str(value)
    suffix = f" {unit}" if unit else ""
    return format_html('<span class="pm" title="{}{}">{}{}</span>', title or _full(value, err),
                       suffix, text, suffix)


@register.simple_tag
def measured(obj, field, err_field=None, unit=""):
    """A record's ``field ± err_field`` rounded to its error like ``pm``; for a published number
    the hover shows the digits as printed (``obj.as_printed[field]``), else the stored ones."""
    printed = getattr(obj, "as_printed", None) or {}
    value = getattr(obj, field, None)
    err = getattr(obj, err_field, None) if err_field else None
    title = None
    if isinstance(printed, dict) and printed.get(field) not in (None, ""):
        title = str(printed[field])
        if err_field and printed.get(err_field) not in (None, ""):
            title = f"{title} ± {printed[err_field]}"
    return pm(value, err, unit=unit, title=title)


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
