"""XAS fit runs: request (queue after commit), execute exactly once, staleness, refits.

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

import hashlib
import json
import logging
import os
import socket
import threading
import time
import traceback
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from analysis.engines import feff as feff_engine
from analysis.engines._larch import software_versions
from analysis.engines.feffit_model import parse_fit_model
from analysis.enums import RunStatus, StructureSource
from analysis.models import FeffCalculation, FitRun
from characterization.enums import DataSource
from characterization.models import XASFit, XASSpectrum
from characterization.parsers.registry import parse_file
from characterization.services import record_xas_fit
from labdb.lib.errors import DomainError, EngineError, LabdbError, ParseError
from labdb.lib.records import retire_record, with_owner

__all__ = [
    "BROKER_UNAVAILABLE",
    "MAX_ATTEMPTS",
    "DbFeffCache",
    "RunBusy",
    "canonical_hash",
    "dispatch_pending",
    "execute_fit_run",
    "mark_stale_fits",
    "reap_stale_runs",
    "refit_stale",
    "request_fit_run",
    "request_refit",
    "resend_queued_runs",
    "staleness_of",
]

MAX_ATTEMPTS = 3
BROKER_UNAVAILABLE = "queued (broker unavailable, will be re-sent)"
logger = logging.getLogger("analysis.jobs")
ENGINE_VERSION_KEYS = ("xraylarch", "lmfit", "numpy", "scipy", "asteval")


def canonical_hash(data) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --- request -------------------------------------------------------------------------------


def _split_request(model: dict) -> tuple[dict, dict]:
    """(feff spec, engine fit model); DomainError naming the field when malformed."""
    if not isinstance(model, dict):
        raise DomainError("model: expected a JSON object.", field="model")
    body = dict(model)
    feff = body.pop("feff", None)
    if not isinstance(feff, dict) or not (feff.get("path_files") or feff.get("structure")):
        raise DomainError(
            "model.feff: give either path_files {id: text} or a structure "
            "(amcsd, lattice or cif) to compute FEFF paths from.",
            field="model.feff",
        )
    try:
        parsed = parse_fit_model(body)
    except EngineError as exc:
        raise DomainError(
            f"model: {exc.message}", field=f"model.{exc.field or ''}".rstrip(".")
        ) from None
    if len(parsed.datasets) != 1:
        raise DomainError(
            "model.datasets: a fit run fits one spectrum (one dataset).", field="model.datasets"
        )
    return feff, body


def _check_spectrum(spectrum: XASSpectrum) -> None:
    data_file = spectrum.data_file
    if data_file is None:
        raise DomainError(
            f"spectrum: {spectrum} has no raw data file to fit (published spectra carry no data).",
            field="spectrum",
        )
    if data_file.parse_status != "ok":
        raise DomainError(
            f"spectrum: the data file {data_file.original_name} was not parsed "
            f"({data_file.parse_error}).",
            field="spectrum",
        )


@transaction.atomic
def request_fit_run(
    *,
    spectrum: XASSpectrum,
    model: dict,
    actor=None,
    refit_of: XASFit | None = None,
    force: bool = False,
) -> FitRun:
    """Queue a fit of ``spectrum`` with ``model``; the job starts after this transaction commits.

    An identical request (same raw file and model) that is queued, running or succeeded is
    returned instead of a new run, unless ``force`` (re-run to check reproducibility).
    Raises DomainError for an invalid model or a spectrum without parsed raw data.
    """
    _check_spectrum(spectrum)
    _split_request(model)
    input_sha = spectrum.data_file.sha256
    model_hash = canonical_hash(model)
    same = FitRun.objects.filter(input_sha256=input_sha, model_hash=model_hash)
    if not force:
        existing = same.exclude(status=RunStatus.FAILED).order_by("-queued_at").first()
        if existing is not None:
            return existing
    sequence = same.count()
    key = canonical_hash({"input_sha256": input_sha, "model_hash": model_hash, "seq": sequence})
    run = FitRun.objects.create(
        **with_owner({}, actor),
        spectrum=spectrum,
        model=model,
        model_hash=model_hash,
        input_sha256=input_sha,
        idempotency_key=key,
        refit_of=refit_of,
        requested_by=actor,
    )
    transaction.on_commit(lambda: dispatch_fit_run(run.pk))
    return run


def dispatch_fit_run(run_id: int) -> bool:
    """Send the job to Celery workers, or run it here when no broker is configured.

    Returns False when the broker cannot be reached: the run stays committed as queued with
    an empty ``task_id`` and ``resend_queued_runs`` (celery beat) sends it later. Never raises
    for a broker outage — the request that queued the run must not fail because of it.
    """
    from analysis.tasks import run_fit_job

    if run_fit_job.app.conf.task_always_eager:
        # In-process (embedded default): no broker, no producer — just run the task body.
        run_fit_job.apply(args=[run_id])
        return True
    try:
        result = run_fit_job.apply_async(args=[run_id], retry=False)
    except Exception as exc:  # kombu/redis raise many types for "cannot connect"
        logger.warning("fit run %s: broker unavailable (%s); will be re-sent", run_id, exc)
        FitRun.objects.filter(pk=run_id).update(
            log=_log_line(FitRun.objects.get(pk=run_id).log, f"broker unavailable ({exc})")
        )
        return False
    FitRun.objects.filter(pk=run_id, task_id="").update(task_id=result.id or "")
    logger.info("fit run %s: sent to the broker as task %s", run_id, result.id)
    return True


def _log_line(log: str, message: str) -> str:
    return log + f"[{timezone.now():%Y-%m-%d %H:%M:%S}] {message}\n"


def dispatch_pending(run: FitRun) -> bool:
    """True when ``run`` is queued but its message has not reached a broker yet."""
    from analysis.tasks import run_fit_job

    return (
        run.status == RunStatus.QUEUED
        and not run.task_id
        and not run_fit_job.app.conf.task_always_eager
    )


def resend_queued_runs(*, older_than_s: float | None = None, now=None) -> list[int]:
    """Send again every run queued more than ``older_than_s`` seconds ago that has no task id.

    Default age: ``settings.LABDB_JOB_RESEND_AFTER_S``. Returns the ids sent successfully.
    Run by celery beat (``labdb.celery``); a run sent twice is still computed once (``_claim``).
    """
    age_s = settings.LABDB_JOB_RESEND_AFTER_S if older_than_s is None else older_than_s
    limit = (now or timezone.now()) - timedelta(seconds=age_s)
    pending = FitRun.objects.filter(status=RunStatus.QUEUED, task_id="", queued_at__lte=limit)
    sent = [run_id for run_id in pending.values_list("pk", flat=True) if dispatch_fit_run(run_id)]
    if sent:
        logger.info("re-sent %d queued fit run(s): %s", len(sent), sent)
    return sent


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
        spectrum=run.spectrum, model=run.model, actor=actor, refit_of=fit, force=True
    )


# --- FEFF cache in the database ------------------------------------------------------------


class DbFeffCache:
    """``analysis.engines.feff.FeffCache`` backed by FeffCalculation rows."""

    def __init__(
        self, structure: dict, source: str, absorber: str, edge: str, radius: float, version: int
    ):
        self.meta = {
            "structure": structure,
            "structure_source": source,
            "absorber": absorber,
            "edge": edge,
            "cluster_radius_a": radius,
            "feff_version": str(version),
        }

    def get(self, key: str):
        row = FeffCalculation.objects.filter(cache_key=key).first()
        if row is None:
            return None
        run = feff_engine.FeffRun.from_json(row.path_files)
        return feff_engine.FeffRun(**{**run.__dict__, "from_cache": True, "cache_key": key})

    def put(self, key: str, run) -> None:
        paths = [
            {
                "name": p.file_id,
                "reff_a": p.reff_a,
                "degen": p.degen,
                "nleg": p.nleg,
                "geometry": p.label,
            }
            for p in run.paths
        ]
        FeffCalculation.objects.get_or_create(
            cache_key=key,
            defaults={
                **self.meta,
                "feff_input": run.feff_inp,
                "paths": paths,
                "path_files": run.to_json(),
                "elapsed_s": run.elapsed_s,
            },
        )


def _structure(spec: dict):
    source = spec.get("source")
    if source == StructureSource.AMCSD:
        entry = feff_engine.amcsd_cif(
            spec["elements"], mineral=spec.get("mineral"), amcsd_id=spec.get("amcsd_id")
        )
        return entry.cif_text
    if source == StructureSource.CIF:
        return spec["cif_text"]
    if source == StructureSource.LATTICE:
        return feff_engine.LatticeStructure(
            spec["kind"],
            spec["a_a"],
            spec["cation"],
            spec["anion"],
            c_a=spec.get("c_a"),
            u=spec.get("u"),
        )
    raise EngineError(
        f"model.feff.structure.source: {source!r} is not amcsd, cif or lattice",
        field="model.feff.structure.source",
    )


def feff_paths_for(feff: dict) -> tuple[dict[str, str], dict]:
    """Path files {id: text} and their provenance, from given files or a (cached) FEFF run."""
    if feff.get("path_files"):
        files = dict(feff["path_files"])
        return files, {
            "source": "path_files",
            "sha256": {k: hashlib.sha256(v.encode()).hexdigest() for k, v in sorted(files.items())},
        }
    spec = feff["structure"]
    absorber, edge = feff.get("absorber"), feff.get("edge", "K")
    radius = float(feff.get("cluster_radius_a", 6.0))
    version = int(feff.get("feff_version", 6))
    cache = DbFeffCache(spec, spec.get("source", ""), absorber, edge, radius, version)
    run = feff_engine.compute_feff_paths(
        _structure(spec),
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


# --- execution -----------------------------------------------------------------------------


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class RunBusy(Exception):
    """Another live worker holds the run; the task should retry later."""


def _worker_alive(worker: str) -> bool:
    """False when ``worker`` ran on this host and its process is gone (killed mid-fit)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another host: only the heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(run_id: int) -> FitRun | None:
    """Lock the run and mark it running; None when it needs no work (finished).

    Raises RunBusy when another worker that is still alive and beating holds the run.
    """
    with transaction.atomic():
        run = FitRun.objects.select_for_update().get(pk=run_id)
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED) or run.result_id:
            return None
        fresh = timezone.now() - timedelta(seconds=settings.LABDB_JOB_HEARTBEAT_TIMEOUT_S)
        if (
            run.status == RunStatus.RUNNING
            and run.heartbeat_at
            and run.heartbeat_at > fresh
            and run.worker != _worker_name()
            and _worker_alive(run.worker)
        ):
            raise RunBusy(run.worker)
        if run.attempts >= MAX_ATTEMPTS:
            run.status = RunStatus.FAILED
            run.error = f"gave up after {run.attempts} attempts (workers lost)"
            run.finished_at = timezone.now()
            run.save()
            return None
        if run.status == RunStatus.RUNNING:
            run.log += f"[{timezone.now():%H:%M:%S}] worker {run.worker} lost; taking over\n"
        run.status = RunStatus.RUNNING
        run.attempts += 1
        run.started_at = run.started_at or timezone.now()
        run.heartbeat_at = timezone.now()
        run.worker = _worker_name()
        run.progress_pct = 5
        run.log += f"[{timezone.now():%Y-%m-%d %H:%M:%S}] attempt {run.attempts} on {run.worker}\n"
        run.save()
        return run


