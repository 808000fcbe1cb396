"""XAS fit runs (kind ``exafs_fit``): the fit request, FEFF paths, computing and storing the
XASFit, reproductions, staleness and refits. The run lifecycle they share with every kind
(claim, heartbeat, failure, dispatch, reaper, sweeps) lives in ``analysis/services/runs.py``;
jobs are submitted by name through ``labdb.lib.jobs`` (``analysis/tasks.py`` imports this
module, never the reverse).

A run request is ``{"feff": {...}, **fit model}`` where the fit model is the engine's JSON
(docs/fit-model.md) with one dataset (the spectrum) and ``feff`` says where the FEFF paths come
from: ``{"path_files": {id: text}}``, or a structure — ``{"structure": {"source": "amcsd",
"elements": ["Cd", "S"], "mineral": "greenockite"}}``, ``{"structure": {"source": "lattice",
"kind": "zincblende", "a_a": 5.668, "cation": "Zn", "anion": "Se"}}`` or ``{"structure":
{"source": "cif", "cif_text": "..."}}`` — plus ``absorber``, ``edge``, ``cluster_radius_a`` and
``feff_version``. FEFF results are cached in the database by their hash.

Exactly once: each run has an idempotency key (input sha256 + model hash + sequence); the worker
claims the run under a row lock and writes the result only if the run has none, so a redelivered
task (worker killed mid-fit, ``acks_late``) never writes a second result.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from django.db import transaction
from django.utils import timezone

from analysis.engines import feff as feff_engine
from analysis.engines._larch import software_versions
from analysis.engines.feffit_model import FitModel, parse_fit_model, s02_parameter
from analysis.enums import RunStatus
from analysis.models import FeffCalculation, FitDataset, FitRun
from analysis.services import fit_versions
from analysis.services.feff import DbFeffCache, feff_paths_for
from analysis.services.processing import load_stored_mu
from analysis.services.runs import (
    BROKER_UNAVAILABLE,
    MAX_ATTEMPTS,
    RunBusy,
    canonical_hash,
    claim_run,
    dispatch_pending,
    fail_run,
    fail_unexpected,
    heartbeat,
    reap_stale_runs,
    record_dispatch,
    record_not_sent,
    recover_lost_runs,
    resend_queued_runs,
)
from characterization.enums import DataSource
from characterization.models import XASFit, XASSpectrum
from characterization.services import record_xas_fit
from labdb.lib import jobs
from labdb.lib.errors import DomainError, EngineError, LabdbError, ParseError
from labdb.lib.records import retire_record, with_owner

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BROKER_UNAVAILABLE",
    "MAX_ATTEMPTS",
    "DbFeffCache",
    "RunBusy",
    "canonical_hash",
    "dispatch_pending",
    "execute_fit_run",
    "fail_run",
    "mark_stale_fits",
    "reap_stale_runs",
    "record_dispatch",
    "record_not_sent",
    "recover_lost_runs",
    "refit_stale",
    "request_fit_run",
    "request_refit",
    "resend_queued_runs",
    "staleness_of",
]

logger = logging.getLogger("analysis.jobs")
ENGINE_VERSION_KEYS = ("xraylarch", "lmfit", "numpy", "scipy", "asteval")
#: Raw-file fields a fit never reads (the parse's series, metadata and history, JSON of ~10 kB
#: for one XDI file): deferred when a request or its job reads the spectra, read only if used.
UNREAD_DATA_FILE_FIELDS = tuple(
    f"data_file__{name}"
    for name in ("series", "metadata", "key_numbers", "parser_history", "parse_detail")
)


# --- request -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitRequest:
    """A fit run request taken apart: where the FEFF paths come from, which spectrum each
    dataset fits, and the engine's fit model (``from_fit`` parameters resolved to values)."""

    feff: dict | None
    dataset_feff: dict[str, dict]
    spectrum_ids: dict[str, int]
    engine_model: dict
    parsed: FitModel
    carried: dict[str, dict] = field(default_factory=dict)


