"""One path for background jobs: register by name, ``submit(name, *ids)``, three runners.

Each app registers its jobs in a thin adapter module (``analysis/tasks.py``,
``characterization/jobs.py``) imported by its AppConfig.ready::

    @job("characterization.parse_file", on_error=mark_parse_failed)
    def parse_file_job(file_id: int) -> None: ...

    submit("characterization.parse_file", data_file.pk)   # inside a service's transaction

Runner (``settings.LABDB_JOB_RUNNER``, read at each submit):

* ``pool`` (default without ``CELERY_BROKER_URL``): the embedded background pool, a bounded
  ThreadPoolExecutor inside the server process, started lazily with ``LABDB_JOB_WORKERS``
  threads. A job is queued after the submitting transaction commits; each worker thread keeps
  its own database connection from one job to the next, as Django keeps a request thread's:
  closed after a job when it is older than ``CONN_MAX_AGE`` or unusable (an error, a
  transaction left open), and at ``shutdown_pool``; an exception is logged and handed to the
  job's ``on_error`` (which marks the run or file failed). The pool also runs the registered sweeps
  at start and every ``LABDB_JOB_SWEEP_EVERY_S`` seconds: work queued when the previous server
  stopped (queued fit runs, pending files) is found again and re-submitted.
* ``celery`` (default with ``CELERY_BROKER_URL``): after commit, the job's Celery task (same
  name unless registered with ``celery_task=``) is sent to the broker; workers run it.
* ``inline`` (the pytest process): the job runs at once in the calling thread, at submit time,
  inside the caller's transaction (no ``on_commit``), so tests see its result immediately.

Job arguments are database ids (ints): a job reads its inputs from the database, never from
the submitter's memory, so a job re-sent after a crash does the same work.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections, connections, transaction

__all__ = [
    "RUNNERS",
    "Job",
    "JobNotSent",
    "ensure_pool_started",
    "get_job",
    "inline",
    "job",
    "pool_stats",
    "register_sweep",
    "dispatch",
    "run_job",
    "runner",
    "send_celery",
    "shutdown_pool",
    "submit",
    "sweep_now",
    "wait_idle",
]

logger = logging.getLogger("labdb.jobs")
RUNNERS = ("pool", "celery", "inline")


@dataclass(frozen=True)
class Job:
    """A registered job: ``func(*ids)``.

    Hooks: ``on_error(*ids, exc=...)`` records a failure that escaped the job;
    ``on_sent(task_id, *ids)`` records where it was queued (before a pool thread can start
    it); ``on_not_sent(exc, *ids)`` records that the broker could not be reached.
    """

    name: str
    func: Callable[..., object]
    celery_task: str
    on_error: Callable[..., None] | None = None
    on_sent: Callable[..., None] | None = None
    on_not_sent: Callable[..., None] | None = None


class JobNotSent(Exception):
    """The broker could not be reached: the job was not queued (the caller decides)."""


_REGISTRY: dict[str, Job] = {}
_SWEEPS: dict[str, Callable[[], object]] = {}


def job(
    name: str,
    *,
    celery_task: str | None = None,
    on_error=None,
    on_sent=None,
    on_not_sent=None,
):
    """Register the decorated function as job ``name`` (celery task name defaults to it)."""

    def register(func):
        _REGISTRY[name] = Job(name, func, celery_task or name, on_error, on_sent, on_not_sent)
        return func

    return register


def register_sweep(name: str, func: Callable[[], object]) -> None:
    """A function that finds lost work and re-submits it; run by the embedded pool at start
    and every ``LABDB_JOB_SWEEP_EVERY_S`` seconds (celery beat does its own at scale)."""
    _SWEEPS[name] = func


def get_job(name: str) -> Job:
    """The registered job ``name``; LookupError naming the known jobs otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise LookupError(f"no background job named {name!r} (registered: {known})") from None


_local = threading.local()