@contextmanager
def _heartbeat(run_id: int, every_s: float = 5.0):
    """Refresh ``heartbeat_at`` from a background thread while the fit computes."""
    stop = threading.Event()

    def beat():
        while not stop.wait(every_s):
            try:
                FitRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
            except Exception:  # a missed beat is harmless; the next one may succeed
                continue
        connection.close()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every_s + 1)


def _progress(run: FitRun, pct: int, message: str) -> None:
    run.progress_pct = pct
    run.log += f"[{timezone.now():%H:%M:%S}] {message}\n"
    FitRun.objects.filter(pk=run.pk).update(
        progress_pct=pct, log=run.log, heartbeat_at=timezone.now()
    )


def load_mu(spectrum: XASSpectrum) -> tuple[list, list, dict]:
    """Energy (eV) and μ(E) from the spectrum's raw file, parsed again from the stored bytes."""
    data_file = spectrum.data_file
    try:
        with default_storage.open(data_file.file.name, "rb") as handle:
            content = handle.read()
    except FileNotFoundError:
        raise DomainError(
            f"spectrum: raw file {data_file.original_name} ({data_file.file.name}) is missing "
            "from storage; restore it from a backup or re-upload it.",
            field="spectrum",
        ) from None
    if hashlib.sha256(content).hexdigest() != data_file.sha256:
        raise DomainError(
            f"spectrum: the stored file {data_file.original_name} no longer matches its sha256.",
            field="spectrum",
        )
    parsed = parse_file(content, filename=data_file.original_name)
    mu = next((s for s in parsed.series if s.name.startswith("μ")), None) or parsed.series[0]
    return (
        mu.x,
        mu.y,
        {
            "sha256": data_file.sha256,
            "file": data_file.original_name,
            "parser": parsed.parser_name,
            "parser_version": parsed.parser_version,
        },
    )