def _carried_parameter(name: str, spec: dict) -> tuple[dict, dict]:
    """``{"from_fit": id, "parameter": "s02"}`` → a fixed parameter with that fit's value, and
    the citation (fit id, parameter, value, error). DomainError naming the field otherwise."""
    where = f"model.parameters.{name}"
    fit_id, wanted = spec.get("from_fit"), spec.get("parameter", name)
    unknown = sorted(set(spec) - {"from_fit", "parameter"})
    if unknown or not isinstance(fit_id, int) or isinstance(fit_id, bool):
        raise DomainError(
            f'{where}: give {{"from_fit": <fit id>, "parameter": "s02"}} to carry a value '
            "over from a stored fit.",
            field=f"{where}.from_fit",
        )
    fit = XASFit.objects.filter(pk=fit_id, is_retired=False).first()
    if fit is None:
        raise DomainError(f"{where}.from_fit: there is no stored fit {fit_id}.", field=where)
    stored = (fit.provenance or {}).get("parameters", {}).get(wanted)
    if stored is not None:
        value, stderr = stored.get("value"), stored.get("stderr")
    elif wanted == "s02":
        value, stderr = fit.s02, fit.s02_err
    else:
        value = stderr = None
    if value is None:
        raise DomainError(
            f"{where}.parameter: fit {fit_id} ({fit}) has no value for {wanted!r}.",
            field=f"{where}.parameter",
        )
    cite = {
        "from_fit": fit_id,
        "parameter": wanted,
        "value": value,
        "stderr": stderr,
        "fit": str(fit),
    }
    return {"kind": "set", "value": value}, cite


def _split_request(model: dict) -> FitRequest:
    """Take a request apart; DomainError naming the JSON path when it is malformed."""
    if not isinstance(model, dict):
        raise DomainError("model: expected a JSON object.", field="model")
    body = dict(model)
    feff = body.pop("feff", None)
    dataset_feff, spectrum_ids, datasets = {}, {}, []
    for index, ds in enumerate(body.get("datasets") or []):
        if not isinstance(ds, dict):
            datasets.append(ds)
            continue
        ds = dict(ds)
        where = f"model.datasets[{index}]"
        if "spectrum" in ds:
            sid = ds.pop("spectrum")
            if not isinstance(sid, int) or isinstance(sid, bool):
                raise DomainError(
                    f"{where}.spectrum: expected the id of an XAS spectrum, got {sid!r}.",
                    field=f"{where}.spectrum",
                )
            spectrum_ids[str(ds.get("id"))] = sid
        own = ds.pop("feff", None)
        if own is not None:
            dataset_feff[str(ds.get("id"))] = own
        if not _feff_given(own if own is not None else feff):
            raise DomainError(
                f"{where}.feff: give path_files {{id: text}}, a stored calculation id "
                "(calculation) or a structure (amcsd, lattice or cif) to compute FEFF paths "
                "from (here or in model.feff).",
                field="model.feff" if own is None else f"{where}.feff",
            )
        datasets.append(ds)
    if not datasets and not _feff_given(feff):
        raise DomainError(
            "model.feff: give path_files {id: text}, a stored calculation id (calculation) "
            "or a structure (amcsd, lattice or cif) to compute FEFF paths from.",
            field="model.feff",
        )
    if "datasets" in body:
        body["datasets"] = datasets
    carried = {}
    if isinstance(body.get("parameters"), dict):
        params = {}
        for name, spec in body["parameters"].items():
            if isinstance(spec, dict) and "from_fit" in spec:
                params[name], carried[name] = _carried_parameter(name, spec)
            else:
                params[name] = spec
        body["parameters"] = params
    try:
        parsed = parse_fit_model(body)
    except EngineError as exc:
        raise DomainError(
            f"model: {exc.message}", field=f"model.{exc.field or ''}".rstrip(".")
        ) from None
    return FitRequest(feff, dataset_feff, spectrum_ids, body, parsed, carried)


def _feff_given(feff) -> bool:
    return isinstance(feff, dict) and bool(
        feff.get("path_files") or feff.get("structure") or feff.get("calculation") is not None
    )


def _dataset_spectra(request: FitRequest, spectrum: XASSpectrum | None) -> list:
    """[(JSON path, spectrum)] in dataset order: each dataset's ``spectrum`` id, or the one
    ``spectrum`` of the request for a dataset naming none."""
    out = []
    wanted = list(request.spectrum_ids.values())
    found_by_id = (
        XASSpectrum.objects.select_related("data_file")
        .defer(*UNREAD_DATA_FILE_FIELDS)
        .in_bulk(wanted)
        if wanted
        else {}
    )
    for index, ds in enumerate(request.parsed.datasets):
        where = f"model.datasets[{index}].spectrum"
        sid = request.spectrum_ids.get(ds.id)
        if sid is None:
            if spectrum is None or len(request.parsed.datasets) > 1:
                raise DomainError(
                    f"{where}: name the spectrum this dataset fits (an XAS spectrum id).",
                    field=where,
                )
            out.append(("spectrum", spectrum))
            continue
        if spectrum is not None and len(request.parsed.datasets) == 1 and spectrum.pk != sid:
            raise DomainError(
                f"{where}: the dataset names spectrum {sid} but the request is for {spectrum.pk}.",
                field=where,
            )
        found = found_by_id.get(sid)  # one query for every dataset's spectrum
        if found is None:
            raise DomainError(f"{where}: there is no XAS spectrum {sid}.", field=where)
        out.append((where, found))
    return out


