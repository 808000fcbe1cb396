"""The run lifecycle every kind of analysis shares (``analysis/kinds/base.py`` is the contract).

request → resolve inputs (``inputs.<role>``) → validate parameters (``parameters.<field>``) →
``kind.check`` → idempotency (same kind, input fingerprints, parameters and engine version →
the existing run, flagged ``repeat``) → create → job ``analysis.run_analysis`` after commit →
claim under a row lock (heartbeat, attempts, reaper) → ``kind.load`` → ``kind.compute`` with a
throttled progress callback → ``kind.store`` + succeeded + provenance in one transaction,
exactly once → staleness (an input's fingerprint or the engine version changed) → rerun.

Kind ``exafs_fit`` keeps its own request and job (``analysis/services/fits.py``); it shares the
claim, heartbeat, failure and staleness vocabulary defined here.
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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import metadata
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from analysis.enums import RunStatus
from analysis.kinds.base import (
    INPUT_TYPES,
    MEASUREMENT_INPUT_TYPES,
    AnalysisKind,
    InputRole,
    all_kinds,
    get_kind,
)
from analysis.models import EXAFS_FIT_KIND, AnalysisRun
from characterization.enums import DataSource
from characterization.models import ReportedQuantity
from labdb.lib import jobs
from labdb.lib.errors import DomainError, LabdbError
from labdb.lib.permissions import can_edit
from labdb.lib.records import record_label, save_validated, with_owner
from synthesis.models import Sample

__all__ = [
    "ANALYSIS_JOB",
    "BROKER_UNAVAILABLE",
    "MAX_ATTEMPTS",
    "RunBusy",
    "build_provenance",
    "canonical_hash",
    "claim_run",
    "dispatch_pending",
    "dispatch_run",
    "execute_run",
    "fail_analysis_run",
    "fail_run",
    "fail_unexpected",
    "has_result",
    "heartbeat",
    "input_fingerprint",
    "input_fingerprint_of",
    "job_of",
    "log_line",
    "reap_stale_runs",
    "record_dispatch",
    "record_not_sent",
    "record_run_dispatch",
    "record_run_quantity",
    "recover_lost_runs",
    "request_rerun",
    "request_run",
    "resend_queued_runs",
    "resolve_inputs",
    "run_provenance",
    "run_records",
    "staleness_of_run",
    "traceback_digest",
    "validate_parameters",
    "worker_alive",
    "worker_name",
]

ANALYSIS_JOB = "analysis.run_analysis"  # registered in analysis/tasks.py
MAX_ATTEMPTS = 3
PROGRESS_EVERY_S = 1.0
logger = logging.getLogger("analysis.jobs")


def canonical_hash(data: Any) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _jsonable(data: Any) -> Any:
    """Validated serializer data as plain JSON (dates, decimals and tuples converted)."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


# --- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedInputs:
    """Rows by role (a list for ``many`` roles) and the stored ``inputs`` entries."""

    rows: dict[str, Any]
    entries: list[dict]
    samples: list[int] = field(default_factory=list)


def _input_model(type_name: str) -> type[models.Model]:
    return apps.get_model(INPUT_TYPES[type_name])


def _data_file_of(type_name: str, row: Any) -> Any:
    return row if type_name == "file" else getattr(row, "data_file", None)


def input_fingerprint(type_name: str, row: Any) -> dict:
    """What identifies the state of an input: its raw file's sha256 and the parser that read
    it (for spectra and files), and the record's version."""
    out: dict[str, Any] = {}
    data_file = _data_file_of(type_name, row)
    if data_file is not None:
        out["sha256"] = data_file.sha256
        out["parsed_by"] = f"{data_file.parser_name} {data_file.parser_version}".strip()
    if getattr(row, "version", None) is not None:
        out["version"] = row.version
    return out