def _compute(run: FitRun) -> dict:
    from analysis.engines.fitting import run_fit
    from analysis.engines.xas_processing import process_mu

    feff_spec, model = _split_request(run.model)
    energy, mu, raw = load_mu(run.spectrum)
    _progress(run, 15, f"read {raw['file']} ({len(energy)} points)")
    path_files, feff_info = feff_paths_for(feff_spec)
    _progress(
        run,
        35,
        f"FEFF paths: {len(path_files)} ({feff_info.get('source')}, "
        f"from cache: {feff_info.get('from_cache')})",
    )
    dataset_id = model["datasets"][0]["id"]
    with _heartbeat(run.pk):
        result = run_fit({dataset_id: {"energy_ev": energy, "mu": mu}}, model, path_files)
    _progress(
        run,
        90,
        f"fit done: R-factor {result.statistics['rfactor']:.5f}, nfev {result.statistics['nfev']}",
    )
    spectrum = process_mu(energy, mu, **result.datasets[0]["processing"])
    return {
        "result": result,
        "raw": raw,
        "feff": feff_info,
        "feff_spec": feff_spec,
        "spectrum": spectrum,
    }


def _fit_record(run: FitRun, computed: dict) -> dict:
    result = computed["result"]
    dataset = result.datasets[0]
    transform = dataset["transform"]
    stats = result.statistics
    e0 = next((p for p in result.paths if p.get("delta_e0_ev") is not None), {})
    kweight = transform.get("kweight")
    return {
        "source": DataSource.COMPUTED,
        "absorber": run.spectrum.element,
        "edge_name": run.spectrum.edge,
        "spectrum": run.spectrum,
        "label": f"fit run {run.pk}",
        "software": f"labdb + xraylarch {result.versions.get('xraylarch')}",
        "k_min": transform.get("kmin"),
        "k_max": transform.get("kmax"),
        "r_min_a": transform.get("rmin"),
        "r_max_a": transform.get("rmax"),
        "k_weight": ",".join(map(str, kweight)) if isinstance(kweight, list) else str(kweight),
        "window": str(transform.get("window") or ""),
        "delta_e0_ev": e0.get("delta_e0_ev"),
        "delta_e0_err_ev": e0.get("delta_e0_err_ev"),
        "r_factor": stats.get("rfactor"),
        "reduced_chi2": stats.get("chi2_reduced"),
        "measured_at": run.spectrum.measured_at,
        "age_days": run.spectrum.age_days,
        "age_label": run.spectrum.age_label,
        "owner": run.owner,
        "provenance": _provenance(run, computed),
    }


