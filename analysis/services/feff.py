"""FEFF calculations as stored records: compute (bounded, cached), upload path files, reference.

A ``FeffCalculation`` is either computed by labdb from a structure (``source`` "computed"; the
row is also the FEFF cache of fit runs, keyed by ``feff_cache_key``) or made of FEFF output
files uploaded once (``source`` "uploaded"; keyed by the sha256 of every file). Fit models
reference one with ``"feff": {"calculation": <id>}``.

Bounds for a FEFF run inside a web request (``compute_feff_calculation``): cluster radius at
most ``REQUEST_MAX_RADIUS_A`` (8 Å), at most ``REQUEST_MAX_ATOMS`` (400) atoms in the cluster,
FEFF stopped after ``REQUEST_TIMEOUT_S`` (120 s). Fit runs (background jobs) keep the engine's
own limits (2–12 Å).

Units: distances in Å, times in s. Errors: ``DomainError`` naming the field or the file.
"""

from __future__ import annotations

import hashlib
import json
import re

from django.db import transaction

from analysis.engines import feff as feff_engine
from analysis.enums import FeffSource, StructureSource
from analysis.models import FeffCalculation, FitRun
from labdb.lib.errors import DomainError, EngineError

__all__ = [
    "REQUEST_MAX_ATOMS",
    "REQUEST_MAX_RADIUS_A",
    "DbFeffCache",
    "calculation_path_rows",
    "calculation_text_file",
    "compute_feff_calculation",
    "delete_feff_calculation",
    "feff_paths_for",
    "structure_from_spec",
    "upload_feff_files",
]

REQUEST_MAX_RADIUS_A = 8.0
REQUEST_MAX_ATOMS = 400
REQUEST_TIMEOUT_S = 120.0
MAX_UPLOAD_FILES = 200
MAX_UPLOAD_BYTES = 2_000_000


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical_hash(data) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --- path rows -----------------------------------------------------------------------------


def path_rows(run: feff_engine.FeffRun) -> list[dict]:
    """One row per path file of ``run``: name (``feff0001.dat``), index, nleg, reff_a, degen,
    scatterers (atoms along the path, absorber first: ``Zn-Se``), FEFF's amplitude ratio (%)
    from files.dat (None when there is no files.dat), the file's sha256 and the label."""
    try:
        listed = feff_engine.parse_files_dat(run.files_dat) if run.files_dat else {}
    except EngineError:
        listed = {}
    rows = []
    for path in sorted(run.paths, key=lambda p: p.file_id):
        name = f"{path.file_id}.dat"
        digits = re.sub(r"\D", "", path.file_id)
        rows.append(
            {
                "name": name,
                "index": int(digits) if digits else None,
                "nleg": path.nleg,
                "reff_a": path.reff_a,
                "degen": path.degen,
                "scatterers": "-".join((path.absorber, *path.scatterers)),
                "amplitude_ratio_pct": (listed.get(name.lower()) or {}).get("amplitude_ratio_pct"),
                "sha256": _sha256(path.text),
                "geometry": path.label,
            }
        )
    return rows


def calculation_path_rows(calculation: FeffCalculation) -> list[dict]:
    """The stored path rows (rows stored before they carried ``index`` are rebuilt from the
    stored FEFF output, so every calculation answers with the same columns)."""
    rows = calculation.paths or []
    if rows and all("index" in row and "sha256" in row for row in rows):
        return rows
    return path_rows(feff_engine.FeffRun.from_json(calculation.path_files))


def calculation_text_file(calculation: FeffCalculation, name: str) -> str | None:
    """Text of ``feff.inp``, ``files.dat`` or a ``feffNNNN.dat`` of the calculation (None
    when the calculation has no such file)."""
    if name == "feff.inp":
        return calculation.feff_input or None
    if name == "files.dat":
        return calculation.files_dat or (calculation.path_files or {}).get("files_dat") or None
    for path in (calculation.path_files or {}).get("paths", []):
        if f"{path['file_id']}.dat".lower() == name.lower():
            return path["text"]
    return None