def _check_spectrum(spectrum: XASSpectrum, where: str = "spectrum") -> None:
    data_file = spectrum.data_file
    if data_file is None:
        raise DomainError(
            f"{where}: {spectrum} has no raw data file to fit (published spectra carry no data).",
            field=where,
        )
    if data_file.parse_status != "ok":
        raise DomainError(
            f"{where}: the data file {data_file.original_name} was not parsed "
            f"({data_file.parse_error}).",
            field=where,
        )


def _path_absorbers(request: FitRequest, index: int, ds) -> list[tuple[int, str]]:
    """(path index, absorber) for each path entry of a dataset that names its absorber: a
    selector's, a given path file's header, or the FEFF structure calculation's."""
    feff = request.dataset_feff.get(ds.id) or request.feff or {}
    files = feff.get("path_files") or {}
    calculation = _feff_calculation(request, index, ds)
    out = []
    for j, path in enumerate(ds.paths):
        if path.select is not None:
            out.append((j, path.select.absorber))
        elif path.path_file in files and isinstance(files[path.path_file], str):
            try:
                parsed = feff_engine.parse_feff_dat(files[path.path_file], file_id=path.path_file)
            except LabdbError:
                continue  # the engine reports an unreadable path file with its own message
            out.append((j, parsed.absorber))
        elif feff.get("structure") and feff.get("absorber"):
            out.append((j, str(feff["absorber"])))
        elif calculation is not None:
            out.append((j, calculation.absorber))
    return out


def _feff_calculation(request: FitRequest, index: int, ds) -> FeffCalculation | None:
    """The stored FEFF calculation a dataset's ``feff`` references (None for none);
    DomainError naming the JSON path when the id is not a stored calculation."""
    feff = request.dataset_feff.get(ds.id) or request.feff or {}
    if feff.get("calculation") is None:
        return None
    where = f"model.datasets[{index}].feff" if ds.id in request.dataset_feff else "model.feff"
    ident = feff.get("calculation")
    found = None
    if isinstance(ident, int) and not isinstance(ident, bool):
        found = FeffCalculation.objects.filter(pk=ident).first()
    if found is None:
        raise DomainError(
            f"{where}.calculation: there is no stored FEFF calculation {ident!r} (upload the "
            "path files or compute them at /api/feff-calculations/).",
            field=f"{where}.calculation",
        )
    return found


def _check_paths(request: FitRequest, spectra: list[XASSpectrum]) -> None:
    """Every path's absorber is its spectrum's element; FEFF computed for the spectrum's edge."""
    for index, (ds, spectrum) in enumerate(zip(request.parsed.datasets, spectra, strict=True)):
        element, edge = spectrum.element.strip().capitalize(), spectrum.edge.strip().upper()
        feff = request.dataset_feff.get(ds.id) or request.feff or {}
        feff_edge = str(feff.get("edge", "K")).strip().upper()
        calculation = _feff_calculation(request, index, ds)
        if calculation is not None:
            feff_edge = calculation.edge.strip().upper()
        if (feff.get("structure") or calculation is not None) and feff_edge != edge:
            where = (
                f"model.datasets[{index}].feff.edge"
                if ds.id in request.dataset_feff
                else ("model.feff.edge")
            )
            raise DomainError(
                f"{where}: FEFF paths for the {feff_edge} edge but the spectrum is "
                f"{element} {edge}.",
                field=where,
            )
        for j, absorber in _path_absorbers(request, index, ds):
            if absorber.strip().capitalize() != element:
                where = f"model.datasets[{index}].paths[{j}]"
                raise DomainError(
                    f"{where}: absorber {absorber} but the spectrum is {element} {edge}.",
                    field=where,
                )


#: k (Å⁻¹) = sqrt(ETOK · (E − E0) / eV)
ETOK = 0.2624682843
K_TOLERANCE_INV_A = 0.05


def _check_k_ranges(request: FitRequest, spectra: list[XASSpectrum]) -> None:
    """The fit's kmax lies inside each spectrum's data (E0 from the model's pre_edge, the
    spectrum, or the steepest rise of μ(E)); the engine checks again on the processed χ(k)."""
    import numpy as np

    for index, (ds, spectrum) in enumerate(zip(request.parsed.datasets, spectra, strict=True)):
        energy, mu, raw = load_mu(spectrum)
        energy, mu = np.asarray(energy, dtype=float), np.asarray(mu, dtype=float)
        e0 = ((ds.processing or {}).get("pre_edge") or {}).get("e0") or spectrum.e0_ev
        if e0 is None and energy.size > 3:
            e0 = float(energy[int(np.argmax(np.gradient(mu, energy)))])
        if e0 is None:
            continue
        k_end = float(np.sqrt(max(ETOK * (float(energy.max()) - e0), 0.0)))
        if ds.transform.kmax > k_end + K_TOLERANCE_INV_A:
            where = f"model.datasets[{index}].transform.kmax"
            raise DomainError(
                f"{where}: {ds.transform.kmax:g} Å⁻¹ is beyond the data of {raw['file']}, "
                f"which end at k ≈ {k_end:.2f} Å⁻¹ (E0 {e0:.1f} eV).",
                field=where,
            )


