"""Beamline ASCII XAS scans, whatever their header looks like.

Comment-header layouts: ESRF-style ``#name …``, APS SPEC-like ``#C 1_Energy (keV)``, SPEC
``#L`` labels (several ``#S`` scans → several spectra), IFEFFIT ``.xmu`` (``#%atom``/``#%edge``),
CLS ``#(1)`` quoted names, raw Epics scans with ``;`` comments (``; P1 = {Energy}`` …
``; n_points = 469``). Headers without comment characters: SSRL (Micro)EXAFS Data Collector
(``PTS: 296 COLS: 69``, one column name per line after ``Data:``), MRCAT/XDAC (``E0=``, a
dashed rule, then a line of column names), KEK-PF (``Mono : Si(111) D= 3.13551 A``,
``Points= 1426``, angle columns converted to energy with the stated d-spacing), and bare
numeric tables whose first column is an energy scan.

Column names come, in order of preference, from SPEC ``#L``/``#C`` numbered labels, Epics
``P1/D1 = {Name}`` lines, SSRL ``Data:`` lists, CLS ``#(1)`` lines, or the last header line
with as many words as data columns (lower-cased, non-alphanumerics → ``_``, as larch does).
Declared point counts (``n_points``, SSRL ``PTS``, PF ``Points=``) must match the rows.
Energies in keV (stated, or max < 100) are converted to eV. μ is a given ``mu`` column, else
ln(I0/It), else If/I0. Element and edge are only reported when the file states them.
"""

from __future__ import annotations

import re

import numpy as np

from ._checks import require_complete_last_row
from ._dates import SPEC_FORMATS, from_formats, stamp
from ._guard import fail, guarded
from ._text import decode_text, parse_float
from .base import ParsedFile, scan_list
from .elements import XAS_EDGES, is_element_symbol
from .xas_common import (
    I0_NAMES,
    IF_NAMES,
    PATTERNS,
    check_energy,
    energy_to_ev,
    mu_columns,
    mu_from_columns,
    mu_series,
    xas_key_numbers,
    xas_mode,
)

PARSER_NAME = "labdb.xas_ascii"
PARSER_VERSION = "2.0.0"
FORMAT = "xas_ascii"
LABEL = "Beamline XAS text file"
SPEC_LABEL_RE = re.compile(r"(\d+)_([^\s(]+)(?:\s*\(([^)]*)\))?")
EPICS_LABEL_RE = re.compile(r"^;\s*([PD]\d+)\s*=\s*\{([^}]*)\}")


def comment_char(lines: list[str]) -> str:
    """'#' or ';' — whichever starts the file's first non-empty line."""
    first = next((ln.lstrip() for ln in lines if ln.strip()), "")
    if first[:1] not in ("#", ";"):
        raise fail(FORMAT, f"{LABEL}: expected a '#' or ';' comment header")
    return first[0]


def _split(lines: list[str], char: str) -> tuple[list[str], np.ndarray]:
    """(comment lines, numeric table); ParseError for ragged rows or non-numbers."""
    comments, rows = [], []
    for k, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(char):
            if rows:
                raise fail(FORMAT, f"{LABEL}: comment line {k + 1} inside the data table")
            comments.append(stripped)
            continue
        try:
            rows.append([parse_float(t) for t in stripped.replace(",", " ").split()])
        except ValueError:
            raise fail(FORMAT, f"{LABEL}: line {k + 1} is not numeric: {stripped[:50]!r}") from None
        if len(rows[-1]) != len(rows[0]):
            raise fail(
                FORMAT,
                f"{LABEL}: line {k + 1} has {len(rows[-1])} values, the first "
                f"data line has {len(rows[0])}; the file looks truncated",
            )
    if len(rows) < 5 or len(rows[0]) < 2:
        raise fail(FORMAT, f"{LABEL}: fewer than 5 data rows with at least 2 columns")
    return comments, np.array(rows)


def _spec_names(comments: list[str], n: int) -> tuple[list[str], str | None] | None:
    """SPEC-like numbered labels ``1_Energy (keV) 2_sec …`` → (names, energy unit)."""
    for line in comments:
        labels = SPEC_LABEL_RE.findall(line)
        if len(labels) == n and [int(i) for i, _, _ in labels] == list(range(1, n + 1)):
            return [name.lower() for _, name, _ in labels], (labels[0][2] or None)
    return None


