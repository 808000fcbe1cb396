"""XAS Data Interchange ``.xdi`` files — own strict reader (spec: XDI/1.0, public domain).

Structure: ``# XDI/1.x [app/version…]``; header lines ``# Family.key: value`` (family starts
with a letter; key letters/digits/_; one dot; non-empty value); optional ``# ///`` followed
by free user comments; a ``#----`` line; an optional column-label comment line; then a
whitespace table with exactly as many numeric columns as ``Column.N`` headers (N = 1…n).

Stricter than larch and the C library on purpose (uploads are validated once, then trusted):
lines with another comment character, NaN or text in the table, column-count mismatches,
missing/invalid element or edge, Column.1 other than energy/angle, angle without
``Mono.d_spacing``, invalid dates, numbers or units in well-known fields, and data that stop
before the stated edge energy (a truncated scan) are all errors.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from ._dates import from_iso, stamp
from ._guard import fail, guarded
from ._text import decode_text, parse_float
from .base import ParsedFile
from .elements import XAS_EDGES, is_element_symbol
from .xas_common import (
    check_energy,
    mu_from_columns,
    mu_series,
    temperature_k,
    xas_key_numbers,
    xas_mode,
)

PARSER_NAME = "labdb.xdi"
PARSER_VERSION = "1.1.0"
FORMAT = "xdi"
LABEL = "XDI"
HC_EV_A = 12398.419843  # h·c in eV·Å
VERSION_RE = re.compile(r"^#\s*XDI/(\d+\.\d+)\s*(.*)$", re.IGNORECASE)
FIELD_RE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z0-9_]+)\s*:\s*(.*?)\s*$")
NUMBER_UNIT_RE = r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*{units}\s*$"
VALUE_RULES = {  # (family.key) → allowed units regex (None = plain number)
    "sample.temperature": r"(K|C|F|°C|°F)?",
    "facility.energy": r"(GeV|MeV)",
    "facility.current": r"(mA|A)",
    "mono.d_spacing": r"(Å|A|Ang)?",
    "scan.edge_energy": r"(eV)?",
}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?$")


def _err(message: str) -> Exception:
    """ParseError for this format."""
    return fail(FORMAT, f"{LABEL}: {message}")


def _split_sections(lines: list[str]) -> tuple[list[str], list[str], list[str], int]:
    """(header field lines, comment lines, data lines, index of the '#----' line)."""
    fields: list[str] = []
    comments: list[str] = []
    in_comments = False
    for i, line in enumerate(lines[1:], start=1):
        stripped = line.strip()
        if not stripped.startswith("#"):
            raise _err(
                f"line {i + 1} is neither a '#' header line nor after '#----': {stripped[:40]!r}"
            )
        if re.match(r"^#\s*-{3,}\s*$", stripped):
            return fields, comments, lines[i + 1 :], i
        if re.match(r"^#\s*/{3,}", stripped):
            in_comments = True
        elif in_comments:
            comments.append(stripped.lstrip("#").strip())
        else:
            fields.append(stripped)
    raise _err("no '#----' line ends the header")


def _parse_fields(lines: list[str]) -> dict[str, str]:
    """{``family.key`` (lower case): value}; raises ParseError for malformed lines."""
    out: dict[str, str] = {}
    for line in lines:
        if line.strip("# \t") == "":
            continue
        match = FIELD_RE.match(line)
        if not match or not match.group(3):
            raise _err(f"header line {line[:60]!r} is not 'Family.key: value'")
        out[f"{match.group(1).lower()}.{match.group(2).lower()}"] = match.group(3)
    return out


def _validate_values(fields: dict[str, str]) -> None:
    """Check numbers/units of well-known fields and ISO dates; ParseError on failure."""
    for key, units in VALUE_RULES.items():
        value = fields.get(key)
        # Free text ("room temperature") is allowed except for d-spacing; anything that starts
        # like a number must be a clean number with a known unit ("300.0a K" is rejected).
        if value is None or (key != "mono.d_spacing" and not re.match(r"^\s*[-+.\d]", value)):
            continue
        if not re.match(NUMBER_UNIT_RE.format(units=units), value, re.IGNORECASE):
            raise _err(f"{key} = {value!r} is not a number with a valid unit")
    for key in ("scan.start_time", "scan.end_time"):
        if key in fields:
            value = fields[key]
            try:
                if not DATE_RE.match(value):
                    raise ValueError(value)
                dt.datetime.fromisoformat(value.replace(" ", "T").replace("Z", "+00:00"))
            except ValueError:
                raise _err(f"{key} = {value!r} is not an ISO 8601 date-time") from None


def _columns(fields: dict[str, str]) -> list[tuple[str, str | None]]:
    """[(name, unit)] from ``Column.N`` fields; N must run 1…n without gaps."""
    cols = {
        int(k.split(".")[1]): v.split()
        for k, v in fields.items()
        if re.fullmatch(r"column\.\d+", k)
    }
    if not cols:
        raise _err("no 'Column.N' headers name the data columns")
    if sorted(cols) != list(range(1, len(cols) + 1)):
        raise _err(f"Column numbers {sorted(cols)} are not 1…{len(cols)}")
    return [
        (cols[i][0].lower(), cols[i][1] if len(cols[i]) > 1 else None)
        for i in range(1, len(cols) + 1)
    ]


def _table(data_lines: list[str], n_cols: int) -> np.ndarray:
    """Numeric table (rows × n_cols); ParseError for ragged rows, text or NaN."""
    rows: list[list[float]] = []
    for k, line in enumerate(data_lines):
        if not line.strip():
            continue
        tokens = line.split()
        if line.lstrip().startswith("#"):
            if rows:
                raise _err(f"comment line inside the data table: {line.strip()[:40]!r}")
            continue
        if len(tokens) != n_cols:
            raise _err(
                f"data row {k + 1} has {len(tokens)} values, the header names {n_cols} columns"
            )
        try:
            rows.append([parse_float(t) for t in tokens])
        except ValueError:
            raise _err(f"data row {k + 1} contains a non-number: {line.strip()[:60]!r}") from None
    if len(rows) < 5:
        raise _err(f"only {len(rows)} data rows")
    return np.array(rows)


def _element_edge(fields: dict[str, str]) -> tuple[str | None, str | None]:
    """(element, edge) from Element.* (or legacy Scan.*) fields, validated.

    (None, None) when the header states neither (or only one): the spectrum is kept with the
    absorber unknown (``key_numbers["element_stated"] = False``) for the chemist to declare.
    A stated but invalid symbol or edge is an error.
    """
    element = fields.get("element.symbol") or fields.get("scan.element")
    edge = fields.get("element.edge") or fields.get("scan.edge")
    if not element or not edge:
        return None, None
    if not is_element_symbol(element.strip()):
        raise _err(f"Element.symbol {element!r} is not a chemical element")
    if edge.strip().upper() not in XAS_EDGES:
        raise _err(f"Element.edge {edge!r} is not an absorption edge (K, L1, L2, L3, M…)")
    return element.strip(), edge.strip().upper()


def _energy_ev(table: np.ndarray, columns: list, fields: dict[str, str]) -> np.ndarray:
    """Column 1 as energy in eV (angle in degrees is converted with Mono.d_spacing)."""
    name, unit = columns[0]
    if name == "energy":
        return table[:, 0] * (1000.0 if (unit or "").lower() == "kev" else 1.0)
    if name == "angle":
        if "mono.d_spacing" not in fields:
            raise _err("Column.1 is an angle but Mono.d_spacing is not given")
        d_a = parse_float(fields["mono.d_spacing"].split()[0])
        theta = np.radians(
            table[:, 0] if (unit or "deg").startswith("deg") else np.degrees(table[:, 0])
        )
        return HC_EV_A / (2.0 * d_a * np.sin(theta))
    raise _err(f"Column.1 must be 'energy' or 'angle', not {name!r}")


def _facts(fields: dict[str, str], mu_mode: str) -> dict:
    """Mode, facility, beamline, temperature (K) and monochromator the header states."""
    d_spacing = fields.get("mono.d_spacing")
    try:
        d_a = parse_float(d_spacing.split()[0]) if d_spacing else None
    except ValueError:
        d_a = None
    stated_mode = " ".join(
        v for k, v in fields.items() if k in ("scan.mode", "experiment.mode", "mode")
    )
    return {
        "mode": xas_mode(mu_mode, stated_mode),
        "facility": fields.get("facility.name"),
        "beamline_name": fields.get("beamline.name"),
        "temperature_k": temperature_k(fields.get("sample.temperature")),
        "mono_name": fields.get("mono.name"),
        "mono_d_spacing_a": d_a,
    }


@guarded(FORMAT, LABEL)
def parse_xdi(data: bytes, *, filename: str) -> ParsedFile:
    """Parse an XDI file into μ(E) (energy in eV) and XAS key numbers.

    μ is a given ``mutrans``/``mufluor``/``mu`` column, else ln(I0/It), else If/I0. ``e0_ev`` is
    ``Scan.edge_energy`` when stated, else the maximum of dμ/dE. Raises ParseError for every
    violation listed in the module docstring.
    """
    text = decode_text(data)
    if not text.endswith(("\n", "\r")):
        raise _err("the last line has no line break; the file looks truncated")
    lines = text.splitlines()
    version = VERSION_RE.match(lines[0].strip()) if lines else None
    if not version:
        raise _err("the first line must be '# XDI/1.0 …'")
    field_lines, comments, data_lines, _ = _split_sections(lines)
    fields = _parse_fields(field_lines)
    _validate_values(fields)
    columns = _columns(fields)
    element, edge = _element_edge(fields)
    table = _table(data_lines, len(columns))
    energy = _energy_ev(table, columns, fields)
    check_energy(energy)
    named = {name: table[:, i] for i, (name, _) in enumerate(columns)}
    mu, mode = mu_from_columns(named)
    stated = fields.get("scan.edge_energy")
    e0 = parse_float(stated.split()[0]) if stated else None
    if e0 is not None and not energy.min() < e0 < energy.max():
        edge_name = f"{element} {edge} edge" if element else "edge"
        raise _err(
            f"the data ({energy.min():.1f}–{energy.max():.1f} eV) do not span the stated "
            f"{edge_name} energy {e0:g} eV; the scan looks truncated"
        )
    metadata = {
        "xdi_version": version.group(1),
        "extensions": version.group(2).strip(),
        "columns": [c for c, _ in columns],
        "fields": fields,
        "comments": comments,
        "mu_mode": mode,
        "mono": fields.get("mono.name"),
        "beamline": fields.get("beamline.name"),
        "sample": fields.get("sample.name"),
        **_facts(fields, mode),
        "reader": "own strict XDI reader",
    }
    metadata.update(stamp(from_iso(fields.get("scan.start_time")), "Scan.start_time"))
    if element is None:
        metadata["warnings"] = [
            "the header states no Element.symbol/Element.edge (required by XDI 1.0): "
            "the absorber is unknown until a chemist declares it"
        ]
    numbers = xas_key_numbers(energy, mu, element=element, edge=edge, e0_stated_ev=e0)
    numbers["element_stated"] = element is not None
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="xas",
        series=[mu_series(energy, mu, "μ(E)", mode)],
        metadata=metadata,
        key_numbers=numbers,
    )