def _role_ids(role: InputRole, raw: Any) -> list[int]:
    """The ids given for ``role``; DomainError naming ``inputs.<role>`` otherwise."""
    where = f"inputs.{role.name}"
    values = raw if role.many else [raw]
    if role.many and not isinstance(raw, list):
        raise DomainError(f"{where}: expected a list of {role.type} ids.", field=where)
    if any(not isinstance(v, int) or isinstance(v, bool) for v in values):
        raise DomainError(f"{where}: expected {role.type} ids (integers), got {raw!r}.",
                          field=where)
    if role.many and len(values) < role.min:
        raise DomainError(f"{where}: give at least {role.min} {role.type} ids.", field=where)
    if role.many and role.max is not None and len(values) > role.max:
        raise DomainError(f"{where}: give at most {role.max} {role.type} ids.", field=where)
    if len(set(values)) != len(values):
        raise DomainError(f"{where}: an id is given twice.", field=where)
    return list(values)


def _role_rows(role: InputRole, ids: list[int]) -> list[Any]:
    where = f"inputs.{role.name}"
    model = _input_model(role.type)
    qs = model._default_manager.all()
    if role.type in MEASUREMENT_INPUT_TYPES:
        qs = qs.select_related("sample", "data_file")
    found = {row.pk: row for row in qs.filter(pk__in=ids)}
    for ident in ids:
        row = found.get(ident)
        if row is None:
            raise DomainError(f"{where}: there is no {role.type} {ident}.", field=where)
        if getattr(row, "is_retired", False):
            reason = getattr(row, "retired_reason", "")
            raise DomainError(
                f"{where}: {record_label(row)} is retired ({reason}); restore it or choose "
                "another.",
                field=where,
            )
    return [found[ident] for ident in ids]


def _sample_id(type_name: str, row: Any) -> int | None:
    if type_name == "sample":
        return row.pk
    if type_name == "run":
        return None
    return getattr(row, "sample_id", None)


def resolve_inputs(kind: AnalysisKind, given: Mapping[str, Any] | None) -> ResolvedInputs:
    """Turn ``{role: id | [ids]}`` into rows and ``inputs`` entries (with fingerprints).

    Raises DomainError naming ``inputs`` or ``inputs.<role>``: not an object, an unknown role,
    a required role missing, a wrong id shape, a missing or retired record.
    """
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise DomainError("inputs: expected an object {role: id or [ids]}.", field="inputs")
    roles = {role.name: role for role in kind.inputs}
    unknown = sorted(set(given) - set(roles))
    if unknown:
        raise DomainError(
            f"inputs.{unknown[0]}: {kind.name} takes no input {unknown[0]!r} (roles: "
            f"{', '.join(roles) or 'none'}).",
            field=f"inputs.{unknown[0]}",
        )
    rows: dict[str, Any] = {}
    entries: list[dict] = []
    samples: list[int] = []
    for role in kind.inputs:
        if given.get(role.name) is None:
            if role.required:
                raise DomainError(f"inputs.{role.name}: required ({role.help or role.type}).",
                                  field=f"inputs.{role.name}")
            continue
        found = _role_rows(role, _role_ids(role, given[role.name]))
        rows[role.name] = found if role.many else found[0]
        for row in found:
            entries.append({"role": role.name, "type": role.type, "id": row.pk,
                            "label": str(row), **input_fingerprint(role.type, row)})
            sample = _sample_id(role.type, row)
            if sample is not None and sample not in samples:
                samples.append(sample)
    return ResolvedInputs(rows, entries, samples)


def _given_inputs(run: AnalysisRun, kind: AnalysisKind) -> dict[str, Any]:
    """``{role: id | [ids]}`` of a stored run (what its request gave)."""
    out: dict[str, Any] = {}
    for role in kind.inputs:
        ids = [e["id"] for e in run.inputs if e["role"] == role.name]
        if ids:
            out[role.name] = ids if role.many else ids[0]
    return out


# --- request -------------------------------------------------------------------------------


def _kind_named(name: Any) -> AnalysisKind:
    try:
        return get_kind(str(name))
    except KeyError:
        known = ", ".join(k.name for k in all_kinds())
        raise DomainError(f"kind: no analysis kind {name!r} (kinds: {known}).",
                          field="kind") from None