def runner() -> str:
    """The runner: ``pool``, ``celery`` or ``inline`` (setting, or ``inline()`` in force)."""
    return getattr(_local, "runner", None) or settings.LABDB_JOB_RUNNER


@contextmanager
def inline():
    """Run the jobs this thread submits at once, whatever the setting: for management commands
    whose next step needs the result (``load_demo`` reads the spectra its uploads parse)."""
    before = getattr(_local, "runner", None)
    _local.runner = "inline"
    try:
        yield
    finally:
        _local.runner = before


def _checked(name: str, args: tuple) -> Job:
    registered = get_job(name)
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        raise TypeError(f"job {name}: arguments must be database ids (int), got {args!r}")
    return registered


def submit(name: str, *args: int) -> bool:
    """Queue job ``name`` with ``args`` once the current transaction commits.

    Returns True when the job has already run (the ``inline`` runner runs it now, in this
    thread), False when it was queued. With ``celery`` a broker outage is logged and recorded
    by the job's ``on_not_sent``, not raised (the sweeps re-send it).
    """
    _checked(name, args)
    if runner() == "inline":
        run_job(name, *args)
        return True
    transaction.on_commit(lambda: dispatch(name, *args))
    return False


def dispatch(name: str, *args: int) -> bool:
    """Hand job ``name`` to the runner now (no transaction wait); False if the broker is down.

    ``pool``: queued in this process's pool as ``pool:<host>:<pid>``; ``celery``: sent to the
    broker as the registered Celery task; ``inline``: run now.
    """
    registered = _checked(name, args)
    mode = runner()
    if mode == "inline":
        run_job(name, *args)
        return True
    if mode == "pool":
        if registered.on_sent is not None:
            registered.on_sent(pool_task_id(), *args)
        _pool(count=True).submit(_run_in_pool, name, args)
        return True
    try:
        task_id = send_celery(registered, args)
    except JobNotSent as exc:
        logger.warning("job %s%s not sent: %s", name, args, exc)
        if registered.on_not_sent is not None:
            registered.on_not_sent(exc, *args)
        return False
    if registered.on_sent is not None:
        registered.on_sent(task_id, *args)
    return True


def send_celery(registered: Job, args: tuple) -> str:
    """Send the job's Celery task; its id. JobNotSent when the broker cannot be reached."""
    from labdb.celery import app

    try:
        result = app.send_task(registered.celery_task, args=list(args), retry=False)
    except Exception as exc:  # kombu/redis raise many types for "cannot connect"
        raise JobNotSent(f"broker unavailable ({exc})") from exc
    return result.id or ""


def pool_task_id() -> str:
    """The task id of work queued in this process's embedded pool."""
    import socket

    return f"pool:{socket.gethostname()}:{os.getpid()}"


def run_job(name: str, *args: int) -> None:
    """Run job ``name`` here; an exception is logged and passed to its ``on_error``."""
    registered = get_job(name)
    try:
        registered.func(*args)
    except Exception as exc:
        logger.exception("job %s%s failed", name, args)
        if registered.on_error is not None:
            try:
                registered.on_error(*args, exc=exc)
            except Exception:
                logger.exception("job %s%s: recording the failure failed too", name, args)


# --- the embedded pool ---------------------------------------------------------------------

_lock = threading.Lock()
#: Notified whenever a pool job finishes: waiters block on it (no polling loop taking the GIL
#: from the job thread every few ms).
_finished = threading.Condition(_lock)
_state: dict = {"executor": None, "pid": None, "sweeper": None, "stop": None}
_counts = {"submitted": 0, "finished": 0}
_kept: dict[threading.Thread, list] = {}  # a worker -> its open connections (closed after it)


def _run_in_pool(name: str, args: tuple) -> None:
    close_old_connections()  # one past CONN_MAX_AGE, or broken since the last job: reopened
    try:
        run_job(name, *args)
    finally:
        close_old_connections()  # this thread's connections: kept only when still usable
        kept = [c for c in connections.all(initialized_only=True) if c.connection is not None]
        with _finished:
            _kept[threading.current_thread()] = kept
            _counts["finished"] += 1
            _finished.notify_all()