def _parameter_order(model: dict) -> list[str]:
    params = model.get("parameters")
    return list(params) if isinstance(params, dict) else []


@transaction.atomic
def request_fit_run(
    *,
    spectrum: XASSpectrum | None = None,
    model: dict,
    actor=None,
    refit_of: XASFit | None = None,
    force: bool = False,
) -> FitRun:
    """Queue a fit of ``model`` (its datasets each name a ``spectrum`` id, or the one dataset
    fits ``spectrum``); the job starts after this transaction commits.

    An identical request (same raw files and model) that is queued, running or succeeded is
    returned instead of a new run, unless ``force`` (re-run to check reproducibility).
    Raises DomainError naming the JSON path for an invalid model, a path whose absorber is not
    the spectrum's element, a k range beyond the data, or a spectrum without parsed raw data.
    """
    request = _split_request(model)
    spectra = _dataset_spectra(request, spectrum)
    for where, one in spectra:
        _check_spectrum(one, where)
    _check_paths(request, [one for _, one in spectra])
    _check_k_ranges(request, [one for _, one in spectra])
    shas = [one.data_file.sha256 for _, one in spectra]
    input_sha = shas[0] if len(shas) == 1 else canonical_hash(shas)
    model_hash = canonical_hash(model)
    same = FitRun.objects.filter(input_sha256=input_sha, model_hash=model_hash)
    # one narrow read gives both the identical run to return and the sequence number
    earlier = list(same.order_by("-queued_at").values_list("pk", "status"))
    if not force:
        existing = next((pk for pk, status in earlier if status != RunStatus.FAILED), None)
        if existing is not None:
            return FitRun.objects.get(pk=existing)
    sequence = len(earlier)
    key = canonical_hash({"input_sha256": input_sha, "model_hash": model_hash, "seq": sequence})
    run = FitRun.objects.create(
        **with_owner({}, actor),
        spectrum=spectra[0][1],
        model=model,
        parameter_order=_parameter_order(model),
        model_hash=model_hash,
        input_sha256=input_sha,
        idempotency_key=key,
        refit_of=refit_of,
        requested_by=actor,
    )
    FitDataset.objects.bulk_create(
        FitDataset(
            run=run,
            position=index,
            dataset_id=ds.id,
            spectrum=one,
            input_sha256=one.data_file.sha256,
        )
        for index, (ds, (_, one)) in enumerate(zip(request.parsed.datasets, spectra, strict=True))
    )
    if jobs.submit(FIT_JOB, run.pk):  # the inline runner (tests) has run it already
        # read back without the plot arrays (~100 kB of JSON), loaded only if asked for
        run = FitRun.objects.defer(*fit_versions.HEAVY_RUN_FIELDS).get(pk=run.pk)
    return run


FIT_JOB = "analysis.run_fit"  # registered in analysis/tasks.py


def dispatch_fit_run(run_id: int) -> bool:
    """Hand the run to the job runner now (``labdb.lib.jobs``: the embedded pool, Celery
    workers, or inline in tests); ``record_dispatch`` stores where it went.

    Returns False when the broker cannot be reached: the run stays committed as queued with
    an empty ``task_id`` and ``resend_queued_runs`` (celery beat) sends it later. Never raises
    for a broker outage — the request that queued the run must not fail because of it.
    """
    return jobs.dispatch(FIT_JOB, run_id)


def request_refit(*, fit: XASFit, actor=None) -> FitRun:
    """Re-run a computed fit with its stored model on its spectrum (forced: a new run)."""
    run = getattr(fit, "fit_run", None)
    if fit.source != DataSource.COMPUTED or run is None:
        raise DomainError(
            f"fit {fit.pk}: only fits computed by labdb can be re-run; published "
            "fits have no stored model and data.",
            field="refit",
        )
    return request_fit_run(
        spectrum=run.spectrum, model=run.ordered_model(), actor=actor, refit_of=fit, force=True
    )


# --- execution -----------------------------------------------------------------------------


def _progress(run: FitRun, pct: int, *messages: str) -> None:
    """Progress and log lines of a running run, in one UPDATE."""
    run.progress_pct = pct
    run.log += "".join(f"[{timezone.now():%H:%M:%S}] {message}\n" for message in messages)
    FitRun.objects.filter(pk=run.pk).update(
        progress_pct=pct, log=run.log, heartbeat_at=timezone.now()
    )


