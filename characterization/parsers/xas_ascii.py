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
ln(I0/It), else If/I0; failing those, a beamline's own convention: an energy-dispersive
detector's ``<El>Ka_Sum`` window for the element whose K edge lies in the scan over its
(dead-time-corrected) I0 (APS 20-ID, SLS PHOENIX), or SNBL's ``Mon``/``Ion1`` pair. A single
table that names no μ, I0, It or If column (CLS ``$(Detector1)``, bare numeric tables) is kept
as a column table with μ NOT formed until a chemist declares the columns
(``with_declared_columns``). Element and edge are only reported when the file states them.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from ._checks import require_complete_last_row
from ._dates import SPEC_FORMATS, from_formats, stamp
from ._guard import fail, guarded
from ._text import decode_text, parse_float
from .base import ParsedFile, Series, scan_list
from .elements import XAS_EDGES, is_element_symbol
from .xas_common import (
    I0_NAMES,
    IF_NAMES,
    IT_NAMES,
    PATTERNS,
    MuNotFormed,
    check_energy,
    energy_to_ev,
    mu_columns,
    mu_from_columns,
    mu_series,
    pick_column,
    xas_key_numbers,
    xas_mode,
)

PARSER_NAME = "labdb.xas_ascii"
PARSER_VERSION = "2.1.0"
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
    comments: list[str] = []
    rows: list[list[float]] = []
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
    labels: dict[str, str] = {
        m.group(1): m.group(2) for m in (EPICS_LABEL_RE.match(c) for c in comments) if m
    }
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


LABVIEW_CREATED_RE = re.compile(
    r"created\s+(?:by LabVIEW Control Panel\s+)?(\d{1,2}/\d{1,2}/\d{2,4})\s+"
    r"(\d{1,2}:\d{2}(?::\d{2})?\s*[AP]M)"
)
# APS LabVIEW PCs write US month/day order (APS20ID_2018.dat: "6/15/2018  8:14:19 PM")
LABVIEW_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%y %I:%M:%S %p", "%m/%d/%y %I:%M %p")


def _header_time(header: list[str]) -> dict:
    """``measured_at`` from SPEC ``#D``, SSRL's second line, or the APS LabVIEW first line
    (``1-D Scan File created by LabVIEW Control Panel  7/7/2022  2:33:33 PM``)."""
    for line in header[:12]:
        text = line[2:].strip() if line.startswith("#D") else line.strip()
        value = from_formats(text, SPEC_FORMATS)
        if value is not None:
            return stamp(value, "#D" if line.startswith("#D") else "header line")
    m = LABVIEW_CREATED_RE.search(header[0]) if header else None
    if m:
        return stamp(from_formats(f"{m.group(1)} {m.group(2)}", LABVIEW_FORMATS), "LabVIEW line")
    return {}