def _epics_names(comments: list[str], n: int) -> list[str] | None:
    """Epics ``; P1 = {Energy}`` labels ordered by the ``; P1 P2 D1 D2`` line."""
    labels = dict(m.groups() for m in (EPICS_LABEL_RE.match(c) for c in comments) if m)
    order = comments[-1].lstrip(";").split() if comments else []
    if labels and len(order) == n and all(o in labels for o in order):
        return [labels[o].strip().lower().replace(" ", "_") for o in order]
    return None


def column_names(comments: list[str], n: int) -> tuple[list[str], str | None]:
    """(lower-case column names, stated energy unit) — see the module docstring."""
    spec = _spec_names(comments, n)
    if spec:
        return spec
    epics = _epics_names(comments, n)
    if epics:
        return epics, None
    for line in reversed(comments):
        words = line.lstrip("#;% ").split()
        if len(words) == n and not any(re.match(r"^[-+]?\d", w) for w in words):
            return [w.lower() for w in words], None
    return [f"col{i + 1}" for i in range(n)], None


def _stated(comments: list[str]) -> dict:
    """Element, edge, E0 (raw number) and declared point count found in the header."""
    text = "\n".join(comments)
    found: dict = {}
    if m := re.search(r"^[#;]%?\s*atom\s*:\s*([A-Za-z]{1,2})\s*$", text, re.M | re.I):
        found["element"] = m.group(1).capitalize()
    if m := re.search(r"^[#;]%?\s*edge\s*:\s*(\w+)\s*$", text, re.M | re.I):
        found["edge"] = m.group(1).upper()
    if m := re.search(r"(?:exafs_edge_energy|\bE0\s*=)\s*([-+\d.eE]+)", text):
        found["e0"] = parse_float(m.group(1))
    if m := re.search(r"^;\s*n_points\s*=\s*(\d+)", text, re.M):
        found["n_points"] = int(m.group(1))
    return found


def check_last_row(text: str, char: str) -> None:
    """Raise ParseError when the file ends inside a number.

    Some beamlines omit the final line break, so a missing one alone is not an error; but
    then the last value must be about as long as the other values of its column (a cut
    ``120444.70`` → ``118`` is caught).
    """
    if text.endswith(("\n", "\r")):
        return
    rows = [
        ln.split() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(char)
    ]
    if len(rows) < 3:
        return
    col = len(rows[-1]) - 1
    lengths = [len(r[col]) for r in rows[:-1] if len(r) > col]
    if lengths and len(rows[-1][col]) < float(np.median(lengths)) - 1:
        raise fail(
            FORMAT,
            f"{LABEL}: the last data row ends in the middle of a number; the file looks truncated",
        )


HC_EV_A = 12398.419843  # h·c in eV·Å (CODATA 2018)
PATTERN_I0 = PATTERNS[I0_NAMES]
XAS_WORDS = ("energy", "exafs", "xafs", "xanes", "i0", "e0=", "mono", "beamline", "edge")


def norm_name(name: str) -> str:
    """Column name as larch spells it: lower case, non-alphanumerics → ``_``."""
    cleaned = name.strip().strip('"').replace("$(", "").replace(")", " ")
    return re.sub(r"[^a-z0-9]+", "_", cleaned.lower()).strip("_") or "col"


def _numeric(line: str) -> list[float] | None:
    """The finite numbers of a data line, or None when any token is not one."""
    tokens = line.replace(",", " ").split()
    if not tokens:
        return None
    try:
        return [parse_float(t) for t in tokens]
    except ValueError:
        return None


def split_trailing_table(lines: list[str]) -> tuple[list[str], np.ndarray, int]:
    """(header lines, numeric table, line index of the first data row) of a headerless layout.

    The table is the block of numeric lines that ends the file; all its rows must have the
    width of the last rows. Raises ValueError for a cut last row or fewer than 5 rows.
    """
    numeric = [(i, _numeric(ln)) for i, ln in enumerate(lines) if ln.strip()]
    tail = [v for _, v in numeric[-6:-1] if v is not None]
    if not numeric or numeric[-1][1] is None or not tail:
        raise ValueError("the file does not end with a table of numbers")
    width = max(set(map(len, tail)), key=[len(v) for v in tail].count)
    if len(numeric[-1][1]) != width:
        raise ValueError(
            f"the last data row has {len(numeric[-1][1])} values, the rows before it "
            f"{width}; the file looks truncated"
        )
    rows, first = [], len(lines)
    for i, values in reversed(numeric):
        if values is None or len(values) != width:
            break
        rows.append(values)
        first = i
    if len(rows) < 5 or width < 2:
        raise ValueError("fewer than 5 data rows with at least 2 columns end the file")
    return lines[:first], np.array(rows[::-1]), first


