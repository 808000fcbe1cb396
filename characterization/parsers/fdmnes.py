"""FDMNES XANES simulation outputs (``<name>_out.dat`` and the convoluted ``<name>_out_conv.dat``).

FDMNES (Y. Joly, Institut Néel) writes a short header and then a two-or-more-column table::

    # FDMNES program, Revision 20th of January 2022
    #    Date = 21 01 2022
    #    Time = 10 h 48 mn 13 s
     20000.000   42  1  1  ...  = E_edge, Z, n_edge, j_edge, Abs_before_edge, ...   (raw output)
    #  20000.0  1.25  15.0  0.0 = E_edge, Gamma_hole, Gamma_max, E_cut            (convoluted)
    #  0.69430   0.0 = Shift                                                      (convoluted)
        Energy    <xanes>
       -25.000  1.1943264E-04

The ``Energy`` column is the photon energy *relative to the edge* E_edge that the header
states (eV); ``<xanes>`` is the absorption cross-section per absorbing atom in Mbarn. What is
stored: **absolute energy in eV = E_edge (the header's value) + ΔE**, with E_edge, the
tabulated edge energy of the same element/edge (xraydb, the tables xraylarch reads) and their
difference in ``metadata["energy_reference"]``. The raw output is the unbroadened
cross-section; ``_conv`` is the same after FDMNES' convolution (core-hole width Gamma_hole,
arctangent broadening up to Gamma_max, Fermi cut E_cut, energy Shift, all eV) — the two are
told apart by the header (never by the file name) and recorded in ``metadata["convoluted"]``.

The absorber is the header's Z (raw output) with the edge whose tabulated energy is nearest
E_edge; the convoluted header has no Z, so the absorber is the one element/edge whose
tabulated energy lies within 1 eV of E_edge, else it is left for a chemist to declare.
Every result is marked ``metadata["simulated"] = True``: the spectra derived from it are
stored with ``source = "simulated"`` and labelled SIMULATED wherever they are shown.

Layout checks (ParseError naming the file otherwise): the first line names FDMNES; a
``= E_edge, …`` line precedes a column-label line starting ``Energy``; every data row is
numeric with one value per label; ΔE strictly increases; the last row is complete.
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

PARSER_NAME = "labdb.fdmnes"
PARSER_VERSION = "1.0.0"
FORMAT = "fdmnes"
LABEL = "FDMNES simulation output"
MAGIC = "# FDMNES"
CODE_RE = re.compile(r"^#\s*FDMNES program,?\s*(.*?)\s*$")
NAMED_VALUES_RE = re.compile(r"^#?\s*(?P<values>[-+0-9.Ee\s]+?)\s*=\s*(?P<names>[A-Za-z_].*)$")
DATE_RE = re.compile(r"Date\s*=\s*(\d{1,2})\s+(\d{1,2})\s+(\d{4})")
TIME_RE = re.compile(r"Time\s*=\s*(\d{1,2})\s*h\s*(\d{1,2})\s*mn\s*(\d{1,2})\s*s")
EDGE_MATCH_EV = 1.0  # an edge energy this close to E_edge names the absorber (convoluted files)
CONVOLUTION_KEYS = {
    "Gamma_hole": "gamma_hole_ev",
    "Gamma_max": "gamma_max_ev",
    "E_cut": "e_cut_ev",
    "Shift": "shift_ev",
}


def looks_like_fdmnes(first_line: str) -> bool:
    """True when the file's first line is FDMNES' banner."""
    return first_line.lstrip().startswith(MAGIC)


def _computed_at(header: list[str]) -> str | None:
    """When FDMNES ran (``Date = DD MM YYYY``, ``Time = h h mn mn s s``; naive, the computer's
    clock) as ISO 8601 — kept apart from ``measured_at``: a simulation has no sample age."""
    text = "\n".join(header[:6])
    date, time = DATE_RE.search(text), TIME_RE.search(text)
    if date is None:
        return None
    day, month, year = (int(g) for g in date.groups())
    stamp_ = f"{year:04d}-{month:02d}-{day:02d}"
    if time is not None:
        stamp_ += "T{:02d}:{:02d}:{:02d}".format(*(int(g) for g in time.groups()))
    return stamp_


def _named_values(header: list[str]) -> dict[str, float]:
    """``{name: value}`` from every ``v1 v2 … = name1, name2, …`` header line (in order)."""
    found: dict[str, float] = {}
    for line in header:
        match = NAMED_VALUES_RE.match(line.strip())
        if not match:
            continue
        values = match["values"].split()
        names = [n.strip() for n in match["names"].split(",") if n.strip()]
        for name, value in zip(names, values):
            found.setdefault(name, parse_float(value))
    return found


def _split(lines: list[str]) -> tuple[list[str], list[str], list[list[str]]]:
    """(header lines, column labels, data rows as tokens); ValueError if the layout differs."""
    label_at = next((i for i, ln in enumerate(lines) if ln.split()[:1] == ["Energy"]), None)
    if label_at is None:
        raise ValueError("no column-label line starting with 'Energy' (the FDMNES table header)")
    header, labels = lines[:label_at], lines[label_at].split()
    if not any("E_edge" in ln and "=" in ln for ln in header):
        raise ValueError("the header has no '… = E_edge, …' line before the column labels")
    if len(labels) < 2:
        raise ValueError(
            "the column-label line names only 'Energy'; a cross-section column "
            "(<xanes>) was expected"
        )
    rows = [ln.split() for ln in lines[label_at + 1 :] if ln.strip()]
    if len(rows) < 5:
        raise ValueError(
            f"only {len(rows)} data rows follow the column labels; the file looks truncated"
        )
    return header, labels, rows


def _table(rows: list[list[str]], labels: list[str], offset: int) -> np.ndarray:
    """The numeric table; ValueError naming the first row with a wrong count or a non-number."""
    out = []
    for k, row in enumerate(rows):
        if len(row) != len(labels):
            raise ValueError(
                f"data row {k + 1} (line {offset + k + 1}) has {len(row)} values "
                f"but the column labels name {len(labels)} ({' '.join(labels)}); "
                "the file looks truncated or its columns shifted"
            )
        try:
            out.append([parse_float(t) for t in row])
        except ValueError:
            raise ValueError(
                f"data row {k + 1} (line {offset + k + 1}) is not numeric: {' '.join(row)[:60]!r}"
            ) from None
    return np.asarray(out, dtype=float)


def _tabulated_edges(z: int | None) -> list[tuple[str, str, float]]:
    """``[(element, edge, energy_ev)]`` from xraydb: all edges of ``z``, or of every element."""
    import xraydb  # the tables xraylarch reads; imported lazily (only FDMNES files need them)

    numbers = [z] if z else range(1, 99)
    out = []
    for number in numbers:
        symbol = element_from_atomic_number(number)
        if symbol is None:
            continue
        out += [
            (symbol, name, float(e.energy))
            for name, e in xraydb.xray_edges(symbol).items()
            if name in ("K", "L1", "L2", "L3", "M1", "M2", "M3", "M4", "M5")
        ]
    return out


def _absorber(values: dict[str, float]) -> dict:
    """Element, edge and the tabulated edge energy, or ``element: None`` when not decidable."""
    e_edge = values["E_edge"]
    z = int(values["Z"]) if "Z" in values else None
    edges = _tabulated_edges(z)
    if z is not None and edges:
        element, edge, tabulated = min(edges, key=lambda x: abs(x[2] - e_edge))
        source = "header Z; edge with the tabulated energy nearest E_edge (xraydb)"
    else:
        near = [x for x in edges if abs(x[2] - e_edge) <= EDGE_MATCH_EV]
        if len(near) != 1:
            return {
                "element": None,
                "edge": None,
                "tabulated_edge_ev": None,
                "absorber_source": f"not stated: {len(near)} tabulated edges lie within "
                f"{EDGE_MATCH_EV:g} eV of E_edge; declare the absorber",
            }
        element, edge, tabulated = near[0]
        source = f"the one tabulated edge within {EDGE_MATCH_EV:g} eV of E_edge (xraydb)"
    return {
        "element": element,
        "edge": edge,
        "tabulated_edge_ev": tabulated,
        "absorber_source": source,
    }


def _metadata(
    header: list[str], labels: list[str], values: dict[str, float], absorber: dict
) -> dict:
    """Code, convolution, energy reference and the whole header (JSON-able)."""
    banner = CODE_RE.match(header[0].strip())
    convoluted = "Gamma_hole" in values
    convolution = {key: values[name] for name, key in CONVOLUTION_KEYS.items() if name in values}
    e_edge = values["E_edge"]
    tabulated = absorber["tabulated_edge_ev"]
    return {
        "simulated": True,
        "simulation_code": "FDMNES",
        "simulation_code_version": banner.group(1) if banner else "",
        "computed_at": _computed_at(header),
        "output_kind": "convoluted" if convoluted else "raw (unconvoluted cross-section)",
        "convoluted": convoluted,
        "convolution": convolution if convoluted else None,
        "energy_reference": {
            "stored": "absolute energy in eV = E_edge + ΔE (the file's Energy column is ΔE)",
            "e_edge_ev": e_edge,
            "e_edge_source": "FDMNES header (E_edge)",
            "tabulated_edge_ev": tabulated,
            "tabulated_source": "xraydb edge table",
            "header_minus_tabulated_ev": None if tabulated is None else e_edge - tabulated,
        },
        "absorber_source": absorber["absorber_source"],
        "fermi_level_ev": values.get("E_Fermi"),
        "structure": {
            "stated": False,
            "note": "FDMNES outputs do not state the cluster radius "
            "or structure; record them on the model sample",
        },
        "header_values": values,
        "columns": labels,
        "mu_column": labels[1],
        "y_unit": "Mbarn (cross-section per absorbing atom)",
        "header": [ln.rstrip() for ln in header],
        "reader": "own FDMNES reader",
    }


@guarded(FORMAT, LABEL)
def parse_fdmnes(data: bytes, *, filename: str) -> ParsedFile:
    """Parse an FDMNES ``_out.dat`` / ``_out_conv.dat`` into a SIMULATED μ(E) (energy in eV).

    Energies are stored absolute (E_edge from the header + ΔE, eV); μ is the file's first
    cross-section column (``<xanes>``, Mbarn per absorbing atom). ``e0_ev`` is E_edge.
    Raises ParseError (naming the file) when the banner, the ``E_edge`` line or the
    ``Energy`` label line is missing, a row is ragged, non-numeric or cut, or ΔE does not
    increase.
    """
    text = decode_text(data)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not looks_like_fdmnes(lines[0]):
        raise fail(FORMAT, f"{LABEL}: the first line must be FDMNES' banner ('# FDMNES program')")
    header, labels, rows = _split(lines)
    require_complete_last_row(rows, ends_with_newline=text.endswith(("\n", "\r")))
    table = _table(rows, labels, len(header) + 1)
    values = _named_values(header)
    delta_ev = table[:, 0]
    energy_ev = values["E_edge"] + delta_ev
    try:
        check_energy(energy_ev)
        if np.any(np.diff(delta_ev) <= 0):
            raise ValueError("ΔE must increase strictly from row to row")
    except ValueError as exc:
        raise fail(
            FORMAT, f"{LABEL}: {exc}; the Energy column looks shifted or the header flipped"
        ) from None
    absorber = _absorber(values)
    metadata = _metadata(header, labels, values, absorber)
    mu = table[:, 1]
    numbers = xas_key_numbers(
        energy_ev,
        mu,
        element=absorber["element"],
        edge=absorber["edge"],
        e0_stated_ev=values["E_edge"],
    )
    numbers.update(
        element_stated=absorber["element"] is not None,
        simulated=True,
        convoluted=metadata["convoluted"],
        delta_e_min_ev=float(delta_ev[0]),
        delta_e_max_ev=float(delta_ev[-1]),
    )
    kind = "convoluted" if metadata["convoluted"] else "raw"
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="xas",
        series=[mu_series(energy_ev, mu, f"μ(E) SIMULATED (FDMNES, {kind})", "SIMULATED")],
        metadata=metadata,
        key_numbers=numbers,
    )