def _scan_start(scan_comments: list[str]) -> dict:
    """``{"started": ISO time}`` from a SPEC scan's own ``#D`` line (empty when it has none)."""
    for line in scan_comments:
        if line.startswith("#D"):
            value = from_formats(line[2:].strip(), SPEC_FORMATS)
            if value is not None:
                return {"started": value.isoformat()}
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
    try:
        mu, mode = mu_from_columns(columns)
        used, line = mu_columns(columns, mode), None
    except ValueError as exc:
        convention = _convention_columns(columns, energy)
        if convention is None:
            raise exc from None
        mu, mode, used, line = convention
    return {
        "mu_columns": used,
        "fluorescence_line": line,
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


LINE_SUM_RE = re.compile(r"^(?:[a-z0-9]+_)?([a-z]{1,2})ka_sum(?:_|$)")
EDGE_MARGIN_EV = 20.0  # an edge this close to either end of the scan is not "inside" it


def k_edge_ev(element: str) -> float | None:
    """Tabulated K-edge energy of ``element`` in eV (xraydb, the tables larch reads)."""
    from xraydb import xray_edge

    try:
        found = xray_edge(element, "K")
    except (ValueError, KeyError, TypeError):
        return None
    return float(found.energy) if found is not None and found.energy > 0 else None


def _line_window(columns: dict[str, np.ndarray], energy: np.ndarray) -> tuple[str, str] | None:
    """(column, element) of the one ``<El>Ka_Sum`` detector window whose element's K edge lies
    inside the scanned energies; None when there is none or more than one."""
    lo, hi = float(energy.min()) + EDGE_MARGIN_EV, float(energy.max()) - EDGE_MARGIN_EV
    hits = []
    for name in columns:
        m = LINE_SUM_RE.match(name)
        element = m.group(1).capitalize() if m else ""
        edge = k_edge_ev(element) if is_element_symbol(element) else None
        if edge is not None and lo < edge < hi:
            hits.append((name, element))
    return hits[0] if len(hits) == 1 else None


def _fluorescence_line(columns: dict[str, np.ndarray], energy: np.ndarray):
    """(μ, mode, [I0, If] names, line) from an energy-dispersive detector's emission-line sums.

    APS 20-ID LabVIEW (``XMAP4:AsKa_Sum`` beside ``XMAP4:DT Corr I0``) and SLS PHOENIX
    (``AlKa_sum_cps`` beside ``I0_KEITHLEY1``) name their fluorescence by the emission line,
    not "If". The line window of the element whose K edge lies inside the scan is the
    absorber's fluorescence; I0 is that detector's dead-time-corrected I0 when the file has
    one (so If/I0 is dead-time corrected), else the I0 column. None when no single window fits.
    """
    found = _line_window(columns, energy)
    if found is None:
        return None
    name, element = found
    prefix = name.split("_")[0] + "_"
    i0 = next((c for c in columns if c.startswith(prefix) and c.endswith("dt_corr_i0")), None)
    i0 = i0 or pick_column(columns, I0_NAMES)
    if i0 is None or not np.all(columns[i0] > 0):
        return None
    return columns[name] / columns[i0], "fluorescence", [i0, name], f"{element} Kα"


def _monitor_and_ion_chamber(columns: dict[str, np.ndarray]):
    """(μ, mode, [I0, It] names, None) for ESRF SNBL SPEC zap scans (``#L Mon … Ion1 … Ion2``).

    ``Mon`` is the incident-beam monitor and ``Ion1`` the ion chamber behind the sample
    (in ESRF_SNBL_2013.dat Mon stays flat while Ion1 halves across the Ge K edge), so
    μ = ln(Mon/Ion1). None unless both are there, positive, and no I0 column is named.
    """
    if pick_column(columns, I0_NAMES) is not None or pick_column(columns, IT_NAMES) is not None:
        return None
    mon, ion1 = columns.get("mon"), columns.get("ion1")
    if mon is None or ion1 is None or not (np.all(mon > 0) and np.all(ion1 > 0)):
        return None
    return np.log(mon / ion1), "transmission", ["mon", "ion1"], None


def _convention_columns(columns: dict[str, np.ndarray], energy: np.ndarray):
    """μ from a beamline's own column convention when no column is named I0/It/If or μ.

    Refuses (ValueError) a scan whose amplifier gain column changes: the currents would need
    rescaling that the file does not document.
    """
    for name, values in columns.items():
        if "gain" in name and np.ptp(values) != 0:
            raise ValueError(
                f"the amplifier gain column {name} changes during the scan; μ cannot be formed "
                "from currents measured at different gains"
            )
    return _fluorescence_line(columns, energy) or _monitor_and_ion_chamber(columns)


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
    try:
        spectra_ = [_spectrum(h, t) for h, t in scans]
    except MuNotFormed as exc:
        if len(scans) != 1:
            raise fail(FORMAT, f"{LABEL}: {exc}") from None
        return _column_table(scans[0], file_header)
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
        "fluorescence_line": first["fluorescence_line"],
        **facts,
        "header": [ln.rstrip() for ln in file_header[:200]],
        "reader": "own beamline ASCII reader",
        **_header_time(file_header),
    }
    if len(series) > 1:
        metadata["scans"] = [
            {**entry, **_scan_start(h[len(file_header) :])}
            for entry, (h, _) in zip(scan_list(series), scans)
        ]
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


# --- column tables whose μ columns the file does not name ------------------------------------