def _ssrl_names(header: list[str], n: int) -> list[str] | None:
    """SSRL Data Collector: one column name per line after ``Data:``."""
    idx = next((i for i, ln in enumerate(header) if ln.strip() == "Data:"), None)
    if idx is None:
        return None
    names = [ln.strip() for ln in header[idx + 1 :] if ln.strip()]
    return [norm_name(x) for x in names] if len(names) == n else None


def _words(line: str) -> list[str]:
    """Column words of a header line (tabs, 2+ spaces, quotes and ``#(1)`` markers)."""
    body = re.sub(r"^[#;%\s]+(\(\d+\))?\s*", "", line.strip())
    parts = re.split(r"\t|\s{2,}", body) if "\t" in body or '"' in body else body.split()
    return [p for p in (q.strip() for q in parts) if p]


def _labview_names(header: list[str], n: int) -> list[str] | None:
    """APS LabVIEW scans: the line after ``# Column Headings:`` holds 21-character fields."""
    idx = next((i for i, ln in enumerate(header) if "Column Headings:" in ln), None)
    if idx is None or idx + 1 >= len(header):
        return None
    body = header[idx + 1].lstrip("#")
    fields = [body[k : k + 21].strip(" *") for k in range(0, len(body.rstrip()), 21)]
    return [norm_name(f) for f in fields] if len(fields) == n else None


def _header_names(header: list[str], n: int) -> list[str] | None:
    """SPEC ``#L``, then the last header line with exactly ``n`` non-numeric words."""
    for line in reversed(header):
        if line.startswith("#L "):
            for words in (re.split(r"\s{2,}", line[3:].strip()), line[3:].split()):
                if len(words) == n:
                    return [norm_name(w) for w in words]
    for line in reversed(header):
        words = _words(line)
        if len(words) == n and not any(re.match(r"^[-+]?\.?\d", w) for w in words):
            return [norm_name(w) for w in words]
    return None


def _declared_points(header: list[str]) -> int | None:
    """Point count stated by SSRL (``PTS: 296``), KEK-PF (``Points= 1426``) or Epics."""
    text = "\n".join(header)
    m = re.search(r"\bPTS:\s*(\d+)|\bPoints=\s*(\d+)|^;\s*n_points\s*=\s*(\d+)", text, re.M)
    return int(next(g for g in m.groups() if g)) if m else None


def _pf_energy(header: list[str], table: np.ndarray) -> tuple[np.ndarray, float] | None:
    """KEK-PF: (energy in eV from the read-back angle, column 2, and Mono D=, d in Å)."""
    text = "\n".join(header)
    m = re.search(r"Mono\s*:.*?D=\s*([\d.]+)\s*A", text)
    if not m or "KEK-PF" not in text:
        return None
    d_a = float(m.group(1))
    energy = HC_EV_A / (2.0 * d_a * np.sin(np.radians(table[:, 1])))
    blocks = re.findall(r"^\s*\d+\s+([\d.]+)\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+\d+\s*$", text, re.M)
    if blocks:  # the block table states the scan's energies: the angles must agree with them
        first_ev, last_from, last_ev = (float(v) for v in (*blocks[0][:1], *blocks[-1]))
        lo, hi = sorted((float(energy[0]), float(energy[-1])))
        if abs(lo - first_ev) > 5.0 or not last_from - 5.0 <= hi <= last_ev + 5.0:
            raise ValueError(
                f"the header's energy blocks run {first_ev:g}–{last_ev:g} eV, but the angles "
                f"with Mono D= {d_a:g} Å give {lo:.1f}–{hi:.1f} eV"
            )
    return energy, d_a