def validate_parameters(kind: AnalysisKind, parameters: Any) -> dict:
    """The kind's schema applied to ``parameters``; ValidationError keyed
    ``parameters.<field>`` (a 400 naming the field) otherwise."""
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, Mapping):
        raise DomainError("parameters: expected a JSON object.", field="parameters")
    schema = kind.parameters(data=dict(parameters))
    if not schema.is_valid():
        raise ValidationError({"parameters": schema.errors})
    return _jsonable(schema.validated_data)


def _repeat_or_key(
    kind: AnalysisKind, inputs_hash: str, params_hash: str, force: bool
) -> tuple[AnalysisRun | None, str]:
    """(the identical earlier run, flagged ``repeat``, or None; the new run's idempotency
    key). A failed run is no repeat; ``force`` always makes a new run."""
    same = AnalysisRun.objects.filter(
        kind=kind.name, input_sha256=inputs_hash, model_hash=params_hash,
        engine_version=kind.engine_version,
    )
    if not force:
        existing = same.exclude(status=RunStatus.FAILED).order_by("-queued_at").first()
        if existing is not None:
            existing.repeat = True
            return existing, existing.idempotency_key
    key = canonical_hash({"kind": kind.name, "inputs": inputs_hash, "parameters": params_hash,
                          "engine": kind.engine_version, "seq": same.count()})
    return None, key


@transaction.atomic
def request_run(
    *,
    kind: str,
    inputs: Mapping[str, Any] | None,
    parameters: Mapping[str, Any] | None,
    actor: Any = None,
    rerun_of: AnalysisRun | None = None,
    force: bool = False,
) -> AnalysisRun:
    """Queue a run of ``kind`` on ``inputs`` (``{role: id | [ids]}``) with ``parameters``.

    An identical request (same kind, input fingerprints, parameters and engine version) that
    is queued, running or succeeded is returned instead (``run.repeat`` is True), unless
    ``force`` (a rerun). The job starts after this transaction commits (at once under pytest).
    Raises DomainError / ValidationError naming ``kind``, ``inputs.<role>`` or
    ``parameters.<field>``.
    """
    kind_obj = _kind_named(kind)
    resolved = resolve_inputs(kind_obj, inputs)
    validated = validate_parameters(kind_obj, parameters)
    kind_obj.check(validated, resolved.rows)
    custom = kind_obj.submit(
        rows=resolved.rows, parameters=validated, actor=actor, rerun_of=rerun_of, force=force
    )
    if custom is not None:
        return _with_generic_fields(custom, kind_obj, resolved, validated, rerun_of)
    inputs_hash = canonical_hash([[e["role"], e["type"], e["id"], input_fingerprint_of(e)]
                                  for e in resolved.entries])
    params_hash = canonical_hash(validated)
    existing, key = _repeat_or_key(kind_obj, inputs_hash, params_hash, force)
    if existing is not None:
        return existing
    run = AnalysisRun.objects.create(
        **with_owner({}, actor), kind=kind_obj.name, inputs=resolved.entries,
        parameters=validated, engine_name=kind_obj.engine_name,
        engine_version=kind_obj.engine_version, input_sha256=inputs_hash,
        model_hash=params_hash, idempotency_key=key, requested_by=actor, refit_of_run=rerun_of,
    )
    run.input_samples.set(resolved.samples)
    if jobs.submit(kind_obj.job_name, run.pk):  # the inline runner (tests) has run it
        run.refresh_from_db()
    run.repeat = False
    return run


def input_fingerprint_of(entry: Mapping[str, Any]) -> dict:
    """The fingerprint part of a stored ``inputs`` entry."""
    return {k: entry[k] for k in ("sha256", "parsed_by", "version") if k in entry}


def _with_generic_fields(
    run: AnalysisRun, kind: AnalysisKind, resolved: ResolvedInputs, validated: dict,
    rerun_of: AnalysisRun | None,
) -> AnalysisRun:
    """A run made by a kind's own request path, given the generic fields it lacks."""
    repeat = bool(getattr(run, "repeat", False))
    changed: dict[str, Any] = {"inputs": resolved.entries, "parameters": validated,
               "engine_name": kind.engine_name, "engine_version": kind.engine_version}
    if rerun_of is not None and run.refit_of_run_id is None:
        changed["refit_of_run"] = rerun_of
    if not run.inputs or "refit_of_run" in changed:
        AnalysisRun.objects.filter(pk=run.pk).update(**changed)
        run.refresh_from_db()
        run.input_samples.set(resolved.samples)
    run.repeat = repeat
    return run


