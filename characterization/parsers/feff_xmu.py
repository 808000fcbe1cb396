"""FEFF ``xmu.dat``: the μ(E) FEFF computes for a model structure (FEFF 8.5L, 9, 10).

Layout (FEFF writes the same table for XANES and EXAFS runs)::

    # CdS zincblende a=5.818, Cd K                 Feff8L (EXAFS)       0.1
    # POT  Non-SCF, core-hole, AFOLP (folp(0)= 1.150)
    # Abs   Z=48 Rmt= 1.519 Rnm= 1.671 K  shell
    # PATH  Rmax= 5.000,  Keep_limit= 0.00, Heap_limit 0.00  Pwcrit= 2.50%
    #     5/   5 paths used
    #  xsedge+50, used to normalize mu           7.5094E-05
    #  omega    e    k    mu    mu0     chi     @#
       26741.762     -0.083   0.050  5.88570E-01  5.56918E-01  2.58671E-02

``omega`` is the absolute photon energy (eV), ``e`` the energy relative to FEFF's edge
(Fermi level, eV), ``k`` in Å⁻¹, ``mu`` μ(E) normalized to the edge step (``xsedge+50``),
``mu0`` the embedded-atom background and ``chi`` = (μ − μ0)/edge step. Stored: ``omega`` as
the energy and ``mu`` as μ; ``e0_ev`` is FEFF's edge, omega − e (the same on every row to the
printed precision). The absorber comes from ``Abs Z=`` and ``<edge> shell``; the calculation
kind (XANES: a full-multiple-scattering run, "0/0 paths used" or ``XANES`` in the header;
EXAFS: a path expansion, ``(EXAFS)``) and the path radius are recorded. Every result is
``metadata["simulated"] = True`` and its spectra are stored with ``source = "simulated"``.

Layout checks (ParseError naming the file): the ``omega e k mu mu0 chi`` label line, six
numeric values per row, strictly increasing omega, omega − e constant, a complete last row.
"""

from __future__ import annotations

import re

import numpy as np

from ._checks import require_complete_last_row
from ._guard import fail, guarded
from ._text import decode_text, parse_float
from .base import ParsedFile
from .elements import element_from_atomic_number
from .xas_common import check_energy, mu_series, xas_key_numbers

PARSER_NAME = "labdb.feff_xmu"
PARSER_VERSION = "1.0.0"
FORMAT = "feff_xmu"
LABEL = "FEFF xmu.dat"
COLUMNS = ("omega", "e", "k", "mu", "mu0", "chi")
LABEL_RE = re.compile(r"^#\s*omega\s+e\s+k\s+mu\s+mu0\s+chi\b")
VERSION_RE = re.compile(
    r"(Feff\s*[0-9][^\s]*(?:\s*\([A-Z]+\))?(?:\s+[0-9.]+)?|FEFF\s*[0-9.]+)", re.IGNORECASE
)
ABS_RE = re.compile(r"^#\s*Abs\s+Z=\s*(\d+).*?\b(K|L1|L2|L3|M[1-5])\s+shell", re.IGNORECASE)
RMAX_RE = re.compile(r"Rmax=\s*([0-9.]+)")
PATHS_RE = re.compile(r"^#\s*(\d+)\s*/\s*(\d+)\s+paths used")
NORM_RE = re.compile(r"xsedge\s*\+\s*50, used to normalize mu\s+([-+0-9.Ee]+)")
E0_TOLERANCE_EV = 0.01  # omega and e are printed to 1 meV: omega − e may differ by rounding


def looks_like_feff_xmu(lines: list[str]) -> bool:
    """True when one of ``lines`` (the first of the file) is FEFF's xmu.dat label line."""
    return any(LABEL_RE.match(ln.strip()) for ln in lines)


def _header_facts(header: list[str]) -> dict:
    """Title, FEFF version, absorber, path radius, paths used and edge-step normalization."""
    first = header[0].lstrip("#").strip() if header else ""
    version = VERSION_RE.search(first)
    facts: dict = {
        "title": (first[: version.start()] if version else first).strip(" #"),
        "feff_version": " ".join(version.group(1).split()) if version else "",
        "element": None,
        "edge": None,
        "path_rmax_a": None,
        "paths_used": None,
        "edge_step_norm": None,
    }
    for line in header:
        if (m := ABS_RE.match(line.strip())) is not None:
            facts["element"] = element_from_atomic_number(int(m.group(1)))
            facts["edge"] = m.group(2).upper()
        if (m := RMAX_RE.search(line)) is not None and line.lstrip("# ").startswith("PATH"):
            facts["path_rmax_a"] = parse_float(m.group(1))
        if (m := PATHS_RE.match(line.strip())) is not None:
            facts["paths_used"] = [int(m.group(1)), int(m.group(2))]
        if (m := NORM_RE.search(line)) is not None:
            facts["edge_step_norm"] = parse_float(m.group(1))
    text = "\n".join(header).upper()
    fms = facts["paths_used"] == [0, 0]
    facts["calculation"] = (
        "XANES" if "XANES" in text or fms else "EXAFS" if "(EXAFS)" in text else "unstated"
    )
    return facts