# --- the FEFF cache of fit runs ------------------------------------------------------------


class DbFeffCache:
    """``analysis.engines.feff.FeffCache`` backed by FeffCalculation rows."""

    def __init__(
        self,
        structure: dict,
        source: str,
        absorber: str,
        edge: str,
        radius: float,
        version: int,
        actor=None,
    ):
        self.meta = {
            "structure": structure,
            "structure_source": source,
            "absorber": absorber,
            "edge": edge,
            "cluster_radius_a": radius,
            "feff_version": str(version),
        }
        self.actor = actor
        self.created = False

    def get(self, key: str):
        row = FeffCalculation.objects.filter(cache_key=key).first()
        if row is None:
            return None
        run = feff_engine.FeffRun.from_json(row.path_files)
        return feff_engine.FeffRun(**{**run.__dict__, "from_cache": True, "cache_key": key})

    def put(self, key: str, run) -> None:
        _row, self.created = FeffCalculation.objects.get_or_create(
            cache_key=key,
            defaults={
                **self.meta,
                "source": FeffSource.COMPUTED,
                "feff_input": run.feff_inp,
                "files_dat": run.files_dat,
                "paths": path_rows(run),
                "path_files": run.to_json(),
                "elapsed_s": run.elapsed_s,
                "created_by": self.actor if getattr(self.actor, "pk", None) else None,
            },
        )


# --- structures ----------------------------------------------------------------------------


def _required(spec: dict, key: str, where: str, expected: str):
    value = spec.get(key)
    if value in (None, "", []):
        raise DomainError(f"{where}.{key}: expected {expected}.", field=f"{where}.{key}")
    return value


def structure_from_spec(spec, *, where: str = "model.feff.structure"):
    """A structure spec → CIF text or ``LatticeStructure`` for the FEFF engine.

    ``{"source": "amcsd", "elements": ["Zn", "Se"], "mineral": ..., "amcsd_id": ...}``,
    ``{"source": "cif", "cif_text": "..."}`` or ``{"source": "lattice", "kind":
    "zincblende"|"wurtzite", "a_a": 5.67, "cation": "Zn", "anion": "Se", "c_a", "u"}``.
    Raises DomainError naming ``<where>.<key>`` for a missing or malformed entry.
    """
    if not isinstance(spec, dict):
        raise DomainError(
            f"{where}: expected an object with source amcsd, cif or lattice.", field=where
        )
    source = spec.get("source")
    try:
        if source == StructureSource.AMCSD:
            elements = _required(spec, "elements", where, 'the element symbols, e.g. ["Zn", "Se"]')
            if not isinstance(elements, list) or not all(isinstance(e, str) for e in elements):
                raise DomainError(
                    f'{where}.elements: expected a list of element symbols, e.g. ["Zn", "Se"].',
                    field=f"{where}.elements",
                )
            entry = feff_engine.amcsd_cif(
                elements, mineral=spec.get("mineral"), amcsd_id=spec.get("amcsd_id")
            )
            return entry.cif_text
        if source == StructureSource.CIF:
            text = _required(spec, "cif_text", where, "the text of a CIF file")
            if not isinstance(text, str):
                raise DomainError(f"{where}.cif_text: expected text.", field=f"{where}.cif_text")
            return text
        if source == StructureSource.LATTICE:
            return _lattice(spec, where)
    except EngineError as exc:
        key = (exc.field or "").split(".")[-1]
        field = f"{where}.{key}" if key else where
        raise DomainError(f"{field}: {exc.message}.", field=field) from None
    raise DomainError(
        f"{where}.source: expected amcsd (a CIF bundled with larixite), cif or lattice, "
        f"got {source!r}.",
        field=f"{where}.source",
    )