class DeclarationError(ValueError):
    """A declared column choice that cannot form μ; ``field`` names the form field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


DECLARED_FIELDS = ("energy_column", "energy_unit", "mode", "numerator", "denominator")


def _ln_relations(table: np.ndarray) -> list[str]:
    """Columns that are ln(column a / column b) of two others (1-based), e.g. a μ the
    beamline already formed: a hint for the chemist, never used to form μ by itself."""
    found = []
    n = table.shape[1]
    positive = [bool(np.all(table[:, i] > 0)) for i in range(n)]
    with np.errstate(all="ignore"):
        for k in range(n):
            for a in range(n):
                for b in range(n):
                    if len({k, a, b}) < 3 or not (positive[a] and positive[b]):
                        continue
                    ratio = np.log(table[:, a] / table[:, b])
                    if np.allclose(table[:, k], ratio, rtol=1e-6, atol=1e-9):
                        found.append(f"column {k + 1} = ln(column {a + 1} / column {b + 1})")
    return found


def _column_table(scan: tuple[list[str], np.ndarray], file_header: list[str]) -> ParsedFile:
    """A beamline table whose columns are not named as μ, I0, It or If (CLS ``$(Detector1)``,
    headerless tables): every column kept as a series against the row number, μ NOT formed
    (``key_numbers["mu_formed"] = False``) until a chemist declares the columns
    (``with_declared_columns``). The candidate energy column was checked to increase."""
    header, table = scan
    names, energy_unit = _names(header, table.shape[1])
    rows = np.arange(1, table.shape[0] + 1, dtype=float)
    series = [
        Series(
            name=f"column {i + 1}",
            x=rows,
            y=table[:, i].copy(),
            x_label="Row",
            x_unit="",
            y_label=names[i],
            y_unit="",
        )
        for i in range(table.shape[1])
    ]
    metadata = {
        "columns": names,
        "n_rows": int(table.shape[0]),
        "mu_formed": False,
        "mu_mode": "not formed",
        "energy_unit_stated": energy_unit,
        "column_relations": _ln_relations(table),
        "scans": [],  # the series are the file's columns, not scans
        **_header_facts(file_header),
        "header": [ln.rstrip() for ln in file_header[:200]],
        "reader": "own beamline ASCII reader",
        **_header_time(file_header),
    }
    numbers = {
        "mu_formed": False,
        "element": None,
        "edge": None,
        "element_stated": False,
        "n_points": int(table.shape[0]),
        "n_columns": int(table.shape[1]),
    }
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="xas",
        series=series,
        metadata=metadata,
        key_numbers=numbers,
    )


def _column_number(parsed: ParsedFile, field: str, raw) -> int:
    """1-based column number from a number or a column name of ``metadata["columns"]``."""
    names = parsed.metadata["columns"]
    text = str(raw if raw is not None else "").strip()
    if text.isdigit() and 1 <= int(text) <= len(names):
        return int(text)
    if text.lower() in names:
        return names.index(text.lower()) + 1
    raise DeclarationError(
        field,
        f"{field}: {text or '(empty)'!r} is not a column of this file; expected a column number "
        f"1–{len(names)} or one of the names {', '.join(names[:12])}",
    )


def _declared_choice(declaration: dict, field: str, allowed: tuple[str, ...]) -> str:
    value = str(declaration.get(field) or "").strip()
    match = next((a for a in allowed if a.lower() == value.lower()), None)
    if match is None:
        raise DeclarationError(
            field, f"{field}: {value or '(empty)'!r}; expected {' or '.join(allowed)}"
        )
    return match


def normalized_declaration(parsed: ParsedFile, declaration: dict) -> dict:
    """The declaration with column numbers (1-based), unit and mode spelled one way.

    Raises DeclarationError naming the field for an unknown column, unit or mode, or when
    the numerator, denominator and energy are not three different columns.
    """
    out = {
        "energy_column": _column_number(parsed, "energy_column", declaration.get("energy_column")),
        "energy_unit": _declared_choice(declaration, "energy_unit", ("eV", "keV")),
        "mode": _declared_choice(declaration, "mode", ("transmission", "fluorescence")),
        "numerator": _column_number(parsed, "numerator", declaration.get("numerator")),
        "denominator": _column_number(parsed, "denominator", declaration.get("denominator")),
    }
    if len({out["energy_column"], out["numerator"], out["denominator"]}) < 3:
        raise DeclarationError(
            "denominator",
            "denominator: energy, numerator and denominator must be three different columns",
        )
    return out


def with_declared_columns(parsed: ParsedFile, declaration: dict) -> ParsedFile:
    """The μ(E) a chemist declared for a column table that does not name its μ columns.

    ``declaration``: ``energy_column`` (number or name), ``energy_unit`` (eV/keV), ``mode``
    and ``numerator``/``denominator`` columns: transmission μ = ln(numerator/denominator)
    (I0 over It), fluorescence μ = numerator/denominator (If over I0). Energy in eV in the
    result. Raises DeclarationError naming the field when the energy does not increase, a
    logarithm needs non-positive currents or a ratio divides by zero.
    """
    d = normalized_declaration(parsed, declaration)
    column = {i + 1: s.y for i, s in enumerate(parsed.series)}
    names = parsed.metadata["columns"]
    energy = column[d["energy_column"]] * (1000.0 if d["energy_unit"] == "keV" else 1.0)
    try:
        check_energy(energy)
    except ValueError as exc:
        raise DeclarationError("energy_column", f"energy_column: {exc}") from None
    num, den = column[d["numerator"]], column[d["denominator"]]
    if d["mode"] == "transmission":
        if not (np.all(num > 0) and np.all(den > 0)):
            raise DeclarationError(
                "numerator",
                "numerator: μ = ln(numerator/denominator) needs positive values in both columns "
                f"({names[d['numerator'] - 1]}, {names[d['denominator'] - 1]})",
            )
        mu = np.log(num / den)
    else:
        if np.any(den == 0):
            raise DeclarationError(
                "denominator", f"denominator: {names[d['denominator'] - 1]} has zeros (I0 expected)"
            )
        mu = num / den
    numbers = xas_key_numbers(energy, mu, element=None, edge=None, e0_stated_ev=None)
    metadata = {
        **parsed.metadata,
        "mu_formed": True,
        "mu_declared": d,
        "mu_mode": d["mode"],
        "mode": d["mode"],
        "mu_columns": [names[d["numerator"] - 1], names[d["denominator"] - 1]],
        "energy_column": names[d["energy_column"] - 1],
        "energy_column_index": d["energy_column"] - 1,
    }
    return dataclasses.replace(
        parsed,
        series=[mu_series(energy, mu, "μ(E)", d["mode"])],
        metadata=metadata,
        key_numbers={**numbers, "element_stated": False, "mu_formed": True},
    )