def _table(lines: list[str], start: int, *, ends_with_newline: bool) -> np.ndarray:
    """Rows after the label line as a (n, 6) array; ValueError naming a bad row."""
    rows = [ln.split() for ln in lines[start:] if ln.strip()]
    if len(rows) < 5:
        raise ValueError(
            f"only {len(rows)} data rows follow the 'omega e k mu mu0 chi' line; "
            "the file looks truncated"
        )
    out = []
    for k, row in enumerate(rows):
        if len(row) != len(COLUMNS):
            raise ValueError(
                f"data row {k + 1} has {len(row)} values, 6 (omega e k mu mu0 chi) "
                "were expected; the file looks truncated or its columns shifted"
            )
        try:
            out.append([parse_float(t) for t in row])
        except ValueError:
            raise ValueError(f"data row {k + 1} is not numeric: {' '.join(row)[:60]!r}") from None
    require_complete_last_row(rows, ends_with_newline=ends_with_newline)
    return np.asarray(out, dtype=float)


def _edge_ev(table: np.ndarray) -> float:
    """FEFF's edge energy omega − e (eV); ValueError if it is not the same on every row."""
    e0 = table[:, 0] - table[:, 1]
    if float(np.ptp(e0)) > E0_TOLERANCE_EV:
        k = int(np.argmax(np.abs(e0 - e0[0])))
        raise ValueError(
            f"omega − e must be FEFF's edge energy on every row, but it is "
            f"{e0[0]:.3f} eV on row 1 and {e0[k]:.3f} eV on row {k + 1}; the "
            "columns look shifted or the label line does not match them"
        )
    return float(np.round(np.mean(e0), 3))


@guarded(FORMAT, LABEL)
def parse_feff_xmu(data: bytes, *, filename: str) -> ParsedFile:
    """Parse a FEFF ``xmu.dat`` into a SIMULATED μ(E) (energy = omega, eV; μ edge-normalized).

    Raises ParseError (naming the file) when the label line is missing, a row is ragged,
    non-numeric or cut, omega does not increase, or omega − e is not constant.
    """
    text = decode_text(data)
    lines = text.splitlines()
    label_at = next((i for i, ln in enumerate(lines) if LABEL_RE.match(ln.strip())), None)
    if label_at is None:
        raise fail(FORMAT, f"{LABEL}: no '#  omega    e    k    mu    mu0     chi' label line")
    header = [ln.rstrip() for ln in lines[:label_at] if ln.strip()]
    if any(not ln.lstrip().startswith("#") for ln in header):
        raise fail(FORMAT, f"{LABEL}: a header line before the column labels is not a comment")
    table = _table(lines, label_at + 1, ends_with_newline=text.endswith(("\n", "\r")))
    check_energy(table[:, 0])
    e0_ev = _edge_ev(table)
    facts = _header_facts(header)
    metadata = {
        "simulated": True,
        "simulation_code": "FEFF",
        "simulation_code_version": facts.pop("feff_version"),
        "calculation": facts.pop("calculation"),
        "convoluted": False,
        "structure": {"stated": True, "title": facts["title"], "path_rmax_a": facts["path_rmax_a"]},
        **facts,
        "columns": list(COLUMNS),
        "mu_column": "mu",
        "energy_reference": {
            "stored": "absolute energy in eV (omega column)",
            "e0_ev": e0_ev,
            "e0_source": "omega − e (FEFF's edge)",
        },
        "y_unit": "μ normalized to the edge step (xsedge+50)",
        "header": header,
        "reader": "own FEFF xmu.dat reader",
    }
    numbers = xas_key_numbers(
        table[:, 0], table[:, 3], element=facts["element"], edge=facts["edge"], e0_stated_ev=e0_ev
    )
    numbers.update(element_stated=facts["element"] is not None, simulated=True, convoluted=False)
    name = f"μ(E) SIMULATED (FEFF {metadata['calculation']})"
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="xas",
        series=[mu_series(table[:, 0], table[:, 3], name, "SIMULATED")],
        metadata=metadata,
        key_numbers=numbers,
    )