def _header_facts(header: list[str]) -> dict:
    """Mode, facility, beamline, mono and time a beamline header states (None when silent)."""
    text = "\n".join(header)
    facts: dict = {"mode": "unknown", "facility": None, "beamline_name": None}
    if m := re.search(r"\b(Transmission|Fluorescence)\s*\(", text):
        facts["mode"] = m.group(1).lower()
    if m := re.search(r"KEK-PF\s+(BL\w+)", text):
        facts.update(facility="KEK-PF", beamline_name=m.group(1))
    elif m := re.search(r"created (?:at|on .*? on) (APS \w+|X-\w+)", text):
        facts["beamline_name"] = m.group(1)
    elif m := re.search(r"^\s*(SSRL)\b", text, re.M):
        facts["facility"] = m.group(1)
    if m := re.search(r"(Si|Ge)\s*\(?(\d{3})\)?", text, re.I):
        facts["mono_name"] = f"{m.group(1).capitalize()}({m.group(2)})"
    if m := re.search(r"D=\s*([\d.]+)\s*A", text):
        facts["mono_d_spacing_a"] = float(m.group(1))
    return facts


def _header_time(header: list[str]) -> dict:
    """``measured_at`` from SPEC ``#D``, SSRL's second line, or MRCAT/XDAC ``created`` text."""
    for line in header[:12]:
        text = line[2:].strip() if line.startswith("#D") else line.strip()
        value = from_formats(text, SPEC_FORMATS)
        if value is not None:
            return stamp(value, "#D" if line.startswith("#D") else "header line")
    return {}


def _names(header: list[str], n: int) -> tuple[list[str], str | None]:
    """(column names, stated energy unit) for any layout — see the module docstring."""
    spec = _spec_names(header, n)
    if spec:
        return spec
    for found in (
        _epics_names(header, n),
        _ssrl_names(header, n),
        _labview_names(header, n),
        _header_names(header, n),
    ):
        if found:
            return found, None
    return [f"col{i + 1}" for i in range(n)], None


def _spectrum(header: list[str], table: np.ndarray) -> dict:
    """Energy (eV), μ and how they were found for one scan table."""
    names, energy_unit = _names(header, table.shape[1])
    pf = _pf_energy(header, table)
    if pf is not None:
        energy, e_index, was_kev = pf[0], 1, False
    else:
        e_index = next((i for i, nm in enumerate(names) if "energy" in nm), 0)
        energy, was_kev = energy_to_ev(table[:, e_index], energy_unit)
    order = None
    if energy.size > 1 and energy[-1] < energy[0]:  # scanned downwards (PF angles): reverse
        order = np.arange(energy.size)[::-1]
        energy, table = energy[order], table[order]
    check_energy(energy)
    columns = {nm: table[:, i] for i, nm in enumerate(names) if i != e_index}
    if pf is not None and not any(PATTERN_I0.search(c) for c in columns):
        columns = {"i0": table[:, 3], "it" if "Fluor" not in "".join(header) else "if": table[:, 4]}
    windows = sorted({c.split("_")[0] for c in columns if re.fullmatch(r"sca\d+_\d+", c)})
    channels = [c for c in columns if windows and c.startswith(windows[0] + "_")]
    if channels and not any(PATTERNS[IF_NAMES].search(c) for c in columns):
        # SSRL multi-element detectors: one SCA window per element; their sum is the
        # fluorescence signal (as larch/SixPack sum them)
        columns["if"] = np.sum([columns[c] for c in channels], axis=0)
    mu, mode = mu_from_columns(columns)
    return {
        "mu_columns": mu_columns(columns, mode),
        "fluorescence_channels_summed": channels,
        "energy": energy,
        "mu": mu,
        "mode": mode,
        "names": names,
        "energy_index": e_index,
        "energy_from_angle": pf is not None,
        "reversed": order is not None,
        "was_kev": was_kev,
    }


def _scans(text: str, lines: list[str]) -> tuple[list[tuple[list[str], np.ndarray]], list[str]]:
    """([(header lines, table) per scan], file header) for every supported layout."""
    first = next((ln.lstrip() for ln in lines if ln.strip()), "")
    starts = [i for i, ln in enumerate(lines) if ln.startswith("#S ")]
    if first[:1] == "#" and len(starts) >= 2:
        head = lines[: starts[0]]
        bounds = starts + [len(lines)]
        scans = []
        for a, b in zip(bounds, bounds[1:]):
            segment = lines[a:b]  # SPEC puts #C remarks after a scan's data too: keep them
            ordered = [ln for ln in segment if ln.lstrip().startswith("#")]
            comments, table = _split(ordered + [ln for ln in segment if ln not in ordered], "#")
            scans.append((head + comments, table))
        return scans, head
    if first[:1] in ("#", ";"):
        char = first[0]
        check_last_row(text, char)
        comments, table = _split(lines, char)
        return [(comments, table)], comments
    header, table, start = split_trailing_table(lines)
    cells = [ln.replace(",", " ").split() for ln in lines[start:] if ln.strip()]
    require_complete_last_row(cells, ends_with_newline=text.endswith(("\n", "\r")))
    return [(header, table)], header