def _lattice(spec: dict, where: str) -> feff_engine.LatticeStructure:
    kind = _required(spec, "kind", where, "zincblende or wurtzite")
    a_a = _required(spec, "a_a", where, "the lattice constant a in Å")
    if not isinstance(a_a, (int, float)) or isinstance(a_a, bool):
        raise DomainError(f"{where}.a_a: expected a number (Å), got {a_a!r}.", field=f"{where}.a_a")
    for key in ("cation", "anion"):
        value = _required(spec, key, where, "an element symbol")
        if value not in feff_engine.ATOMIC_NUMBER:
            raise DomainError(
                f"{where}.{key}: {value!r} is not an element symbol.", field=f"{where}.{key}"
            )
    structure = feff_engine.LatticeStructure(
        kind, float(a_a), spec["cation"], spec["anion"], c_a=spec.get("c_a"), u=spec.get("u")
    )
    feff_engine.lattice_atoms(structure, spec["cation"], 2.0)  # raises for a bad cell
    return structure


def _structure_text(structure) -> str:
    if isinstance(structure, feff_engine.LatticeStructure):
        return structure.canonical_text()
    return structure


# --- compute a calculation (API) -----------------------------------------------------------


def _check_request(absorber, edge, cluster_radius_a, feff_version) -> tuple[str, str, float, int]:
    if not isinstance(absorber, str) or absorber not in feff_engine.ATOMIC_NUMBER:
        raise DomainError(
            f"absorber: expected the element symbol of the absorbing atom (e.g. Zn), got "
            f"{absorber!r}.",
            field="absorber",
        )
    if edge not in feff_engine.EDGE_HOLES:
        raise DomainError(
            f"edge: expected one of {', '.join(feff_engine.EDGE_HOLES)}, got {edge!r}.",
            field="edge",
        )
    if (
        not isinstance(cluster_radius_a, (int, float))
        or isinstance(cluster_radius_a, bool)
        or not 2.0 <= cluster_radius_a <= REQUEST_MAX_RADIUS_A
    ):
        raise DomainError(
            f"cluster_radius_a: expected a radius between 2 and {REQUEST_MAX_RADIUS_A:g} Å "
            f"(larger clusters: run the fit as a background job), got {cluster_radius_a!r}.",
            field="cluster_radius_a",
        )
    if feff_version not in feff_engine.FEFF_VERSIONS or isinstance(feff_version, bool):
        raise DomainError(
            f"feff_version: expected 6 or 8, got {feff_version!r}.", field="feff_version"
        )
    return absorber, edge, float(cluster_radius_a), int(feff_version)


def _feff_input(structure, absorber: str, edge: str, radius: float, version: int) -> str:
    """feff.inp for the structure; DomainError when the cluster has too many atoms."""
    try:
        if isinstance(structure, feff_engine.LatticeStructure):
            text = feff_engine.feff_inp_from_lattice(
                structure, absorber=absorber, edge=edge, cluster_radius_a=radius,
                feff_version=version,
            )
        else:
            text = feff_engine.feff_inp_from_cif(
                structure, absorber=absorber, edge=edge, cluster_radius_a=radius,
                feff_version=version,
            )
    except EngineError as exc:
        field = "absorber" if exc.field == "absorber" else f"structure.{exc.field or 'source'}"
        raise DomainError(f"{field}: {exc.message}.", field=field) from None
    atoms = _atom_count(text)
    if atoms > REQUEST_MAX_ATOMS:
        raise DomainError(
            f"cluster_radius_a: {radius:g} Å gives {atoms} atoms; at most {REQUEST_MAX_ATOMS} "
            "are computed in a request — choose a smaller radius.",
            field="cluster_radius_a",
        )
    return text


def _atom_count(feff_inp: str) -> int:
    count, inside = 0, False
    for line in feff_inp.splitlines():
        word = line.split("*", 1)[0].strip().split()
        if not word:
            continue
        if word[0].upper() == "ATOMS":
            inside = True
        elif word[0].upper() == "END":
            inside = False
        elif inside and re.match(r"^[-+\d.]", word[0]):
            count += 1
    return count


