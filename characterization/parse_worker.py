"""Parse one file in a child process under an OS budget (no Django here).

``parse_in_budget`` hands the bytes to a fresh child process started by a ``forkserver``
whose interpreter has the parsers, numpy and matplotlib imported once (so a parse pays for a
fork, not for imports), sets ``resource`` limits in the child — address space
(``RLIMIT_AS``, ``memory_mb``) and CPU time (``RLIMIT_CPU``, ``timeout_s``) — and waits at
most twice ``timeout_s`` of wall-clock time before killing it. A hostile or pathological file
(a decompression bomb slipping past the declared-size checks, a parser that loops) fails
alone: the caller gets a ``ParseError`` saying which budget was exceeded and the server or
worker process is untouched. Used by the parse job in the embedded pool, on Celery workers
and in the pytest process alike.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import resource
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing import context, forkserver, popen_forkserver, process, reduction, spawn, util

from characterization.parsers._limits import Limits
from characterization.parsers.base import ParsedFile
from characterization.parsers.registry import parse_file
from characterization.previews import render_preview_png, series_to_json
from labdb.lib.errors import ParseError

__all__ = ["BudgetExceeded", "ParseBudget", "ParseOutcome", "parse_in_budget", "warm_up"]

_MB = 1024 * 1024


@dataclass(frozen=True)
class ParseBudget:
    """OS limits for one parse: address space in MB, CPU seconds (wall clock: twice that), and
    the niceness the child adds to its own (``os.nice``; 0 keeps the server's priority)."""

    memory_mb: int = 2048
    timeout_s: int = 120
    # Parse children are batch work: at a lower CPU priority they yield the cores to the
    # server's requests (an upload answers before the previews of earlier uploads are drawn).
    nice: int = 10

    @property
    def wall_s(self) -> float:
        return 2.0 * self.timeout_s + 1.0


@dataclass
class ParseOutcome:
    """What the child sends back: the parse, its preview PNG and its decimated series
    (``previews.series_to_json``; both None when not asked)."""

    parsed: ParsedFile
    preview_png: bytes | None
    child_s: float
    vm_start_mb: float = 0.0  # the child's address space before parsing (Linux VmSize)
    vm_peak_mb: float = 0.0  # its peak while parsing (VmPeak): what RLIMIT_AS limits
    series_json: dict | None = None
    child_nice: int = 0  # the niceness the child parsed at (the caller's + ``budget.nice``)


class BudgetExceeded(ParseError):
    """The parser ran out of its memory or time budget (``budget`` = "memory" | "time")."""

    def __init__(self, budget: str, message: str, *, filename: str | None = None):
        super().__init__("unknown", message, filename=filename)
        self.budget = budget


class _Popen(popen_forkserver.Popen):
    """Forkserver start without re-running the parent's ``__main__`` in the child.

    The child needs only this module (preloaded in the fork server); re-importing the main
    script of whatever process asked (a notebook, a benchmark, gunicorn) would be slow at best.
    Same steps as ``popen_forkserver.Popen._launch`` of CPython 3.11, minus the main module.
    """

    def _launch(self, process_obj):
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        prep_data["authkey"] = process_obj.authkey  # the stdlib type (see _start_process)
        buf = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _Process(context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj):
        return _Popen(process_obj)

    def start(self) -> None:
        """``BaseProcess.start`` (CPython 3.11) without its "daemonic processes are not allowed
        to have children" check: a Celery prefork worker is daemonic, and this child is always
        waited for or killed by ``parse_in_budget``, so it is never orphaned."""
        self._check_closed()
        assert self._popen is None, "cannot start a process twice"
        assert self._parent_pid == os.getpid(), "can only start a process created here"
        process._cleanup()
        self._popen = self._Popen(self)
        self._sentinel = self._popen.sentinel
        del self._target, self._args, self._kwargs
        process._children.add(self)


_preload_lock = threading.Lock()


def _start_process(target, args, name: str) -> _Process:
    """Start ``target(*args)`` in a child of the fork server (started once, preloading this
    module: the parsers, numpy and matplotlib are imported there once)."""
    with _preload_lock:
        forkserver.set_forkserver_preload([__name__, "characterization.parse_worker_preload"])
    child = _Process(target=target, args=args, name=name)
    # A key of the stdlib's own type: a Celery (billiard) worker's inherited one cannot be
    # pickled to the fork server. The child never talks to a manager, so any key will do.
    child.authkey = os.urandom(32)
    child.start()
    return child


def warm_up() -> None:
    """Start the fork server now (a server can call this at start; else the first parse does)."""
    _start_process(_noop, (), "labdb-parse warm-up").join()


def _noop() -> None:
    return None


def _vm_mb(key: str) -> float:
    """``VmSize``/``VmPeak`` of this process in MB (0 where /proc is not available)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _limit(kind: int, soft: int) -> None:
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(kind, (soft, hard))


def _child(conn, content: bytes, filename: str, limits: Limits, budget: ParseBudget,
           preview: bool) -> None:
    """Child body: limits and priority first, then parse (and preview and series); one
    message back on ``conn``."""
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_CPU, budget.timeout_s)
    _limit(resource.RLIMIT_AS, budget.memory_mb * _MB)
    niceness = os.nice(budget.nice)  # returns the new niceness (0: unchanged)
    started, vm_start_mb = time.perf_counter(), _vm_mb("VmSize")
    try:
        parsed = parse_file(content, filename=filename, limits=limits)
        del content
        png = render_preview_png(parsed) if preview else None
        # Decimated here, not in the server: the job thread would hold the server's GIL
        # for it while requests wait.
        series = series_to_json(parsed) if preview else None
        elapsed_s = time.perf_counter() - started
        message = ("ok", ParseOutcome(
            parsed, png, elapsed_s, vm_start_mb, _vm_mb("VmPeak"), series_json=series,
            child_nice=niceness))
    except MemoryError:
        message = ("memory", None)
    except ParseError as exc:
        # A parser that wraps every failure (MemoryError included) in "damaged file" words:
        # out of budget is the true reason.
        message = ("memory", None) if _caused_by_memory(exc) else (
            "parse_error", (exc.format, exc.message, exc.detail))
    except BaseException as exc:  # a parser bug: reported, never re-raised into the server
        message = ("error", f"{type(exc).__name__}: {exc}")
    try:
        conn.send(message)
    except MemoryError:
        conn.send(("memory", None))
    finally:
        conn.close()


def _caused_by_memory(exc: BaseException) -> bool:
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, MemoryError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _memory_message(budget: ParseBudget) -> str:
    return f"the parser exceeded its memory budget ({budget.memory_mb} MB)"


def _time_message(budget: ParseBudget) -> str:
    return f"the parser exceeded its time budget ({budget.timeout_s} s)"


def parse_in_budget(
    content: bytes,
    *,
    filename: str,
    limits: Limits,
    budget: ParseBudget,
    preview: bool = True,
) -> ParseOutcome:
    """Parse ``content`` in a budgeted child process; the parse and (``preview``) its preview
    PNG and decimated series JSON. The child runs ``budget.nice`` steps below the caller.

    Raises ParseError for a file the parser refuses (as ``parse_file`` does), BudgetExceeded
    ("the parser exceeded its memory budget (2048 MB)" / "…its time budget (120 s)") when the
    child runs out of address space or CPU time or outlives the wall-clock limit, and
    ParseError "the parser stopped unexpectedly" when the child dies otherwise.
    """
    receive, send = multiprocessing.Pipe(duplex=False)
    child = _start_process(
        _child, (send, content, filename, limits, budget, preview), f"labdb-parse {filename}"[:60]
    )
    send.close()
    message = None
    try:
        if receive.poll(budget.wall_s):
            try:
                message = receive.recv()
            except (EOFError, OSError):
                message = None
        else:
            message = ("wall", None)
    finally:
        receive.close()
        child.join(timeout=5 if message and message[0] != "wall" else 0)
        if child.is_alive():
            child.kill()
            child.join()
    return _outcome(message, child.exitcode, filename, budget)


def _outcome(message, exitcode: int | None, filename: str, budget: ParseBudget) -> ParseOutcome:
    if message is not None and message[0] == "ok":
        return message[1]
    if message is not None and message[0] == "parse_error":
        fmt, text, detail = message[1]
        error = ParseError(fmt, text, detail=detail)
        raise error
    if message is not None and message[0] == "memory":
        raise BudgetExceeded("memory", _memory_message(budget), filename=filename)
    if message is not None and message[0] == "wall":
        raise BudgetExceeded("time", _time_message(budget), filename=filename)
    if exitcode == -signal.SIGXCPU:
        raise BudgetExceeded("time", _time_message(budget), filename=filename)
    if exitcode in (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS, -signal.SIGKILL):
        # Out of address space inside C code often ends this way (allocation returned NULL).
        raise BudgetExceeded("memory", _memory_message(budget), filename=filename)
    if message is not None and message[0] == "error":
        raise ParseError("unknown", f"the parser failed: {message[1]}", filename=filename)
    raise ParseError(
        "unknown", f"the parser stopped unexpectedly (exit code {exitcode})", filename=filename
    )