def _close_kept() -> None:
    """Close the connections that worker threads which have stopped kept between jobs; from
    this thread, so Django's thread-sharing check is lifted for the close."""
    with _lock:
        stopped = [thread for thread in _kept if not thread.is_alive()]
        kept = [c for thread in stopped for c in _kept.pop(thread)]
    for conn in kept:
        conn.inc_thread_sharing()
        try:
            conn.close()
        except Exception:  # a connection the server already dropped: nothing left to close
            logger.debug("closing a kept job connection failed", exc_info=True)
        finally:
            conn.dec_thread_sharing()


def _pool(*, count: bool = False) -> ThreadPoolExecutor:
    """The process's pool, started on first use (again after a fork: threads do not survive)."""
    with _lock:
        if _state["executor"] is None or _state["pid"] != os.getpid():
            workers = max(1, settings.LABDB_JOB_WORKERS)
            _state["executor"] = ThreadPoolExecutor(workers, thread_name_prefix="labdb-job")
            _state["pid"] = os.getpid()
            _start_sweeper()
            logger.info("embedded job pool started: %d worker thread(s)", workers)
        if count:
            _counts["submitted"] += 1
        return _state["executor"]


def _start_sweeper() -> None:
    stop = threading.Event()
    every_s = max(1, settings.LABDB_JOB_SWEEP_EVERY_S)

    def loop() -> None:
        while True:
            sweep_now()
            if stop.wait(every_s):
                return

    thread = threading.Thread(target=loop, name="labdb-job-sweeper", daemon=True)
    _state["sweeper"], _state["stop"] = thread, stop
    thread.start()


def sweep_now() -> dict[str, object]:
    """Run every registered sweep once (errors logged); returns each sweep's result."""
    results: dict[str, object] = {}
    for name, func in list(_SWEEPS.items()):
        close_old_connections()
        try:
            results[name] = func()
        except Exception:
            logger.exception("job sweep %s failed", name)
        finally:
            connections.close_all()
    return results


def ensure_pool_started(**_kwargs) -> None:
    """Start the pool (and its start-up sweep) if this process uses it; a request_started
    receiver, so a server finds work left from its previous life on its first request."""
    if runner() == "pool" and (_state["executor"] is None or _state["pid"] != os.getpid()):
        _pool()


def pool_stats() -> dict[str, int]:
    """Jobs handed to and finished by this process's pool (for tests and /health/)."""
    return dict(_counts)


def shutdown_pool(wait: bool = True, *, cancel_queued: bool = False) -> None:
    """Stop the pool and its sweeper (tests; a server simply exits). ``cancel_queued`` drops
    jobs not started yet, as a stopping server loses them (the sweeps find them again)."""
    with _lock:
        executor, stop = _state["executor"], _state["stop"]
        _state.update(executor=None, pid=None, sweeper=None, stop=None)
    if stop is not None:
        stop.set()
    if executor is not None:
        executor.shutdown(wait=wait, cancel_futures=cancel_queued)
    _close_kept()  # after shutdown(wait=True) every worker has stopped
    with _finished:
        _counts["submitted"] = _counts["finished"] = 0
        _finished.notify_all()  # a waiter re-reads the counts now, not at its timeout


def wait_idle(timeout_s: float = 60.0) -> bool:
    """Block until every job handed to this process's pool has finished (tests); False after
    ``timeout_s`` seconds."""
    with _finished:
        return _finished.wait_for(lambda: _counts["finished"] >= _counts["submitted"],
                                  timeout=timeout_s)


def wait_finished(count: int, timeout_s: float = 60.0) -> bool:
    """Block until this process's pool has finished at least ``count`` jobs in all (the
    ``finished`` of ``pool_stats``), without polling; False after ``timeout_s`` seconds."""
    with _finished:
        return _finished.wait_for(lambda: _counts["finished"] >= count, timeout=timeout_s)