def load_mu(spectrum: XASSpectrum) -> tuple[np.ndarray, np.ndarray, dict]:
    """Energy (eV) and μ(E) from the spectrum's raw file (bytes read back and checked against
    the sha256 each time; the parse shared by a request and its job, see
    ``processing.load_stored_mu``)."""
    return load_stored_mu(spectrum)


def _fit_spectrum(run: FitRun) -> XASSpectrum:
    """The run's first spectrum: every exafs_fit run names one (only other kinds leave
    ``AnalysisRun.spectrum`` empty)."""
    if run.spectrum is None:
        raise DomainError(f"fit run {run.pk} names no spectrum.", field="spectrum")
    return run.spectrum


def _run_datasets(run: FitRun, request: FitRequest) -> list[tuple[str, XASSpectrum, int | None]]:
    """(dataset id, spectrum, FitDataset row id) of a run in model order (runs queued before
    FitDataset rows existed fit their one spectrum and have no row)."""
    rows = list(
        run.datasets.select_related("spectrum__data_file")
        .defer(*(f"spectrum__{name}" for name in UNREAD_DATA_FILE_FIELDS))
        .order_by("position")
    )
    if rows:
        return [(row.dataset_id, row.spectrum, row.pk) for row in rows]
    return [(request.parsed.datasets[0].id, _fit_spectrum(run), None)]


def _engine_paths(request: FitRequest) -> tuple[dict, dict, dict]:
    """(path files for run_fit, FEFF provenance, engine model). A dataset with its own FEFF
    calculation gets its path file ids prefixed ``<dataset id>:`` so the runs do not clash."""
    files: dict = {}
    infos: dict = {}
    model = json.loads(json.dumps(request.engine_model))
    if request.feff is not None and _feff_given(request.feff):
        files, infos["model"] = feff_paths_for(request.feff)
    for ds in model["datasets"]:
        own = request.dataset_feff.get(ds["id"])
        if own is None:
            continue
        where = f"model.datasets[{model['datasets'].index(ds)}].feff"
        own_files, infos[ds["id"]] = feff_paths_for(own, where=where)
        files.update({f"{ds['id']}:{k}": v for k, v in own_files.items()})
        for path in ds["paths"]:
            if "path_file" in path:
                path["path_file"] = f"{ds['id']}:{path['path_file']}"
    return files, infos, model


def _computes_feff(request: FitRequest) -> bool:
    """True when a FEFF source of the request is a structure or a stored calculation (work or
    a lookup before the fit), False when every dataset's paths are given as files."""
    specs = [request.feff, *request.dataset_feff.values()]
    return any(  # the order of feff_paths_for: calculation, then path files, then structure
        isinstance(spec, dict)
        and (
            spec.get("calculation") is not None
            or (not spec.get("path_files") and bool(spec.get("structure")))
        )
        for spec in specs
    )


def _compute(run: FitRun) -> dict:
    from analysis.engines.fitting import run_fit
    from analysis.engines.xas_processing import process_mu

    request = _split_request(run.ordered_model())
    data, raws, lines, rows = {}, [], [], {}
    for dataset_id, spectrum, row_id in _run_datasets(run, request):
        if row_id is not None:
            rows[dataset_id] = row_id
        energy, mu, raw = load_mu(spectrum)
        data[dataset_id] = {"energy_ev": energy, "mu": mu}
        raws.append({"dataset": dataset_id, "spectrum": spectrum.pk, **raw})
        lines.append(f"read {raw['file']} ({len(energy)} points)")
    if _computes_feff(request):  # FEFF may take a while: say the data are read first
        _progress(run, 15, *lines)  # one write for all datasets
        lines = []
    path_files, feff_infos, model = _engine_paths(request)
    first_feff = next(iter(feff_infos.values()))
    _progress(
        run,
        35,
        *lines,
        f"FEFF paths: {len(path_files)} ({first_feff.get('source')}, "
        f"from cache: {first_feff.get('from_cache')})",
    )
    # The request's parsed model is the engine's when no dataset has its own FEFF (whose path
    # file ids _engine_paths prefixes): not parsed a third time.
    engine_model = model if request.dataset_feff else request.parsed
    with heartbeat(run.pk):
        result = run_fit(data, engine_model, path_files)
    # logged with the result, in the same write (_mark_succeeded): no separate 90 % update
    fit_line = (
        f"fit done: R-factor {result.statistics['rfactor']:.5f}, nfev {result.statistics['nfev']}"
    )
    primary_id = result.datasets[0]["id"]
    processed = result.spectra.get(primary_id)  # processed by run_fit: not processed twice
    if processed is None:
        primary = data[primary_id]
        processed = process_mu(
            primary["energy_ev"], primary["mu"], **result.datasets[0]["processing"]
        )
    return {
        "result": result,
        "raw": raws[0],
        "raws": raws,
        "feff": first_feff,
        "feffs": feff_infos,
        "feff_spec": request.feff,
        "carried": request.carried,
        "s02_parameter": s02_parameter(request.parsed),
        "spectrum": processed,
        "fit_line": fit_line,
        "dataset_rows": rows,
    }