def _provenance(run: FitRun, computed: dict) -> dict:
    result = computed["result"]
    return {
        "fit_run": run.pk,
        "input_sha256": run.input_sha256,
        "raw_file": computed["raw"],
        "model_hash": run.model_hash,
        "model": run.model,
        "resolved_model": result.model,
        "feff": computed["feff"],
        "processing": result.datasets[0]["processing"],
        "versions": result.versions,
        "elapsed_s": result.elapsed_s,
        "statistics": result.statistics,
        "parameters": result.parameters,
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
                    "path_file": path.get("path_file"),
                    "reff_a": path.get("reff_a"),
                },
            }
        )
    return rows


def _store(run_id: int, computed: dict, elapsed_s: float) -> None:
    """Write the result once: under the run's row lock, only if it has no result yet."""
    with transaction.atomic():
        run = FitRun.objects.select_for_update().select_related("spectrum").get(pk=run_id)
        if run.result_id is not None:
            return
        fit = record_xas_fit(
            sample=run.spectrum.sample,
            data=_fit_record(run, computed),
            paths=_path_rows(computed["result"]),
            actor=run.owner,
        )
        run.result = fit
        run.status = RunStatus.SUCCEEDED
        run.progress_pct = 100
        run.finished_at = timezone.now()
        run.elapsed_s = elapsed_s
        run.feff = FeffCalculation.objects.filter(
            cache_key=computed["feff"].get("cache_key") or ""
        ).first()
        run.result_data = {
            "fit": computed["result"].to_json(),
            "spectrum": computed["spectrum"].to_json(with_arrays=True),
        }
        run.log += f"[{timezone.now():%H:%M:%S}] stored fit {fit.pk}\n"
        run.save()
        old = run.refit_of
        if old is not None and old.is_stale and not old.is_retired:
            retire_record(
                old, reason=f"superseded by fit {fit.pk} (refit of a stale fit)", actor=run.owner
            )