def compute_feff_calculation(
    *, structure: dict, absorber, edge="K", cluster_radius_a=6.0, feff_version=6, actor=None
) -> tuple[FeffCalculation, bool]:
    """Run FEFF for ``structure`` (bounded for a web request) or return the stored run.

    Returns ``(calculation, created)``: ``created`` is False when the same calculation (same
    cache key as the fit runs' FEFF cache) is already stored — then FEFF is not started.
    Raises DomainError naming the field: a malformed structure (``structure.<key>``), an
    unknown absorber or edge, a radius above 8 Å, more than 400 atoms, or a FEFF failure.
    """
    absorber, edge, radius, version = _check_request(absorber, edge, cluster_radius_a, feff_version)
    built = structure_from_spec(structure, where="structure")
    key = feff_engine.feff_cache_key(_structure_text(built), absorber, edge, radius, version)
    stored = FeffCalculation.objects.filter(cache_key=key).first()
    if stored is not None:
        return stored, False
    feff_inp = _feff_input(built, absorber, edge, radius, version)
    try:
        run = feff_engine.run_feff(feff_inp, feff_version=version, timeout_s=REQUEST_TIMEOUT_S)
    except EngineError as exc:
        raise DomainError(f"FEFF could not compute this structure: {exc.message}.",
                          field="structure", detail=exc.detail) from None
    run = feff_engine.FeffRun(**{**run.__dict__, "cache_key": key})
    cache = DbFeffCache(structure, structure.get("source", ""), absorber, edge, radius, version,
                        actor=actor)
    with transaction.atomic():
        cache.put(key, run)
    return FeffCalculation.objects.get(cache_key=key), cache.created


# --- upload FEFF output files --------------------------------------------------------------


def _decode(name: str, content: bytes) -> str:
    if len(content) > MAX_UPLOAD_BYTES:
        raise DomainError(
            f"{name}: {len(content)} bytes is too large for a FEFF file (at most "
            f"{MAX_UPLOAD_BYTES} bytes).",
            field="files",
        )
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("latin-1")


def _parse_uploads(files: list[tuple[str, bytes]]) -> tuple[list, dict[str, str]]:
    """(parsed path files, {feff.inp / files.dat: text}); DomainError naming a bad file."""
    if not files:
        raise DomainError(
            "files: upload one or more FEFF path files (feffNNNN.dat), optionally with "
            "feff.inp and files.dat.",
            field="files",
        )
    if len(files) > MAX_UPLOAD_FILES:
        raise DomainError(f"files: at most {MAX_UPLOAD_FILES} files at once.", field="files")
    paths, extra, seen = [], {}, set()
    for raw_name, content in files:
        name = (raw_name or "").rsplit("/", 1)[-1].strip()
        if name.lower() in seen:
            raise DomainError(f"{name}: uploaded twice.", field="files")
        seen.add(name.lower())
        text = _decode(name, content)
        lower = name.lower()
        if lower == "files.dat" or lower.endswith(".inp"):
            key = "files.dat" if lower == "files.dat" else "feff.inp"
            if key in extra:
                raise DomainError(f"{name}: a second FEFF input file; upload one feff.inp.",
                                  field="files")
            extra[key] = text
            continue
        if not lower.endswith(".dat") or len(name) > 64:
            raise DomainError(
                f"{name}: not a FEFF file; expected path files (feffNNNN.dat), feff.inp or "
                "files.dat.",
                field="files",
            )
        try:
            paths.append(feff_engine.parse_feff_dat(text, file_id=name[:-4]))
        except EngineError:
            raise DomainError(
                f"{name}: not a FEFF path file (no path header with nleg, degeneracy and reff, "
                "or no k / real[p] table).",
                field="files",
            ) from None
    if not paths:
        raise DomainError(
            "files: no FEFF path file (feffNNNN.dat) among the uploaded files.", field="files"
        )
    if "files.dat" in extra:
        try:
            feff_engine.parse_files_dat(extra["files.dat"])
        except EngineError:
            raise DomainError(
                "files.dat: not FEFF's path list (no 'feffNNNN.dat sig2 amp ratio deg nlegs "
                "r effective' rows).",
                field="files",
            ) from None
    return paths, extra