def _s02(computed: dict) -> tuple[float | None, float | None]:
    """S0² of the fit (value, error): the first path's evaluated S0²; the error of a value
    carried over from another fit is that fit's error."""
    result = computed["result"]
    first = result.paths[0] if result.paths else {}
    value, err = first.get("s02"), first.get("s02_err")
    carried = computed["carried"].get(computed["s02_parameter"] or "")
    if carried is not None and value == carried["value"]:
        err = carried["stderr"]
    return value, err


def _fit_record(run: FitRun, computed: dict) -> dict:
    result = computed["result"]
    dataset = result.datasets[0]
    transform = dataset["transform"]
    stats = result.statistics
    e0: dict = next((p for p in result.paths if p.get("delta_e0_ev") is not None), {})
    kweight = transform.get("kweight")
    s02, s02_err = _s02(computed)
    spectra = len(result.datasets)
    spectrum = _fit_spectrum(run)
    return {
        "source": DataSource.COMPUTED,
        "absorber": spectrum.element,
        "edge_name": spectrum.edge,
        "spectrum": spectrum,
        "label": f"fit run {run.pk}" + (f" ({spectra} spectra)" if spectra > 1 else ""),
        "software": f"labdb + xraylarch {result.versions.get('xraylarch')}",
        "k_min": transform.get("kmin"),
        "k_max": transform.get("kmax"),
        "r_min_a": transform.get("rmin"),
        "r_max_a": transform.get("rmax"),
        "k_weight": ",".join(map(str, kweight)) if isinstance(kweight, list) else str(kweight),
        "window": str(transform.get("window") or ""),
        "delta_e0_ev": e0.get("delta_e0_ev"),
        "delta_e0_err_ev": e0.get("delta_e0_err_ev"),
        "s02": s02,
        "s02_err": s02_err,
        "r_factor": stats.get("rfactor"),
        "reduced_chi2": stats.get("chi2_reduced"),
        "warnings": list(result.warnings),
        "measured_at": spectrum.measured_at,
        "age_days": spectrum.age_days,
        "age_label": spectrum.age_label,
        "owner": run.owner,
        "provenance": _provenance(run, computed),
    }


def _provenance(run: FitRun, computed: dict) -> dict:
    result = computed["result"]
    return {
        "fit_run": run.pk,
        "input_sha256": run.input_sha256,
        "raw_file": computed["raw"],
        "spectra": computed["raws"],
        "model_hash": run.model_hash,
        "model": run.ordered_model(),
        "parameter_order": run.parameter_order,
        "resolved_model": result.model,
        "feff": computed["feff"],
        "feff_by_dataset": computed["feffs"],
        "carried_parameters": computed["carried"],
        "processing": result.datasets[0]["processing"],
        "processing_by_dataset": {d["id"]: d["processing"] for d in result.datasets},
        "dataset_statistics": {d["id"]: d["statistics"] for d in result.datasets},
        "versions": result.versions,
        "elapsed_s": result.elapsed_s,
        "statistics": result.statistics,
        "parameters": result.parameters,
        "correlations": result.correlations,  # lmfit correl of varied pairs, for referees
        "warnings": result.warnings,
        "simulated": result.simulated,
    }


def _path_rows(result) -> list[dict]:
    rows = []
    for path in result.paths:
        rows.append(
            {
                "absorber": path["absorber"],
                "scatterer": "-".join(path["scatterers"])
                if path["nleg"] > 2
                else path["scatterers"][0],
                "n": path.get("n"),
                "n_err": path.get("n_err"),
                "n_s02": path.get("n_s02"),
                "n_s02_err": path.get("n_s02_err"),
                "r_a": path.get("r_a"),
                "r_err_a": path.get("r_err_a"),
                "sigma2_a2": path.get("sigma2_a2"),
                "sigma2_err_a2": path.get("sigma2_err_a2"),
                "c3_a3": path.get("c3_a3"),
                "c3_err_a3": path.get("c3_err_a3"),
                "delta_e0_ev": path.get("delta_e0_ev"),
                "delta_e0_err_ev": path.get("delta_e0_err_ev"),
                "as_printed": {
                    "label": path.get("label"),
                    "dataset": path.get("dataset"),
                    "path_file": path.get("path_file"),
                    "reff_a": path.get("reff_a"),
                    "s02": path.get("s02"),
                    "s02_err": path.get("s02_err"),
                },
            }
        )
    return rows


