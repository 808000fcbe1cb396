"""Athena/Demeter project files ``.prj`` — own reader, never ``eval``.

Two flavours: (1) gzip-compressed Perl text (Athena 0.8 and Demeter): per record
``$old_group = '…';``, ``@args = ('key','value',…)`` (flat key/value list, may hold nested
``[…]`` lists), ``@x = (…)``, ``@y = (…)``, optional ``@i0``/``@signal``/``@stddev``, then
``[record]``; (2) Demeter ≥ 0.9.26 JSON (plain text, ``_____header1`` … and ``_____order``).
The Perl literals are tokenised (quoted strings, numbers, barewords, brackets) — nothing is
executed. Gzip expansion is capped (``max_expanded_bytes``).
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

import numpy as np

from ._guard import fail, guarded
from ._text import decode_text, parse_float
from .base import ParsedFile, Series
from .elements import XAS_EDGES, element_from_atomic_number, is_element_symbol
from .xas_common import energy_to_ev, xas_key_numbers

PARSER_NAME = "labdb.athena_prj"
PARSER_VERSION = "1.1.0"
FORMAT = "athena_prj"
LABEL = "Athena project"
DEFAULT_MAX_EXPANDED_BYTES = 512 * 1024 * 1024
TOKEN_RE = re.compile(
    r"\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"|([\[\](),])|"
    r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|([A-Za-z_][\w:]*)|(=>))"
)
ARRAY_RE = re.compile(r"^@(\w+)\s*=\s*\((.*)\);\s*$", re.DOTALL)


def gunzip_limited(data: bytes, max_bytes: int) -> bytes:
    """Decompress gzip ``data``; ParseError beyond ``max_bytes``, EOFError if truncated."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = inflater.decompress(data, max_bytes + 1)
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise fail(
            FORMAT, f"{LABEL}: the compressed project expands beyond {max_bytes / 1e6:.0f} MB"
        )
    if not inflater.eof:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")
    return out


def perl_list(text: str) -> list:
    """Parse the inside of a Perl list literal into Python lists/strings (no eval).

    Raises ValueError on any token that is not a string, number, bareword, ``,``/``=>``
    or bracket, and on unbalanced brackets.
    """
    stack: list[list] = [[]]
    pos = 0
    while pos < len(text):
        match = TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise ValueError(f"unexpected Perl syntax at {text[pos : pos + 20]!r}")
        pos = match.end()
        single, double, punct, number, bare, _arrow = match.groups()
        if punct in ("[", "("):
            stack.append([])
        elif punct in ("]", ")"):
            if len(stack) < 2:
                raise ValueError("unbalanced brackets")
            inner = stack.pop()
            stack[-1].append(inner)
        elif single is not None or double is not None:
            stack[-1].append((single if single is not None else double).replace("\\'", "'"))
        elif number is not None or bare is not None:
            stack[-1].append(number if number is not None else bare)
    if len(stack) != 1:
        raise ValueError("unbalanced brackets")
    return stack[0]


def _perl_records(text: str) -> list[dict]:
    """Records of a Perl-flavoured project: [{"args": {...}, "arrays": {name: [...]}}]."""
    records: list[dict] = []
    current: dict[str, dict[str, Any]] = {"args": {}, "arrays": {}}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[record]"):
            records.append(current)
            current = {"args": {}, "arrays": {}}
            continue
        match = ARRAY_RE.match(line)
        if not match or match.group(1) == "journal":
            continue
        values = perl_list(match.group(2))
        if match.group(1) == "args":
            current["args"] = dict(zip(values[0::2], values[1::2]))
        else:
            current["arrays"][match.group(1)] = values
    return records


def _json_records(text: str) -> list[dict]:
    """Records of a JSON-flavoured project in ``_____order``."""
    doc = json.loads(text)
    order = doc.get("_____order") or [k for k in doc if not k.startswith("_____")]
    records = []
    for key in order:
        group = doc[key]
        arrays = {k: v for k, v in group.items() if isinstance(v, list)}
        records.append({"args": dict(group.get("args") or {}), "arrays": arrays})
    return records