def _uploaded_facts(paths, extra: dict[str, str], absorber, edge) -> tuple[str, str, str]:
    """Absorber, edge and FEFF version of uploaded files (given values must agree)."""
    absorbers = sorted({p.absorber for p in paths})
    if len(absorbers) > 1:
        raise DomainError(
            f"files: the path files have different absorbers ({', '.join(absorbers)}); upload "
            "one FEFF calculation at a time.",
            field="files",
        )
    if absorber and absorber != absorbers[0]:
        raise DomainError(
            f"absorber: {absorber} was given but the path files' absorber is {absorbers[0]}.",
            field="absorber",
        )
    facts = feff_engine.feff_header_facts(extra.get("files.dat") or paths[0].text)
    found_edge = facts["edge"] or feff_engine.feff_header_facts(paths[0].text)["edge"]
    if edge and found_edge and edge != found_edge:
        raise DomainError(
            f"edge: {edge} was given but the path files are for the {found_edge} edge.",
            field="edge",
        )
    chosen = found_edge or edge
    if chosen not in feff_engine.EDGE_HOLES:
        raise DomainError(
            "edge: the path files do not name their edge; give edge (K, L1, L2 or L3).",
            field="edge",
        )
    return absorbers[0], chosen, facts["feff_version"] or ""


def _rmax(feff_inp: str | None) -> float | None:
    for line in (feff_inp or "").splitlines():
        words = line.split("*", 1)[0].split()
        if len(words) > 1 and words[0].upper() in ("RMAX", "RPATH"):
            try:
                return float(words[1])
            except ValueError:
                return None
    return None