def _store_datasets(fit: XASFit, computed: dict) -> None:
    """Link every dataset row of the run to the stored fit, with its own statistics: one plain
    UPDATE per dataset (the row ids were read with the datasets in ``_compute``). Not
    ``bulk_update``: building its CASE … WHEN took 9.4 ms for three rows (measured)."""
    by_id = {d["id"]: d["statistics"] for d in computed["result"].datasets}
    for dataset_id, row_id in computed["dataset_rows"].items():
        st = by_id.get(dataset_id) or {}
        FitDataset.objects.filter(pk=row_id).update(
            fit=fit, chi_square=st.get("chi_square"), reduced_chi2=st.get("chi2_reduced"),
            r_factor=st.get("rfactor"), n_idp=st.get("n_idp"), k_min=st.get("kmin"),
            k_max=st.get("kmax"), r_min_a=st.get("rmin"), r_max_a=st.get("rmax"),
        )


def _store(run_id: int, computed: dict, elapsed_s: float) -> FitRun | None:
    """Write the result once: under the run's row lock, only if it has no result yet. Returns
    the stored run (None when it had a result already)."""
    with transaction.atomic():
        run = (
            FitRun.objects.select_for_update(of=("self",))
            .select_related("spectrum__sample", "owner")  # the owner: the fit's and its actor
            .defer("result_data", "output")  # empty until this write; output is other kinds'
            .get(pk=run_id)
        )
        if run.result_id is not None or run.reproduces_id is not None:
            return None
        earlier = fit_versions.earlier_fits(
            run,
            versions=computed["result"].versions,
            spectra=[raw["spectrum"] for raw in computed["raws"]],
        )
        if earlier.reproduced is not None:
            _store_reproduction(run, computed, elapsed_s, earlier.reproduced)
            return run
        previous = earlier.previous
        fit = record_xas_fit(
            sample=_fit_spectrum(run).sample,
            data=_fit_record(run, computed),
            paths=_path_rows(computed["result"]),
            actor=run.owner,
        )
        _store_datasets(fit, computed)
        run.result = fit
        _mark_succeeded(run, computed, elapsed_s)
        run.log += f"[{timezone.now():%H:%M:%S}] stored fit {fit.pk}\n"
        if previous is not None:
            run.previous_version = previous
            run.fit_version = previous.fit_run.fit_version + 1
            run.version_changes = fit_versions.version_changes(
                previous, run, computed["result"].versions, computed["raws"]
            )
        run.save(update_fields=SUCCEEDED_FIELDS + NEW_FIT_FIELDS)
        old = run.refit_of
        if old is not None and old.is_stale and not old.is_retired:
            retire_record(
                old, reason=f"superseded by fit {fit.pk} (refit of a stale fit)", actor=run.owner
            )
        return run


#: The run fields a stored result changes (the UPDATE writes only these; the history row is
#: the whole run as always): ``_mark_succeeded``'s, and a new fit's or a reproduction's.
SUCCEEDED_FIELDS = ("kind", "updated_at", "log", "status", "progress_pct", "finished_at",
                    "elapsed_s", "feff", "result_data")
NEW_FIT_FIELDS = ("result", "previous_version", "fit_version", "version_changes")
REPRODUCTION_FIELDS = ("reproduces", "reproduced_exactly", "reproduction_differences")


def _mark_succeeded(run: FitRun, computed: dict, elapsed_s: float) -> None:
    """Status, timing, FEFF calculation and engine output of a finished run (saved by the
    caller, with ``SUCCEEDED_FIELDS``)."""
    run.log += f"[{timezone.now():%H:%M:%S}] {computed['fit_line']}\n"
    run.status = RunStatus.SUCCEEDED
    run.progress_pct = 100
    run.finished_at = timezone.now()
    run.elapsed_s = elapsed_s
    key = computed["feff"].get("cache_key")
    run.feff = FeffCalculation.objects.filter(cache_key=key).first() if key else None
    run.result_data = {
        "fit": computed["result"].to_json(),
        "spectrum": computed["spectrum"].to_json(with_arrays=True),
    }


def _store_reproduction(run: FitRun, computed: dict, elapsed_s: float, fit: XASFit) -> None:
    """Record ``run`` as a reproduction of ``fit``, a stored fit with the same model hash, raw
    files and engine versions (no new fit row), with whether every number agreed."""
    result = computed["result"]
    differences = fit_versions.compare_numbers(fit, result)
    run.reproduces = fit
    run.reproduced_exactly = not differences
    run.reproduction_differences = differences
    _mark_succeeded(run, computed, elapsed_s)
    agreed = "every number agreed exactly" if not differences else "; ".join(differences[:5])
    run.log += f"[{timezone.now():%H:%M:%S}] reproduction of fit {fit.pk}: {agreed}\n"
    run.save(update_fields=SUCCEEDED_FIELDS + REPRODUCTION_FIELDS)