def _group(record: dict, index: int) -> dict:
    """Validated group summary + arrays (x, y float arrays of equal, non-zero length)."""
    args, arrays = record["args"], record["arrays"]
    x = np.array([parse_float(str(v)) for v in arrays.get("x", [])])
    y = np.array([parse_float(str(v)) for v in arrays.get("y", [])])
    label = str(args.get("label") or f"group {index + 1}")
    if x.size < 5 or x.size != y.size:
        raise fail(FORMAT, f"{LABEL}: group {label!r} has {x.size} x and {y.size} y values")
    z = str(args.get("bkg_z", "")).strip()
    element = (
        z if is_element_symbol(z) else (element_from_atomic_number(int(z)) if z.isdigit() else None)
    )
    edge = str(args.get("bkg_edge") or args.get("fft_edge") or "").upper() or None
    is_chi = str(args.get("is_chi", "0")) == "1"
    e0 = args.get("bkg_e0")
    return {
        "label": label,
        "x": x,
        "y": y,
        "is_chi": is_chi,
        "element": element,
        "edge": edge if edge in XAS_EDGES else None,
        "e0_ev": parse_float(str(e0)) if e0 not in (None, "") else None,
        "arrays": list(arrays),
        "record_type": args.get("recordtype"),
    }


def _series(group: dict) -> Series:
    """μ(E) (energy in eV) or χ(k) for a chi record."""
    if group["is_chi"]:
        return Series(
            name=group["label"],
            x=group["x"],
            y=group["y"],
            x_label="k",
            x_unit="1/Å",
            y_label="χ(k)",
            y_unit="",
        )
    energy, _ = energy_to_ev(group["x"])
    return Series(
        name=group["label"],
        x=energy,
        y=group["y"],
        x_label="Energy",
        x_unit="eV",
        y_label="μ(E)",
        y_unit="",
    )


@guarded(FORMAT, LABEL)
def parse_athena_prj(
    data: bytes, *, filename: str, max_expanded_bytes: int = DEFAULT_MAX_EXPANDED_BYTES
) -> ParsedFile:
    """Parse an Athena project: one Series per group, key numbers of the first μ(E) group
    (``element``, ``edge``, ``e0_ev`` from ``bkg_e0``, energy range in eV) plus ``n_groups``;
    ``tables`` summarise every group. Raises ParseError for truncated gzip, non-project text,
    malformed Perl literals, or groups whose x/y lengths differ.
    """
    text = decode_text(
        gunzip_limited(data, max_expanded_bytes) if data[:2] == b"\x1f\x8b" else data
    )
    head = text[:2000]
    if "_____header1" in head and head.lstrip().startswith("{"):
        records, flavour = _json_records(text), "json"
    elif head.startswith("# Athena project file"):
        records, flavour = _perl_records(text), "perl"
    else:
        raise fail(FORMAT, f"{LABEL}: missing the '# Athena project file' header")
    groups = [_group(r, i) for i, r in enumerate(records)]
    if not groups:
        raise fail(FORMAT, f"{LABEL}: the project contains no data groups")
    first = next((g for g in groups if not g["is_chi"]), groups[0])
    energy = _series(first).x
    numbers = {
        **xas_key_numbers(
            energy,
            first["y"],
            element=first["element"],
            edge=first["edge"],
            e0_stated_ev=first["e0_ev"],
        ),
        "n_groups": len(groups),
        "group": first["label"],
    }
    tables = [
        {
            "label": g["label"],
            "n": int(g["x"].size),
            "x_min": float(g["x"].min()),
            "x_max": float(g["x"].max()),
            "e0_ev": g["e0_ev"],
            "element": g["element"],
            "edge": g["edge"],
            "arrays": g["arrays"],
            "is_chi": g["is_chi"],
        }
        for g in groups
    ]
    metadata = {
        "flavour": flavour,
        "header": head.splitlines()[0][:200],
        "reader": "own Athena reader (no eval)",
    }
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="xas",
        series=[_series(g) for g in groups],
        metadata=metadata,
        key_numbers=numbers,
        tables=tables,
    )