# --- claim, heartbeat, progress, failure (every kind, the EXAFS fit included) --------------

BROKER_UNAVAILABLE = "queued (broker unavailable, will be re-sent)"
CLAIM_FIELDS = ("status", "attempts", "started_at", "heartbeat_at", "worker", "progress_pct", "log")


def job_of(kind: str) -> str:
    """The job name that executes runs of ``kind`` (``analysis.run_analysis`` by default)."""
    try:
        return get_kind(kind).job_name
    except KeyError:
        return ANALYSIS_JOB


def worker_name() -> str:
    """``host:pid`` of this process (the run's ``worker``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_alive(worker: str) -> bool:
    """False when ``worker`` ran on this host and its process is gone (killed mid-run)."""
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


class RunBusy(Exception):
    """Another live worker holds the run; the job should leave it or retry later."""


def log_line(log: str, message: str, now: datetime | None = None) -> str:
    """``log`` with one time-stamped line added."""
    return log + f"[{(now or timezone.now()):%Y-%m-%d %H:%M:%S}] {message}\n"


def has_result(run: AnalysisRun) -> bool:
    """True once the run stored its result (a fit, a reproduction, or an output)."""
    return run.result_id is not None or run.reproduces_id is not None or run.output is not None


def _finished(run: AnalysisRun) -> bool:
    return run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED) or has_result(run)


def claim_run(run_id: int, *, model: type[AnalysisRun] = AnalysisRun) -> AnalysisRun | None:
    """Lock the run and mark it running; None when it needs no work (finished, or out of
    attempts — then it is stored failed). Raises RunBusy when another live, beating worker
    holds it. ``model``: the class of the returned row (``FitRun`` for the fit path)."""
    with transaction.atomic():
        run = model._default_manager.select_for_update().get(pk=run_id)
        if _finished(run):
            return None
        now = timezone.now()
        fresh = now - timedelta(seconds=settings.LABDB_JOB_HEARTBEAT_TIMEOUT_S)
        if (run.status == RunStatus.RUNNING and run.heartbeat_at and run.heartbeat_at > fresh
                and run.worker != worker_name() and worker_alive(run.worker)):
            raise RunBusy(run.worker)
        if run.attempts >= MAX_ATTEMPTS:
            run.status, run.finished_at = RunStatus.FAILED, now
            run.error = f"gave up after {run.attempts} attempts (workers lost)"
            run.save()
            return None
        if run.status == RunStatus.RUNNING:
            run.log = log_line(run.log, f"worker {run.worker} lost; taking over", now)
        run.status, run.attempts = RunStatus.RUNNING, run.attempts + 1
        run.started_at = run.started_at or now
        run.heartbeat_at, run.worker, run.progress_pct = now, worker_name(), 5
        run.log = log_line(run.log, f"attempt {run.attempts} on {run.worker}", now)
        # one UPDATE, no history row: the run's history records its request and its outcome
        AnalysisRun.objects.filter(pk=run.pk).update(
            **{name: getattr(run, name) for name in CLAIM_FIELDS})
        return run


@contextmanager
def heartbeat(run_id: int, every_s: float = 5.0) -> Iterator[None]:
    """Refresh ``heartbeat_at`` from a background thread while the run computes.

    No thread when the run executes inside the requesting transaction (the ``inline`` runner):
    the run is not visible to any other worker yet, and on SQLite the beat's UPDATE would wait
    for that transaction's write lock.
    """
    if connection.in_atomic_block:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                AnalysisRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
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


class _Progress:
    """The ``progress(pct, message)`` callback a kind's compute gets: every message goes to
    the log, the row is written at most every ``PROGRESS_EVERY_S`` (and at 100 %)."""

    def __init__(self, run: AnalysisRun) -> None:
        self.run_id, self.log, self.pct = run.pk, run.log, run.progress_pct
        self.last_write = 0.0

    def __call__(self, pct: int, message: str) -> None:
        self.pct = max(0, min(100, int(pct)))
        self.log = log_line(self.log, f"{self.pct:3d} % {message}")
        now = time.monotonic()
        if now - self.last_write >= PROGRESS_EVERY_S or self.pct >= 100:
            self.flush()
            self.last_write = now

    def flush(self) -> None:
        AnalysisRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(
            progress_pct=self.pct, log=self.log, heartbeat_at=timezone.now()
        )


def fail_run(run_id: int, message: str) -> None:
    """Store the run failed with ``message`` (a chemist's sentence) unless it has a result."""
    with transaction.atomic():
        run = AnalysisRun.objects.select_for_update().get(pk=run_id)
        if has_result(run):
            return
        run.status, run.error, run.finished_at = RunStatus.FAILED, message, timezone.now()
        run.log = log_line(run.log, f"failed: {message}")
        run.save()


fail_analysis_run = fail_run  # the name the analysis job's on_error hook uses


def traceback_digest(exc: BaseException, frames: int = 4) -> str:
    """The exception type and the last ``frames`` frames as ``file:line in function``."""
    stack = traceback.extract_tb(exc.__traceback__)[-frames:]
    lines = [f"  {os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in stack]
    return f"{type(exc).__name__} traceback (last {len(lines)} frames):\n" + "\n".join(lines)


def fail_unexpected(run_id: int, stage: str, exc: Exception) -> None:
    """Store an unexpected worker error on the run (message + digest in the log), failed."""
    message = f"{stage} failed unexpectedly: {type(exc).__name__}: {exc}"
    logger.exception("analysis run %s: %s", run_id, message)
    with transaction.atomic():
        log = AnalysisRun.objects.select_for_update().get(pk=run_id).log
        AnalysisRun.objects.filter(pk=run_id).update(log=log_line(log, traceback_digest(exc)))
    fail_run(run_id, message)


# --- execution -----------------------------------------------------------------------------


def _load_rows(run: AnalysisRun, kind: AnalysisKind) -> dict[str, Any]:
    """The stored inputs of ``run`` as rows by role (as the request resolved them)."""
    rows: dict[str, Any] = {}
    for role in kind.inputs:
        ids = [e["id"] for e in run.inputs if e["role"] == role.name]
        if not ids:
            continue
        model = _input_model(role.type)
        found = {row.pk: row for row in model._default_manager.filter(pk__in=ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise DomainError(f"inputs.{role.name}: {role.type} {missing[0]} no longer exists.",
                              field=f"inputs.{role.name}")
        ordered = [found[i] for i in ids]
        rows[role.name] = ordered if role.many else ordered[0]
    return rows


def _software() -> dict[str, str]:
    out = {}
    for package in ("xraylarch", "numpy", "scipy", "lmfit", "pandas", "uncertainties"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out


def _labdb_version() -> str:
    try:
        return metadata.version("labdb")
    except metadata.PackageNotFoundError:
        return getattr(settings, "LABDB_VERSION", "") or "dev"


def build_provenance(run: AnalysisRun, finished_at: datetime) -> dict:
    """The one provenance shape (``analysis.kinds.base.PROVENANCE_KEYS``)."""
    return {
        "kind": run.kind,
        "engine": {"name": run.engine_name, "version": run.engine_version},
        "software": _software(),
        "parameters": run.parameters,
        "inputs": run.inputs,
        "requested_by": run.requested_by.get_username() if run.requested_by else None,
        "requested_at": run.queued_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "labdb_version": _labdb_version(),
    }


def _record_ref(record: Any) -> dict:
    return {"type": type(record).__name__, "id": record.pk, "label": str(record)}


def _store(run_id: int, kind: AnalysisKind, result: dict, rows: dict, elapsed_s: float) -> None:
    """Store the result exactly once: under the row lock, only if the run has none yet."""
    with transaction.atomic():
        locked = AnalysisRun.objects.select_for_update(of=("self",))
        run = locked.select_related("requested_by").get(pk=run_id)
        if _finished(run):
            return
        records = kind.store(run, result, rows)
        now = timezone.now()
        run.output, run.status, run.progress_pct = result, RunStatus.SUCCEEDED, 100
        run.finished_at, run.elapsed_s, run.error = now, elapsed_s, ""
        run.result_data = {"records": [_record_ref(r) for r in records]}
        run.provenance = build_provenance(run, now)
        run.log = log_line(AnalysisRun.objects.get(pk=run_id).log,
                            f"stored: {len(records)} record(s)", now)
        run.save()


def _checked_json(result: Any) -> dict:
    """``result`` if it is a JSON object without NaN/∞; DomainError otherwise."""
    if not isinstance(result, dict):
        raise DomainError("the engine returned no JSON object (a bug in the kind).")
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DomainError(f"the engine's result is not plain JSON ({exc}).") from None
    return result


def execute_run(run_id: int) -> str:
    """Do the work of one run (the job body); returns the final status.

    A second execution of a finished run does nothing. A ``LabdbError`` (bad input found at
    compute time) stores the run failed with its message; any other error fails it with the
    message and a traceback digest in the log. Raises RunBusy when another live worker has it.
    """
    run = claim_run(run_id)
    if run is None:
        return AnalysisRun.objects.get(pk=run_id).status
    started = time.perf_counter()
    progress = _Progress(run)
    try:
        kind = get_kind(run.kind)
        rows = _load_rows(run, kind)
        with heartbeat(run.pk):
            loaded = kind.load(run, rows)
            result = _checked_json(kind.compute(loaded, run.parameters, progress))
        progress.flush()
    except LabdbError as exc:
        progress.flush()
        fail_run(run_id, exc.message)
        return RunStatus.FAILED
    except Exception as exc:
        progress.flush()
        fail_unexpected(run_id, "the analysis", exc)
        return RunStatus.FAILED
    try:
        _store(run_id, kind, result, rows, time.perf_counter() - started)
    except LabdbError as exc:  # nothing half-written: the transaction rolled back
        fail_run(run_id, f"the result could not be stored: {exc.message}")
    except Exception as exc:
        fail_unexpected(run_id, "storing the result", exc)
    return AnalysisRun.objects.get(pk=run_id).status


# --- dispatch, reaper, sweeps (every kind) -------------------------------------------------


def dispatch_run(run_id: int) -> bool:
    """Hand the run to its kind's job now; False when the broker cannot be reached (the run
    stays queued with an empty ``task_id`` and ``resend_queued_runs`` sends it later)."""
    kind = AnalysisRun.objects.values_list("kind", flat=True).get(pk=run_id)
    return jobs.dispatch(job_of(kind), run_id)


def record_dispatch(task_id: str, run_id: int) -> None:
    """The run was handed to a runner as ``task_id`` (Celery id, or ``pool:host:pid``)."""
    runs = AnalysisRun.objects.filter(pk=run_id)
    if not task_id.startswith("pool:"):
        runs = runs.filter(task_id="")  # a redelivery keeps the first Celery task id
    runs.update(task_id=task_id)
    logger.info("analysis run %s: queued as %s", run_id, task_id)


record_run_dispatch = record_dispatch


def record_not_sent(exc: Exception, run_id: int) -> None:
    """The broker could not be reached: note it on the run (the sweep re-sends it)."""
    logger.warning("analysis run %s: %s; will be re-sent", run_id, exc)
    log = AnalysisRun.objects.get(pk=run_id).log
    AnalysisRun.objects.filter(pk=run_id).update(log=log_line(log, str(exc)))


def dispatch_pending(run: AnalysisRun) -> bool:
    """True when ``run`` is queued but its message has not reached a broker yet."""
    return run.status == RunStatus.QUEUED and not run.task_id and jobs.runner() == "celery"


def _reap_one(run_id: int, now: datetime, limit: datetime, counts: dict[str, int]) -> None:
    with transaction.atomic():
        run = AnalysisRun.objects.select_for_update().get(pk=run_id)
        if run.status != RunStatus.RUNNING or (run.heartbeat_at and run.heartbeat_at >= limit):
            return
        if run.attempts >= MAX_ATTEMPTS:
            run.status, run.finished_at = RunStatus.FAILED, now
            beat = f"{run.heartbeat_at:%Y-%m-%d %H:%M:%S}" if run.heartbeat_at else "never"
            run.error = (f"the worker stopped responding {run.attempts} times (last "
                         f"heartbeat {beat}); giving up")
            counts["failed"] += 1
            run.save()
            return
        run.status = RunStatus.QUEUED
        run.log += f"[{now:%H:%M:%S}] worker {run.worker} lost; re-queued\n"
        run.save()
        counts["requeued"] += 1
        jobs.submit(job_of(run.kind), run.pk)


def reap_stale_runs(*, now: datetime | None = None) -> dict[str, int]:
    """Runs of any kind whose worker stopped beating: re-queued while attempts are left,
    else failed. Never leaves a run 'running' forever. Returns {"requeued", "failed"}."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=settings.LABDB_JOB_HEARTBEAT_TIMEOUT_S)
    counts = {"requeued": 0, "failed": 0}
    stale = AnalysisRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=limit)
    for run_id in list(stale.values_list("pk", flat=True)):
        _reap_one(run_id, now, limit, counts)
    return counts


def resend_queued_runs(*, older_than_s: float | None = None,
                       now: datetime | None = None) -> list[int]:
    """Send again every run queued more than ``older_than_s`` seconds ago (default
    ``settings.LABDB_JOB_RESEND_AFTER_S``) that has no task id; returns the ids sent.
    Run by celery beat; a run sent twice is still computed once (``claim_run``)."""
    age_s = settings.LABDB_JOB_RESEND_AFTER_S if older_than_s is None else older_than_s
    limit = (now or timezone.now()) - timedelta(seconds=age_s)
    pending = AnalysisRun.objects.filter(status=RunStatus.QUEUED, task_id="",
                                         queued_at__lte=limit)
    sent = [run_id for run_id in pending.values_list("pk", flat=True) if dispatch_run(run_id)]
    if sent:
        logger.info("re-sent %d queued analysis run(s): %s", len(sent), sent)
    return sent


def recover_lost_runs() -> dict[str, int]:
    """Embedded pool sweep (at server start, then every ``LABDB_JOB_SWEEP_EVERY_S``): reap
    runs whose heartbeat stopped, and re-submit runs a stopped server left behind — queued in
    a pool whose process is gone (or never handed to one), or running on a worker process of
    this host that is gone. A run re-submitted twice is still computed once."""
    counts = reap_stale_runs()
    limit = timezone.now() - timedelta(seconds=settings.LABDB_JOB_RESEND_AFTER_S)
    mine = jobs.pool_task_id()
    lost = []
    queued = AnalysisRun.objects.filter(status=RunStatus.QUEUED)
    for run in queued.only("pk", "task_id", "queued_at"):
        owner = run.task_id.removeprefix("pool:")
        if run.task_id == mine or (run.task_id.startswith("pool:") and worker_alive(owner)):
            continue
        if run.task_id or run.queued_at <= limit:
            lost.append(run.pk)
    running = AnalysisRun.objects.filter(status=RunStatus.RUNNING).only("pk", "worker")
    lost += [run.pk for run in running if run.worker and not worker_alive(run.worker)]
    for run_id in lost:
        dispatch_run(run_id)
    if lost:
        logger.info("re-submitted %d run(s) left by a stopped server: %s", len(lost), lost)
    return {**counts, "resubmitted": len(lost)}


# --- staleness, rerun, records -------------------------------------------------------------


def _input_changes(run: AnalysisRun) -> list[str]:
    """What changed in each input since the request (file, parse, edit, retirement)."""
    reasons = []
    by_type: dict[str, list[dict]] = {}
    for entry in run.inputs:
        by_type.setdefault(entry["type"], []).append(entry)
    for type_name, entries in by_type.items():
        qs = _input_model(type_name)._default_manager.all()
        if type_name in MEASUREMENT_INPUT_TYPES:
            qs = qs.select_related("data_file")
        current = {row.pk: row for row in qs.filter(pk__in=[e["id"] for e in entries])}
        for entry in entries:
            row = current.get(entry["id"])
            where = f"inputs.{entry['role']} {entry['label']}"
            if row is None:
                reasons.append(f"{where}: no longer exists")
                continue
            now, then = input_fingerprint(type_name, row), input_fingerprint_of(entry)
            if getattr(row, "is_retired", False):
                reasons.append(f"{where}: retired")
            if now.get("sha256") != then.get("sha256"):
                reasons.append(f"{where}: raw file changed")
            elif now.get("parsed_by") != then.get("parsed_by"):
                reasons.append(f"{where}: re-parsed ({then.get('parsed_by')} → "
                               f"{now.get('parsed_by')})")
            if now.get("version") != then.get("version"):
                reasons.append(f"{where}: edited (version {then.get('version')} → "
                               f"{now.get('version')})")
    return reasons


def staleness_of_run(run: AnalysisRun) -> str:
    """Why a run's result no longer matches its inputs or engine ("" when current).

    Kinds may answer themselves (``kind.staleness``: the EXAFS fit asks its stored fit).
    """
    try:
        kind = get_kind(run.kind)
    except KeyError:
        return f"the kind {run.kind!r} is no longer installed"
    own = kind.staleness(run)
    if own is not None:
        return own
    reasons = _input_changes(run)
    if run.engine_version != kind.engine_version:
        reasons.append(f"engine version changed: {kind.engine_name} {run.engine_version} → "
                       f"{kind.engine_version}")
    return "; ".join(reasons)


def request_rerun(*, run: AnalysisRun, actor: Any) -> AnalysisRun:
    """Run ``run`` again on its inputs with its parameters and the current engine (a new run
    linked by ``refit_of_run``). Only its owner or a curator may; PermissionDenied otherwise.
    """
    if actor is None or not getattr(actor, "is_authenticated", False) or not can_edit(actor, run):
        raise PermissionDenied("Only the owner of this run or a curator can re-run it.")
    kind = _kind_named(run.kind)
    return request_run(kind=kind.name, inputs=_given_inputs(run, kind),
                       parameters=kind.rerun_parameters(run), actor=actor, rerun_of=run,
                       force=True)


def run_provenance(run: AnalysisRun) -> dict:
    """The run's provenance; an EXAFS fit run's is its stored fit's (raw files, model, FEFF,
    engine versions, every parameter)."""
    if run.provenance:
        return run.provenance
    fit = run.result if run.result_id else (run.reproduces if run.reproduces_id else None)
    return dict(fit.provenance or {}) if fit is not None else {}


def run_records(run: AnalysisRun) -> list[dict]:
    """The records a succeeded run created (``[{type, id, label}]``)."""
    if run.kind == EXAFS_FIT_KIND:
        fit_id = run.result_id or run.reproduces_id
        return [{"type": "XASFit", "id": fit_id, "label": f"XAS fit {fit_id}"}] if fit_id else []
    return list((run.result_data or {}).get("records") or [])


def record_run_quantity(
    run: AnalysisRun, *, sample: Sample | None, quantity: str, value: float | None,
    err: float | None = None, unit: str = "", **extra: Any,
) -> ReportedQuantity:
    """A computed ``ReportedQuantity`` of ``sample`` standing for one number of ``run``'s
    result (``extra`` keeps ``analysis_run`` and whatever the kind adds, e.g. the standard's
    spectrum id). Call it from ``kind.store`` (inside the run's transaction)."""
    row = ReportedQuantity(
        sample=sample, quantity=quantity, value=value, err=err, unit=unit,
        source=DataSource.COMPUTED, owner=run.owner,
        citation=f"analysis run {run.pk} ({run.kind})",
        extra=_jsonable({"analysis_run": run.pk, "kind": run.kind, **extra}),
    )
    save_validated(row)
    return row