def looks_like_beamline_scan(text: str) -> bool:
    """True for a headerless-comment beamline text: an XAS word in the header (or no header at
    all) and a trailing numeric table whose energy/angle column is a monotonic scan."""
    lines = text.splitlines()[:-1]  # the sniffer sees the first 64 kB: the last line may be cut
    try:
        header, table, _ = split_trailing_table(lines)
    except ValueError:
        return False
    head = "\n".join(header).lower()
    if header and not any(w in head for w in XAS_WORDS):
        return False
    if not header and not (1000 < table[0, 0] < 100000 and table.shape[1] >= 3):
        return False
    return table.shape[0] >= 20


@guarded(FORMAT, LABEL)
def parse_xas_ascii(data: bytes, *, filename: str) -> ParsedFile:
    """Parse a beamline ASCII XAS scan into μ(E) (energy in eV) and XAS key numbers.

    ``e0_ev`` is the header's edge energy (``#C exafs_edge_energy``, ``E0 =``; keV → eV) when
    given, else the maximum of dμ/dE. A SPEC file with several ``#S`` scans gives one μ(E)
    per scan (listed in ``metadata["scans"]``). Element and edge are reported only when stated
    (``key_numbers["element_stated"]``). Raises ParseError for ragged/non-numeric rows, a cut
    last row, a point count differing from the stated one, energies that do not increase, or
    when no μ can be formed.
    """
    text = decode_text(data)
    lines = [ln for ln in text.splitlines() if ln.strip() != "\x1a"]  # DOS end-of-file mark
    if lines and lines[0].startswith("# FDMNES"):
        raise fail(
            FORMAT,
            f"{LABEL}: this is an FDMNES simulation output (energies relative to the edge), "
            "not a measured spectrum",
        )
    scans, file_header = _scans(text, lines)
    declared = _declared_points(file_header)
    if declared is not None and len(scans) == 1 and declared != scans[0][1].shape[0]:
        raise fail(
            FORMAT,
            f"{LABEL}: the header says {declared} points but {scans[0][1].shape[0]} rows "
            "follow; the file looks truncated",
        )
    spectra_ = [_spectrum(h, t) for h, t in scans]
    stated = _stated([ln for ln in file_header if ln.strip()])
    element = stated.get("element") if is_element_symbol(stated.get("element", "")) else None
    edge = stated.get("edge") if stated.get("edge") in XAS_EDGES else None
    e0 = stated.get("e0")
    if e0 is not None and e0 < 100:
        e0 *= 1000.0
    first = spectra_[0]
    facts = _header_facts(file_header)
    facts["mode"] = xas_mode(first["mode"], facts["mode"])
    series = [
        mu_series(
            s["energy"], s["mu"], "μ(E)" if len(spectra_) == 1 else f"μ(E) scan {k + 1}", s["mode"]
        )
        for k, s in enumerate(spectra_)
    ]
    metadata = {
        "columns": first["names"],
        "n_rows": int(first["energy"].size),
        "energy_column": first["names"][first["energy_index"]],
        "energy_column_index": first["energy_index"],
        "energy_from_angle": first["energy_from_angle"],
        "rows_reversed": first["reversed"],
        "energy_converted_from_kev": first["was_kev"],
        "mu_mode": first["mode"],
        "col0_range_raw": [float(scans[0][1][:, 0].min()), float(scans[0][1][:, 0].max())],
        "fluorescence_channels_summed": first["fluorescence_channels_summed"],
        "mu_columns": first["mu_columns"],
        **facts,
        "header": [ln.rstrip() for ln in file_header[:200]],
        "reader": "own beamline ASCII reader",
        **_header_time(file_header),
    }
    if len(series) > 1:
        metadata["scans"] = scan_list(series)
    numbers = xas_key_numbers(
        first["energy"], first["mu"], element=element, edge=edge, e0_stated_ev=e0
    )
    numbers["element_stated"] = element is not None
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="xas",
        series=series,
        metadata=metadata,
        key_numbers=numbers,
    )