@transaction.atomic
def upload_feff_files(
    *, files: list[tuple[str, bytes]], absorber: str | None = None, edge: str | None = None,
    actor=None,
) -> tuple[FeffCalculation, bool]:
    """Store uploaded FEFF output (feffNNNN.dat path files, optional feff.inp and files.dat)
    as a calculation with source "uploaded"; each file's sha256 is kept.

    Returns ``(calculation, created)``; the same set of files uploaded again returns the stored
    calculation (``created`` False). Raises DomainError naming the file that is not a FEFF
    file, path files of different absorbers, or an absorber/edge that contradicts the files.
    """
    paths, extra = _parse_uploads(files)
    absorber, edge, version = _uploaded_facts(paths, extra, absorber, edge)
    shas = {f"{p.file_id}.dat": _sha256(p.text) for p in paths}
    shas.update({name: _sha256(text) for name, text in extra.items()})
    key = _canonical_hash({"uploaded": shas})
    stored = FeffCalculation.objects.filter(cache_key=key).first()
    if stored is not None:
        return stored, False
    run = feff_engine.FeffRun(
        feff_version=int(version) if version else 0,
        feff_inp=extra.get("feff.inp", ""),
        paths=tuple(sorted(paths, key=lambda p: p.file_id)),
        files_dat=extra.get("files.dat", ""),
        log="",
        elapsed_s=0.0,
        cache_key=key,
    )
    calculation = FeffCalculation.objects.create(
        cache_key=key,
        source=FeffSource.UPLOADED,
        structure_source=StructureSource.PATH_FILES,
        structure={"source": "uploaded", "files": dict(sorted(shas.items()))},
        absorber=absorber,
        edge=edge,
        cluster_radius_a=_rmax(run.feff_inp),
        feff_version=version,
        feff_input=run.feff_inp,
        files_dat=run.files_dat,
        paths=path_rows(run),
        path_files=run.to_json(),
        elapsed_s=None,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    return calculation, True


# --- delete --------------------------------------------------------------------------------


def _runs_citing(calculation_id: int) -> list[int]:
    """Ids of fit runs whose model references the calculation or whose FEFF it is."""
    ids = set(FitRun.objects.filter(feff_id=calculation_id).values_list("pk", flat=True))
    for pk, model in FitRun.objects.values_list("pk", "model"):
        feffs = [(model or {}).get("feff")] + [
            ds.get("feff") for ds in (model or {}).get("datasets") or [] if isinstance(ds, dict)
        ]
        if any(isinstance(f, dict) and f.get("calculation") == calculation_id for f in feffs):
            ids.add(pk)
    return sorted(ids)


@transaction.atomic
def delete_feff_calculation(*, calculation: FeffCalculation) -> None:
    """Delete a calculation no fit run uses (curators; the API checks who asks).

    Raises DomainError listing the fit runs that use it: their fits must stay repeatable.
    """
    runs = _runs_citing(calculation.pk)
    if runs:
        shown = ", ".join(map(str, runs[:10])) + (" …" if len(runs) > 10 else "")
        raise DomainError(
            f"FEFF calculation {calculation.pk} is used by fit run(s) {shown}; it is kept so "
            "those fits can be repeated.",
            field="id",
        )
    calculation.delete()


# --- FEFF paths for a fit run --------------------------------------------------------------


def _calculation_paths(feff: dict, where: str) -> tuple[dict[str, str], dict]:
    ident = feff.get("calculation")
    if not isinstance(ident, int) or isinstance(ident, bool):
        raise DomainError(
            f"{where}.calculation: expected the id of a stored FEFF calculation, got {ident!r}.",
            field=f"{where}.calculation",
        )
    row = FeffCalculation.objects.filter(pk=ident).first()
    if row is None:
        raise DomainError(
            f"{where}.calculation: there is no stored FEFF calculation {ident}.",
            field=f"{where}.calculation",
        )
    run = feff_engine.FeffRun.from_json(row.path_files)
    files = run.path_files()
    return files, {
        "source": "calculation",
        "calculation": row.pk,
        "calculation_source": row.source,
        "cache_key": row.cache_key,
        "from_cache": True,
        "feff_version": row.feff_version,
        "absorber": row.absorber,
        "edge": row.edge,
        "cluster_radius_a": row.cluster_radius_a,
        "sha256": {k: _sha256(v) for k, v in sorted(files.items())},
    }


def feff_paths_for(feff: dict, *, where: str = "model.feff") -> tuple[dict[str, str], dict]:
    """Path files {id: text} and their provenance: given files (``path_files``), a stored
    calculation (``calculation``: id; provenance carries the id and each path's sha256), or a
    (cached) FEFF run from a ``structure``."""
    if feff.get("calculation") is not None:
        return _calculation_paths(feff, where)
    if feff.get("path_files"):
        files = dict(feff["path_files"])
        return files, {
            "source": "path_files",
            "sha256": {k: _sha256(v) for k, v in sorted(files.items())},
        }
    spec = feff["structure"]
    absorber, edge = feff.get("absorber"), feff.get("edge", "K")
    if not isinstance(absorber, str):  # the engine's own message for a missing absorber
        raise EngineError(f"absorber {absorber!r} is not an element symbol", field="absorber")
    radius = float(feff.get("cluster_radius_a", 6.0))
    version = int(feff.get("feff_version", 6))
    cache = DbFeffCache(spec, spec.get("source", ""), absorber, edge, radius, version)
    run = feff_engine.compute_feff_paths(
        structure_from_spec(spec, where=f"{where}.structure"),
        absorber=absorber,
        edge=edge,
        cluster_radius_a=radius,
        feff_version=version,
        cache=cache,
    )
    return run.path_files(), {
        "source": spec.get("source"),
        "cache_key": run.cache_key,
        "from_cache": run.from_cache,
        "feff_version": version,
        "absorber": absorber,
        "edge": edge,
        "cluster_radius_a": radius,
    }