def execute_fit_run(run_id: int) -> str:
    """Do the work of one run (the Celery task body). Returns the final status.

    Bad input (non-finite μ, k-range outside the data, unknown paths, FEFF failure, a raw file
    missing from storage…) marks the run failed with the message and changes nothing else. Any
    other error is stored on the run too (message, traceback digest in the log) and fails it
    at once — a run is never left "running" for the heartbeat reaper to guess at.
    """
    claimed = claim_run(run_id, model=FitRun)
    if claimed is None:
        return FitRun.objects.get(pk=run_id).status
    run = cast(FitRun, claimed)
    logger.info("fit run %s: started (attempt %s on %s)", run_id, run.attempts, run.worker)
    started = time.perf_counter()
    try:
        computed = _compute(run)
    except (LabdbError, KeyError, ValueError) as exc:
        message = exc.message if isinstance(exc, LabdbError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ParseError | EngineError | DomainError) and getattr(exc, "field", None):
            field = exc.field or ""
            message = message if field in message else f"{field}: {message}"
        fail_run(run_id, message)
        logger.warning("fit run %s: failed: %s", run_id, message)
        return RunStatus.FAILED
    except Exception as exc:
        fail_unexpected(run_id, "the fit", exc)
        return RunStatus.FAILED
    stored = None
    try:
        stored = _store(run_id, computed, time.perf_counter() - started)
    except LabdbError as exc:  # the result could not be stored: nothing half-written
        fail_run(run_id, f"the result could not be stored: {exc.message}")
    except Exception as exc:
        fail_unexpected(run_id, "storing the result", exc)
    final = stored or FitRun.objects.get(pk=run_id)
    if final.status == RunStatus.SUCCEEDED:
        logger.info(
            "fit run %s: succeeded in %.1f s (fit %s)",
            run_id,
            final.elapsed_s or 0,
            final.result_id,
        )
    else:
        logger.warning("fit run %s: %s: %s", run_id, final.status, final.error)
    return final.status


# --- watchdog, staleness, bulk refit -------------------------------------------------------


def staleness_of(fit: XASFit) -> str:
    """Why a computed fit no longer matches its inputs ("" when it is current)."""
    prov = fit.provenance or {}
    run = getattr(fit, "fit_run", None)
    reasons = []
    spectrum = fit.spectrum
    if len(prov.get("spectra") or []) > 1:
        reasons += _changed_raw_files(prov["spectra"])
    elif (
        spectrum is not None
        and spectrum.data_file is not None
        and spectrum.data_file.sha256 != prov.get("input_sha256")
    ):
        reasons.append("raw file changed")
    if run is not None and canonical_hash(run.model) != prov.get("model_hash"):
        reasons.append("model changed")
    current = software_versions()
    used = prov.get("versions") or {}
    changed = [k for k in ENGINE_VERSION_KEYS if used.get(k) != current.get(k)]
    if changed:
        reasons.append(
            "engine version changed: "
            + ", ".join(f"{k} {used.get(k)} → {current.get(k)}" for k in changed)
        )
    return "; ".join(reasons)


def _changed_raw_files(entries: list[dict]) -> list[str]:
    """'raw file changed: <name>' for each spectrum of a multi-spectrum fit whose file changed."""
    spectra = XASSpectrum.objects.filter(pk__in=[e["spectrum"] for e in entries]).select_related(
        "data_file"
    )
    current = {s.pk: (s.data_file.sha256 if s.data_file else None) for s in spectra}
    changed = [e for e in entries if current.get(e["spectrum"]) != e["sha256"]]
    return [f"raw file changed: {e['file']}" for e in changed]


def mark_stale_fits() -> int:
    """Flag computed fits whose raw file, model or engine version changed. Returns the count."""
    count = 0
    fits = XASFit.objects.filter(source=DataSource.COMPUTED, is_retired=False).select_related(
        "spectrum__data_file", "fit_run"
    )
    for fit in fits:
        reason = staleness_of(fit)
        if bool(reason) != fit.is_stale or reason != fit.stale_reason:
            XASFit.objects.filter(pk=fit.pk).update(is_stale=bool(reason), stale_reason=reason)
        count += bool(reason)
    return count


def refit_stale(*, actor=None, progress=None) -> list[FitRun]:
    """Queue a refit for every stale computed fit; ``progress(i, n)`` after each."""
    mark_stale_fits()
    stale = list(
        XASFit.objects.filter(
            source=DataSource.COMPUTED, is_stale=True, is_retired=False
        ).select_related("fit_run__spectrum")
    )
    runs = []
    for index, fit in enumerate(stale, start=1):
        runs.append(request_refit(fit=fit, actor=actor))
        if progress:
            progress(index, len(stale))
    return runs
