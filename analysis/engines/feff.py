"""FEFF engine: structure → ``feff.inp`` → FEFF scattering paths, run offline as subprocesses.

Structures come from

* a CIF text (an upload, or larixite's *bundled* AMCSD database via :func:`amcsd_cif` — never a
  download), converted with ``larixite.cif2feffinp``;
* a zinc-blende or wurtzite lattice from lattice constant(s) and two elements
  (:class:`LatticeStructure`; the atom list is written here, no pymatgen needed).

FEFF runs as the compiled programs shipped in the xraylarch wheel (``feff6l`` or the six
``feff8l_*`` modules), each a subprocess with ``cwd=`` a fresh temporary folder: larch's
in-process wrappers call ``os.chdir`` (not thread-safe) and FEFF exits with status 0 even after
``Fatal Error``, so success is judged by the output files and by scanning the log.

Results can be cached by :func:`feff_cache_key` in a :class:`DirectoryFeffCache`; a cache hit
starts no FEFF process, which :func:`feff_run_counts` makes observable.

Units: distances and lattice constants in Å. Errors: :class:`EngineError`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from labdb.lib.errors import EngineError

FEFF_VERSIONS = (6, 8)
FEFF8_MODULES = ("rdinp", "pot", "xsph", "pathfinder", "genfmt", "ff2x")
# FEFF hole index per edge (HOLE card of Feff6; EDGE card of Feff8 takes the name).
EDGE_HOLES = {"K": 1, "L1": 2, "L2": 3, "L3": 4}
# Feff6 cards that may pass through unchanged when converting a Feff8 input.
FEFF6_CARDS = {"TITLE", "HOLE", "CONTROL", "PRINT", "RMAX", "NLEG", "CRITERIA", "POTENTIALS",
               "ATOMS", "END", "DEBYE", "CORRECTIONS", "EXCHANGE", "FOLP", "ION", "NOGEOM",
               "OVERLAP", "PCRITERIA", "RMULTIPLIER", "SIG2", "SS", "NSTAR", "IORDER", "NEMAX",
               "JUMPRM", "AFOLP", "POLARIZATION", "ELLIPTICITY"}
_LOG_FAILURE = re.compile(r"fatal|error|failed to|cannot|could not|stop\b", re.IGNORECASE)
_ELEMENTS = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As "
    "Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd "
    "Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U").split()
ATOMIC_NUMBER = {sym: i + 1 for i, sym in enumerate(_ELEMENTS)}

_counter_lock = threading.Lock()
_counts = {"calculations": 0, "subprocesses": 0}


def feff_run_counts() -> dict[str, int]:
    """How many FEFF calculations and FEFF subprocesses this process has started (monotonic)."""
    with _counter_lock:
        return dict(_counts)


def _count(key: str) -> None:
    with _counter_lock:
        _counts[key] += 1


# --------------------------------------------------------------------------- data classes
@dataclass(frozen=True)
class FeffPathFile:
    """One ``feffNNNN.dat`` path file, as text plus its parsed header.

    ``geometry`` lists the path's atoms starting with the absorber:
    ``[{"symbol", "z", "ipot", "x_a", "y_a", "z_a"}, ...]``; ``reff_a`` is half the path
    length (Å), ``degen`` the FEFF degeneracy, ``nleg`` the number of legs.
    """

    file_id: str
    text: str
    reff_a: float
    degen: float
    nleg: int
    absorber: str
    scatterers: tuple[str, ...]
    geometry: tuple[dict[str, Any], ...]

    @property
    def label(self) -> str:
        """e.g. ``Cd-S 2.5193 (4)``."""
        chain = "-".join((self.absorber, *self.scatterers))
        return f"{chain} {self.reff_a:.4f} ({self.degen:g})"


@dataclass(frozen=True)
class FeffRun:
    """Outcome of one FEFF calculation (or a cache hit: ``from_cache=True``)."""

    feff_version: int
    feff_inp: str
    paths: tuple[FeffPathFile, ...]
    files_dat: str
    log: str
    elapsed_s: float
    cache_key: str | None = None
    from_cache: bool = False

    def path_files(self) -> dict[str, str]:
        """``{file_id: text}`` — the form :func:`analysis.engines.fitting.run_fit` accepts."""
        return {p.file_id: p.text for p in self.paths}

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["paths"] = [asdict(p) for p in self.paths]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeffRun:
        paths = tuple(
            FeffPathFile(**{**p, "scatterers": tuple(p["scatterers"]),
                            "geometry": tuple(p["geometry"])}) for p in data["paths"])
        return cls(**{**data, "paths": paths})


@dataclass(frozen=True)
class LatticeStructure:
    """A binary zinc-blende or wurtzite crystal built from lattice constants (Å).

    ``cation`` sits at the origin sites, ``anion`` on the tetrahedral sites. For wurtzite ``c_a``
    is required and ``u`` is the internal parameter (3/8 for ideal tetrahedra).
    """

    kind: Literal["zincblende", "wurtzite"]
    a_a: float
    cation: str
    anion: str
    c_a: float | None = None
    u: float | None = None

    def canonical_text(self) -> str:
        """Canonical JSON used as the structure text of the cache key."""
        return json.dumps({"generator": "labdb-lattice-1", **asdict(self)}, sort_keys=True)


# --------------------------------------------------------------------------- structures
def _check_element(symbol: str, field_name: str) -> str:
    if symbol not in ATOMIC_NUMBER:
        raise EngineError(f"{field_name} {symbol!r} is not an element symbol", field=field_name)
    return symbol


def _check_edge(edge: str, feff_version: int) -> str:
    if feff_version not in FEFF_VERSIONS:
        raise EngineError(f"feff_version must be 6 or 8, got {feff_version!r}",
                          field="feff_version")
    if edge not in EDGE_HOLES:
        raise EngineError(f"edge must be one of {', '.join(EDGE_HOLES)}, got {edge!r}",
                          field="edge")
    return edge


def _check_radius(cluster_radius_a: float) -> float:
    if not (isinstance(cluster_radius_a, (int, float)) and 2.0 <= cluster_radius_a <= 12.0):
        raise EngineError(f"cluster_radius_a must be between 2 and 12 Å, got {cluster_radius_a!r}",
                          field="cluster_radius_a")
    return float(cluster_radius_a)


def lattice_atoms(structure: LatticeStructure, absorber: str,
                  cluster_radius_a: float) -> list[tuple[str, float, float, float]]:
    """Atoms ``(symbol, x, y, z)`` in Å within ``cluster_radius_a`` of an ``absorber`` site,
    absorber first, then sorted by distance (ties broken by coordinates, so output is stable).
    """
    s = structure
    _check_element(s.cation, "cation")
    _check_element(s.anion, "anion")
    if absorber not in (s.cation, s.anion):
        raise EngineError(f"absorber {absorber!r} is not in the lattice ({s.cation}, {s.anion})",
                          field="absorber")
    if not (isinstance(s.a_a, (int, float)) and 2.0 < s.a_a < 10.0):
        raise EngineError(f"lattice constant a_a must be 2–10 Å, got {s.a_a!r}", field="a_a")
    if s.kind == "zincblende":
        vectors = ((s.a_a, 0.0, 0.0), (0.0, s.a_a, 0.0), (0.0, 0.0, s.a_a))
        fcc = ((0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0))
        basis = [(s.cation, f) for f in fcc] + [
            (s.anion, (f[0] + .25, f[1] + .25, f[2] + .25)) for f in fcc]
    elif s.kind == "wurtzite":
        if not (isinstance(s.c_a, (int, float)) and 3.0 < s.c_a < 15.0):
            raise EngineError("wurtzite needs c_a between 3 and 15 Å", field="c_a")
        u = 0.375 if s.u is None else s.u
        if not 0.3 < u < 0.45:
            raise EngineError(f"wurtzite u must be between 0.30 and 0.45, got {u}", field="u")
        vectors = ((s.a_a, 0.0, 0.0), (-s.a_a / 2, s.a_a * math.sqrt(3) / 2, 0.0),
                   (0.0, 0.0, s.c_a))
        basis = [(s.cation, (1 / 3, 2 / 3, 0.0)), (s.cation, (2 / 3, 1 / 3, 0.5)),
                 (s.anion, (1 / 3, 2 / 3, u)), (s.anion, (2 / 3, 1 / 3, 0.5 + u))]
    else:
        raise EngineError(f"lattice kind must be 'zincblende' or 'wurtzite', got {s.kind!r}",
                          field="kind")

    def cart(f: tuple[float, float, float]) -> tuple[float, float, float]:
        return tuple(sum(f[i] * vectors[i][j] for i in range(3)) for j in range(3))  # type: ignore

    origin = cart(next(f for sym, f in basis if sym == absorber))
    reach = [int(math.ceil(cluster_radius_a / math.sqrt(sum(c * c for c in v)))) + 1
             for v in vectors]
    atoms = []
    for n in itertools.product(*(range(-r, r + 1) for r in reach)):
        for sym, f in basis:
            x, y, z = (c - o for c, o in zip(cart((f[0] + n[0], f[1] + n[1], f[2] + n[2])),
                                             origin))
            d = math.sqrt(x * x + y * y + z * z)
            if d <= cluster_radius_a + 1e-6:
                atoms.append((round(d, 6), round(x, 6), round(y, 6), round(z, 6), sym))
    atoms.sort()
    return [(sym, x, y, z) for _, x, y, z, sym in atoms]


def feff_inp_from_atoms(atoms: list[tuple[str, float, float, float]], *, edge: str,
                        cluster_radius_a: float, feff_version: int, title: str) -> str:
    """Write a feff.inp (Feff6 or Feff8 cards) for an atom list whose first atom is the absorber.

    Potentials: 0 = absorber, then one per element in order of first appearance (the absorber's
    element again for the other atoms of that kind).
    """
    _check_edge(edge, feff_version)
    ipots: dict[str, int] = {}
    for sym, *_ in atoms[1:]:
        ipots.setdefault(sym, len(ipots) + 1)
    absorber = atoms[0][0]
    title = re.sub(r"[^ -~]", "?", title)[:70]
    lines = [f"TITLE {title}"]
    if feff_version == 6:
        lines += [f"HOLE      {EDGE_HOLES[edge]}   1.0", "CONTROL   1 1 1 1", "PRINT     1 0 0 0",
                  f"RMAX      {cluster_radius_a:.3f}", "NLEG      4", "", "POTENTIALS",
                  f"    0  {ATOMIC_NUMBER[absorber]:3d}  {absorber}"]
        lines += [f"    {i}  {ATOMIC_NUMBER[s]:3d}  {s}" for s, i in ipots.items()]
    else:
        lines += [f"EDGE      {edge}", "S02       1.0", "CONTROL   1 1 1 1 1 1",
                  "PRINT     1 0 0 0 0 3", "EXCHANGE  0 0.0 0.0",
                  f"RPATH     {cluster_radius_a:.3f}", "EXAFS     20", "NLEG      4", "",
                  "POTENTIALS",
                  f"    0  {ATOMIC_NUMBER[absorber]:3d}  {absorber}  -1  -1  0.01"]
        lines += [f"    {i}  {ATOMIC_NUMBER[s]:3d}  {s}  -1  -1  1" for s, i in ipots.items()]
    lines += ["", "ATOMS"]
    for n, (sym, x, y, z) in enumerate(atoms):
        ipot = 0 if n == 0 else ipots[sym]
        dist = math.sqrt(x * x + y * y + z * z)
        lines.append(f"  {x:10.5f} {y:10.5f} {z:10.5f}  {ipot:d}  {sym:<3s} {dist:9.5f}")
    lines += ["END", ""]
    return "\n".join(lines)


def feff_inp_from_lattice(structure: LatticeStructure, *, absorber: str, edge: str = "K",
                          cluster_radius_a: float = 6.0, feff_version: int = 6) -> str:
    """feff.inp for a zinc-blende/wurtzite lattice (atom list written here, no CIF needed)."""
    radius = _check_radius(cluster_radius_a)
    atoms = lattice_atoms(structure, absorber, radius)
    s = structure
    cell = f"a={s.a_a}" + (f" c={s.c_a} u={s.u if s.u is not None else 0.375}"
                           if s.kind == "wurtzite" else "")
    return feff_inp_from_atoms(atoms, edge=edge, cluster_radius_a=radius,
                               feff_version=feff_version,
                               title=f"{s.cation}{s.anion} {s.kind} {cell}, {absorber} {edge}")


def _check_cif_text(cif_text: str) -> None:
    if not isinstance(cif_text, str) or "_cell_length_a" not in cif_text or \
            "_atom_site" not in cif_text:
        raise EngineError("not a CIF: the text has no _cell_length_a or _atom_site entries",
                          field="cif_text")


def feff_inp_from_cif(cif_text: str, *, absorber: str, edge: str = "K",
                      cluster_radius_a: float = 6.0, feff_version: int = 6,
                      absorber_site: int | None = None) -> str:
    """feff.inp from CIF text with ``larixite.cif2feffinp`` (Feff8 cards, converted for Feff6).

    Partial occupancies are resolved with a fixed random seed so the input is reproducible.
    """
    _check_cif_text(cif_text)
    _check_element(absorber, "absorber")
    _check_edge(edge, feff_version)
    radius = _check_radius(cluster_radius_a)
    try:
        from larixite import cif2feffinp
        text = cif2feffinp(cif_text, absorber=absorber, edge=edge, cluster_size=radius,
                           absorber_site=absorber_site, version8=True, rng_seed=0)
    except EngineError:
        raise
    except Exception as exc:  # pymatgen/larixite raise many types on bad CIFs
        raise EngineError(f"could not build a FEFF cluster from the CIF: {exc}",
                          field="cif_text", detail=f"{type(exc).__name__}: {exc}") from exc
    # larixite stamps the generation time into a comment; drop it so identical requests give
    # identical feff.inp text.
    text = "\n".join(ln for ln in text.splitlines() if "input file generated" not in ln) + "\n"
    return feff8_to_feff6(text) if feff_version == 6 else text


@dataclass(frozen=True)
class CifEntry:
    """A structure from the bundled AMCSD database."""

    amcsd_id: int
    mineral: str
    formula: str
    a_a: float
    c_a: float
    cif_text: str


def amcsd_cif(elements: list[str], *, mineral: str | None = None,
              amcsd_id: int | None = None) -> CifEntry:
    """Pick a CIF from larixite's bundled (trimmed) AMCSD database — never downloads.

    Args:
        elements: exactly the elements of the compound, e.g. ``["Cd", "S"]``.
        mineral: optional mineral name filter (case-insensitive, e.g. ``"greenockite"``).
        amcsd_id: optional explicit AMCSD id (must contain ``elements``).

    Returns the first match in database order. Raises EngineError when nothing matches.
    """
    for sym in elements:
        _check_element(sym, "elements")
    try:
        from larixite import get_amcsd
        db = get_amcsd(download_full=False)
        found = db.find_cifs(contains_elements=list(elements), strict_contains=True)
    except Exception as exc:
        raise EngineError("the bundled AMCSD database could not be read", field="elements",
                          detail=f"{type(exc).__name__}: {exc}") from exc
    for entry in found:
        try:
            name = str(entry.get_mineralname())
        except Exception:  # older larixite: mineral is a (id, name) row
            name = str(entry.mineral[1])
        if amcsd_id is not None and int(entry.ams_id) != amcsd_id:
            continue
        if mineral is not None and name.lower() != mineral.lower():
            continue
        return CifEntry(amcsd_id=int(entry.ams_id), mineral=name, formula=str(entry.formula),
                        a_a=float(entry.a), c_a=float(entry.c), cif_text=entry.ciftext)
    raise EngineError(
        f"no bundled AMCSD structure with elements {'-'.join(elements)}"
        + (f", mineral {mineral!r}" if mineral else "") + (f", id {amcsd_id}" if amcsd_id else ""),
        field="elements")


def feff8_to_feff6(feff8_inp: str) -> str:
    """Convert Feff8 cards to Feff6 (larixite 2026.1.0 writes Feff8 even with version8=False).

    EDGE x → HOLE n s02, CONTROL/PRINT → 4 fields, RPATH → RMAX, EXAFS and S02 dropped,
    POTENTIALS rows → ``ipot z tag``, ATOMS rows → ``x y z ipot tag``. Other Feff8-only cards
    raise EngineError (they would change the physics silently).
    """
    out: list[str] = []
    section = None
    s02 = "1.0"
    edge_line_index = None
    for raw in feff8_inp.splitlines():
        line = raw.split("*", 1)[0].strip() if not raw.lstrip().startswith("*") else ""
        if not line:
            out.append(raw if raw.lstrip().startswith("*") else "")
            continue
        words = line.split()
        card = words[0].upper()
        if section in ("POTENTIALS", "ATOMS") and re.match(r"^[-+\d.]", words[0]):
            keep = 3 if section == "POTENTIALS" else 5
            out.append("  " + "  ".join(words[:keep]))
            continue
        section = card if card in ("POTENTIALS", "ATOMS") else None
        if card == "EDGE":
            edge = words[1].upper() if len(words) > 1 else "K"
            if edge not in EDGE_HOLES:
                raise EngineError(f"Feff6 supports K, L1, L2, L3 edges, not {edge}", field="edge")
            edge_line_index = len(out)
            out.append(f"HOLE      {EDGE_HOLES[edge]}")
        elif card == "S02":
            s02 = words[1] if len(words) > 1 else "1.0"
        elif card in ("CONTROL", "PRINT"):
            vals = words[1:]
            if len(vals) == 6:
                vals = [vals[0], vals[3], vals[4], vals[5]]
            if card == "PRINT":
                vals = [v if v in "01" else "0" for v in vals]
            out.append(f"{card:<9s} " + " ".join(vals[:4]))
        elif card == "RPATH":
            out.append("RMAX      " + " ".join(words[1:2]))
        elif card in ("EXAFS",):
            continue
        elif card in FEFF6_CARDS:
            out.append(line)
        else:
            raise EngineError(f"Feff8 card {card} has no Feff6 equivalent; use feff_version=8",
                              field="feff_inp")
    if edge_line_index is not None:
        out[edge_line_index] += f"   {s02}"
    text = "\n".join(out)
    if not re.search(r"^\s*END\b", text, re.MULTILINE | re.IGNORECASE):
        text += "\nEND"
    return text + "\n"


# --------------------------------------------------------------------------- running FEFF
def feff_executable(name: str) -> Path:
    """Path of a FEFF program shipped in the xraylarch wheel (found without importing larch)."""
    spec = importlib.util.find_spec("larch")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("xraylarch is not installed; FEFF is unavailable", field="feff_version")
    plat = {"linux": "linux64", "darwin": "darwin64", "win32": "win64"}.get(sys.platform)
    exe = Path(list(spec.submodule_search_locations)[0], "bin", plat or "none",
               name + (".exe" if sys.platform == "win32" else ""))
    if not (exe.exists() and os.access(exe, os.X_OK)):
        raise EngineError(f"FEFF program {name} is not available for this platform "
                          f"({sys.platform}/{os.uname().machine if hasattr(os, 'uname') else ''})",
                          field="feff_version")
    return exe


def _program_list(feff_version: int) -> list[Path]:
    if feff_version == 6:
        return [feff_executable("feff6l")]
    return [feff_executable(f"feff8l_{m}") for m in FEFF8_MODULES]


def run_feff(feff_inp: str, *, feff_version: int = 6, timeout_s: float = 300.0) -> FeffRun:
    """Run FEFF on ``feff_inp`` in a private temporary folder and collect the path files.

    Args:
        feff_inp: full text of feff.inp (Feff6 cards for version 6, Feff8 cards for 8).
        feff_version: 6 (``feff6l``) or 8 (``feff8l_rdinp … ff2x``).
        timeout_s: wall-time limit for the whole calculation.

    Raises:
        EngineError: FEFF reported an error (its exit status is 0 even then), produced no
            ``files.dat``/``feff0001.dat``, timed out, or could not be started.
    """
    if feff_version not in FEFF_VERSIONS:
        raise EngineError(f"feff_version must be 6 or 8, got {feff_version!r}",
                          field="feff_version")
    if not isinstance(feff_inp, str) or not feff_inp.strip():
        raise EngineError("feff.inp is empty", field="feff_inp")
    programs = _program_list(feff_version)
    _count("calculations")
    t0 = time.perf_counter()
    logs: list[str] = []
    with tempfile.TemporaryDirectory(prefix="labdb-feff-") as tmp:
        folder = Path(tmp)
        (folder / "feff.inp").write_text(feff_inp)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        for exe in programs:
            remaining = timeout_s - (time.perf_counter() - t0)
            _count("subprocesses")
            try:
                proc = subprocess.run([str(exe)], cwd=folder, capture_output=True, text=True,
                                      errors="replace", timeout=max(remaining, 1.0), env=env,
                                      stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as exc:
                raise EngineError(f"FEFF ({exe.name}) did not finish within {timeout_s:g} s",
                                  field="feff_inp") from exc
            except OSError as exc:
                raise EngineError(f"FEFF program {exe.name} could not be started: {exc}",
                                  field="feff_version") from exc
            log = proc.stdout + proc.stderr
            logs.append(f"### {exe.name} (exit status {proc.returncode})\n{log}")
            err_file = folder / "feff.err"
            problem = _log_problem(log) or (
                _log_problem(err_file.read_text(errors="replace")) if err_file.exists() else None)
            if proc.returncode != 0 or problem:
                raise EngineError(
                    f"FEFF failed in {exe.name}: {problem or f'exit status {proc.returncode}'}",
                    field="feff_inp", detail="\n".join(logs)[-4000:])
        files_dat = folder / "files.dat"
        dat_files = sorted(folder.glob("feff[0-9][0-9][0-9][0-9].dat"))
        if not files_dat.exists() or not (folder / "feff0001.dat").exists():
            raise EngineError("FEFF finished without writing files.dat/feff0001.dat (no paths); "
                              "check the ATOMS and POTENTIALS cards", field="feff_inp",
                              detail="\n".join(logs)[-4000:])
        paths = tuple(parse_feff_dat(p.read_text(errors="replace"), file_id=p.stem)
                      for p in dat_files)
        files_text = files_dat.read_text(errors="replace")
    return FeffRun(feff_version=feff_version, feff_inp=feff_inp, paths=paths,
                   files_dat=files_text, log="\n".join(logs),
                   elapsed_s=time.perf_counter() - t0)


def _log_problem(log: str) -> str | None:
    for line in log.splitlines():
        if _LOG_FAILURE.search(line):
            return line.strip()
    return None


def parse_feff_dat(text: str, *, file_id: str) -> FeffPathFile:
    """Parse the header of a ``feffNNNN.dat`` text (nleg, degeneracy, reff, geometry).

    Raises EngineError if the text is not a FEFF path file.
    """
    # old FEFF versions prefix header lines with '#'
    lines = [ln.strip().lstrip("#").strip() for ln in text.splitlines()]
    try:
        dash = next(i for i, ln in enumerate(lines) if ln.startswith("-----"))
        nleg_s, deg_s, reff_s = lines[dash + 1].split()[:3]
        nleg = int(nleg_s)
        geometry: list[dict[str, Any]] = []
        for ln in lines[dash + 3: dash + 3 + nleg]:
            w = ln.split()
            z = int(w[4])
            sym = w[5] if len(w) > 5 and w[5] in ATOMIC_NUMBER else _ELEMENTS[z - 1]
            geometry.append({"symbol": sym, "z": z, "ipot": int(w[3]), "x_a": float(w[0]),
                             "y_a": float(w[1]), "z_a": float(w[2])})
        if len(geometry) != nleg or not any(
                ln.startswith("k") and "real[p]" in ln for ln in lines):
            raise ValueError("incomplete path block")
    except (StopIteration, ValueError, IndexError) as exc:
        raise EngineError(f"path file {file_id!r} is not a FEFF feffNNNN.dat file",
                          field="path_files", detail=str(exc)) from exc
    return FeffPathFile(file_id=file_id, text=text, reff_a=float(reff_s), degen=float(deg_s),
                        nleg=nleg, absorber=geometry[0]["symbol"],
                        scatterers=tuple(g["symbol"] for g in geometry[1:]),
                        geometry=tuple(geometry))


_FILES_DAT_ROW = re.compile(
    r"^\s*(feff\d{4}\.dat)\s+([-+\d.Ee]+)\s+([-+\d.Ee]+)\s+([-+\d.Ee]+)\s+(\d+)\s+([-+\d.Ee]+)",
    re.IGNORECASE)
_SHELL = re.compile(r"\b(K|L1|L2|L3)\s+shell\b")
_FEFF_VERSION = re.compile(r"\bFeff\s*(?:XX\s*)?(\d)", re.IGNORECASE)


def parse_files_dat(text: str) -> dict[str, dict[str, float]]:
    """FEFF's ``files.dat`` path list → ``{"feff0001.dat": {"sig2_a2", "amplitude_ratio_pct",
    "degen", "nleg", "reff_a"}}`` (the amplitude ratio is FEFF's, in % of the largest path).

    Feff6 and Feff8 write the same table. Raises EngineError when no path row is found.
    """
    rows = {}
    for line in (text or "").splitlines():
        m = _FILES_DAT_ROW.match(line)
        if m:
            rows[m.group(1).lower()] = {
                "sig2_a2": float(m.group(2)), "amplitude_ratio_pct": float(m.group(3)),
                "degen": float(m.group(4)), "nleg": int(m.group(5)), "reff_a": float(m.group(6))}
    if not rows:
        raise EngineError("files.dat lists no path (expected rows 'feffNNNN.dat sig2 amp ratio "
                          "deg nlegs r effective')", field="files.dat")
    return rows


def feff_header_facts(text: str) -> dict[str, str | None]:
    """Edge (``K``, ``L1``…) and FEFF major version (``"6"``, ``"8"``) from the header of a
    ``feffNNNN.dat`` or ``files.dat`` text; None where the header does not say."""
    head = "\n".join(text.splitlines()[:12])
    edge, version = _SHELL.search(head), _FEFF_VERSION.search(head)
    return {"edge": edge.group(1) if edge else None,
            "feff_version": version.group(1) if version else None}


# --------------------------------------------------------------------------- caching
def feff_cache_key(structure_text: str, absorber: str, edge: str, cluster_radius_a: float,
                   feff_version: int) -> str:
    """sha256 (hex) of the canonical JSON of everything that determines a FEFF calculation.

    ``structure_text`` is the CIF text (line endings normalized, surrounding blanks stripped)
    or :meth:`LatticeStructure.canonical_text`.
    """
    canonical = json.dumps(
        {"structure": "\n".join(ln.rstrip() for ln in structure_text.strip().splitlines()),
         "absorber": absorber, "edge": edge, "cluster_radius_a": round(float(cluster_radius_a), 6),
         "feff_version": int(feff_version)},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class FeffCache(Protocol):
    """Storage of finished FEFF runs keyed by :func:`feff_cache_key`."""

    def get(self, key: str) -> FeffRun | None: ...

    def put(self, key: str, run: FeffRun) -> None: ...


@dataclass
class DirectoryFeffCache:
    """FEFF results as ``<directory>/<key[:2]>/<key>.json`` (written atomically)."""

    directory: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)

    def _file(self, key: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", key):
            raise EngineError("FEFF cache keys are sha256 hex digests", field="cache_key")
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> FeffRun | None:
        path = self._file(key)
        if not path.exists():
            return None
        try:
            run = FeffRun.from_json(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError):
            return None  # a damaged entry is a miss; the next put overwrites it
        return FeffRun(**{**run.__dict__, "from_cache": True, "cache_key": key})

    def put(self, key: str, run: FeffRun) -> None:
        path = self._file(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, tempfile.NamedTemporaryFile(
                "w", dir=path.parent, suffix=".tmp", delete=False) as fh:
            json.dump(run.to_json(), fh)
            tmp_name = fh.name
        os.replace(tmp_name, path)


def compute_feff_paths(structure: str | LatticeStructure, *, absorber: str, edge: str = "K",
                       cluster_radius_a: float = 6.0, feff_version: int = 6,
                       cache: FeffCache | None = None, timeout_s: float = 300.0) -> FeffRun:
    """Structure (CIF text or :class:`LatticeStructure`) → FEFF paths, through ``cache``.

    A cache hit returns the stored run (``from_cache=True``) without starting FEFF.
    """
    _check_element(absorber, "absorber")
    _check_edge(edge, feff_version)
    radius = _check_radius(cluster_radius_a)
    if isinstance(structure, LatticeStructure):
        structure_text = structure.canonical_text()
    else:
        _check_cif_text(structure)
        structure_text = structure
    key = feff_cache_key(structure_text, absorber, edge, radius, feff_version)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    if isinstance(structure, LatticeStructure):
        inp = feff_inp_from_lattice(structure, absorber=absorber, edge=edge,
                                    cluster_radius_a=radius, feff_version=feff_version)
    else:
        inp = feff_inp_from_cif(structure, absorber=absorber, edge=edge,
                                cluster_radius_a=radius, feff_version=feff_version)
    run = run_feff(inp, feff_version=feff_version, timeout_s=timeout_s)
    run = FeffRun(**{**run.__dict__, "cache_key": key})
    if cache is not None:
        cache.put(key, run)
    return run