def _fail(run_id: int, message: str) -> None:
    with transaction.atomic():
        run = FitRun.objects.select_for_update().get(pk=run_id)
        if run.result_id is not None:
            return
        run.status = RunStatus.FAILED
        run.error = message
        run.finished_at = timezone.now()
        run.log += f"[{timezone.now():%H:%M:%S}] failed: {message}\n"
        run.save()


def _traceback_digest(exc: BaseException, frames: int = 4) -> str:
    """The exception type and the last ``frames`` frames as ``file:line in function`` lines."""
    stack = traceback.extract_tb(exc.__traceback__)[-frames:]
    lines = [f"  {os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in stack]
    return f"{type(exc).__name__} traceback (last {len(lines)} frames):\n" + "\n".join(lines)


def _fail_unexpected(run_id: int, stage: str, exc: Exception) -> None:
    """Store an unexpected worker error on the run (message + digest) and fail it once."""
    message = f"{stage} failed unexpectedly: {type(exc).__name__}: {exc}"
    logger.exception("fit run %s: %s", run_id, message)
    with transaction.atomic():
        FitRun.objects.select_for_update().filter(pk=run_id).update(
            log=_log_line(FitRun.objects.get(pk=run_id).log, _traceback_digest(exc))
        )
    _fail(run_id, message)


def execute_fit_run(run_id: int) -> str:
    """Do the work of one run (the Celery task body). Returns the final status.

    Bad input (non-finite μ, k-range outside the data, unknown paths, FEFF failure, a raw file
    missing from storage…) marks the run failed with the message and changes nothing else. Any
    other error is stored on the run too (message, traceback digest in the log) and fails it
    at once — a run is never left "running" for the heartbeat reaper to guess at.
    """
    run = _claim(run_id)
    if run is None:
        return FitRun.objects.get(pk=run_id).status
    logger.info("fit run %s: started (attempt %s on %s)", run_id, run.attempts, run.worker)
    started = time.perf_counter()
    try:
        computed = _compute(run)
    except (LabdbError, KeyError, ValueError) as exc:
        message = exc.message if isinstance(exc, LabdbError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ParseError | EngineError | DomainError) and getattr(exc, "field", None):
            message = f"{message}" if exc.field in message else f"{exc.field}: {message}"
        _fail(run_id, message)
        logger.warning("fit run %s: failed: %s", run_id, message)
        return RunStatus.FAILED
    except Exception as exc:
        _fail_unexpected(run_id, "the fit", exc)
        return RunStatus.FAILED
    try:
        _store(run_id, computed, time.perf_counter() - started)
    except LabdbError as exc:  # the result could not be stored: nothing half-written
        _fail(run_id, f"the result could not be stored: {exc.message}")
    except Exception as exc:
        _fail_unexpected(run_id, "storing the result", exc)
    final = FitRun.objects.get(pk=run_id)
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


def reap_stale_runs(*, now=None) -> dict[str, int]:
    """Runs whose worker stopped beating: re-queue (attempts left) or mark failed.

    Never leaves a run 'running' forever. Returns counts {"requeued": n, "failed": n}.
    """
    now = now or timezone.now()
    limit = now - timedelta(seconds=settings.LABDB_JOB_HEARTBEAT_TIMEOUT_S)
    counts = {"requeued": 0, "failed": 0}
    stale_ids = list(
        FitRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=limit).values_list(
            "pk", flat=True
        )
    )
    for run_id in stale_ids:
        with transaction.atomic():
            run = FitRun.objects.select_for_update().get(pk=run_id)
            if run.status != RunStatus.RUNNING or run.heartbeat_at >= limit:
                continue
            if run.attempts >= MAX_ATTEMPTS:
                run.status = RunStatus.FAILED
                run.error = (
                    f"the worker stopped responding {run.attempts} times (last "
                    f"heartbeat {run.heartbeat_at:%Y-%m-%d %H:%M:%S}); giving up"
                )
                run.finished_at = now
                counts["failed"] += 1
            else:
                run.status = RunStatus.QUEUED
                run.log += f"[{now:%H:%M:%S}] worker {run.worker} lost; re-queued\n"
                counts["requeued"] += 1
                transaction.on_commit(lambda rid=run.pk: dispatch_fit_run(rid))
            run.save()
    return counts


def staleness_of(fit: XASFit) -> str:
    """Why a computed fit no longer matches its inputs ("" when it is current)."""
    prov = fit.provenance or {}
    run = getattr(fit, "fit_run", None)
    reasons = []
    spectrum = fit.spectrum
    if (
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
