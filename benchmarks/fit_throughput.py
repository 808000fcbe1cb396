"""XAS fit-run throughput (issue 4): fits/min in-process (eager) and with 1 and 2 Celery
worker processes on a real Redis broker.

Run:  .venv/bin/python benchmarks/fit_throughput.py [--fits 20] [--workers 1,2] [--eager-fits N]
A script, not a test: it prints figures and asserts nothing about speed. It uses its own
scratch database (see benchmarks/_common.py), starts its own ``redis-server`` on a free port and
its own ``celery -A labdb worker`` processes, and stops each of them by the pid it recorded
(SIGTERM, then SIGKILL of the process's own group after a timeout) — never by name.

The fit is the Larch documentation fit A (Cu K edge, 1 path, feffcu01.dat; see
tests/analysis/test_fit_runs.py) on distinct SYNTHETIC copies of cu_metal_rt.xdi (one
``# Scan.comment`` header line each), so every request is a new run with its own raw file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    ROOT,
    SHARED_DATA,
    free_port,
    scratch_setup,
    stop_process,
    synthetic_xdi,
    wait_until,
)

XAS = SHARED_DATA / "xas" / "larch_examples"
CU_XDI = XAS / "cu_metal_rt.xdi"
DONE = ("succeeded", "failed")


def fit_a_model() -> dict:
    """Fit A of the Larch documentation (doc_feffit1), as in tests/analysis/test_fit_runs.py."""

    def guesses(**values):
        return {name: {"kind": "guess", "value": value} for name, value in values.items()}

    return {
        "feff": {"path_files": {"feffcu01": (XAS / "feff_cu" / "feffcu01.dat").read_text()}},
        "parameters": guesses(amp=1.0, del_e0=0.0, sig2=0.0, del_r=0.0),
        "datasets": [
            {
                "id": "cu_rt",
                "processing": {
                    "pre_edge": {},
                    "autobk": {"rbkg": 1.0, "kweight": 2},
                    "xftf": {"kmin": 3, "kmax": 17, "kweight": 2, "dk": 4},
                },
                "transform": {
                    "kmin": 3,
                    "kmax": 17,
                    "kweight": 2,
                    "dk": 4,
                    "window": "kaiser",
                    "rmin": 1.4,
                    "rmax": 3.0,
                },
                "paths": [
                    {
                        "label": "Cu1",
                        "path_file": "feffcu01",
                        "s02": "amp",
                        "e0": "del_e0",
                        "sigma2": "sig2",
                        "deltar": "del_r",
                    }
                ],
            }
        ],
    }


class Spectra:
    """Hands out spectra of fresh synthetic copies of cu_metal_rt.xdi (setup, not timed)."""

    def __init__(self, user):
        from synthesis.models import Sample

        self.user = user
        self.template = CU_XDI.read_bytes()
        self.sample = Sample.objects.create(
            code="FIT-BENCH-Cu",
            name="Cu foil (benchmark)",
            material="Cu",
            morphology="bulk",
            owner=user,
        )
        self.count = 0

    def take(self, n: int) -> list:
        from characterization.models import XASSpectrum
        from characterization.services import attach_data_file

        out = []
        for _ in range(n):
            self.count += 1
            data_file, _created = attach_data_file(
                content=synthetic_xdi(self.template, self.count),
                filename=f"synthetic_{self.count:04d}_cu_metal_rt.xdi",
                sample=self.sample,
                actor=self.user,
            )
            if data_file.parse_status != "ok":
                raise SystemExit(f"synthetic copy did not parse: {data_file.parse_error}")
            out.append(XASSpectrum.objects.get(data_file=data_file))
        return out


def queue_and_wait(spectra: list, model: dict, user, *, timeout_s: float) -> dict:
    """Request one fit per spectrum; wait until every run finished. Wall time and run rows."""
    from analysis.models import FitRun
    from analysis.services.fits import request_fit_run

    start = time.perf_counter()
    ids = [request_fit_run(spectrum=s, model=model, actor=user).pk for s in spectra]
    queued = time.perf_counter() - start

    def finished() -> bool:
        return FitRun.objects.filter(pk__in=ids, status__in=DONE).count() == len(ids)

    complete = wait_until(finished, timeout_s=timeout_s, every_s=0.05)
    wall = time.perf_counter() - start
    runs = list(FitRun.objects.filter(pk__in=ids).select_related("result"))
    return {"wall": wall, "queued": queued, "runs": runs, "complete": complete}


def describe(label: str, result: dict) -> str:
    runs = result["runs"]
    ok = [r for r in runs if r.status == "succeeded"]
    failed = [r for r in runs if r.status == "failed"]
    pending = len(runs) - len(ok) - len(failed)
    per_fit = [r.elapsed_s for r in ok if r.elapsed_s is not None]
    workers = sorted({r.worker.rsplit(":", 1)[-1] for r in ok})
    amps = {round(r.result.provenance["parameters"]["amp"]["value"], 7) for r in ok}
    line = (
        f"{label:<30}{len(ok):>4}/{len(runs):<4}{result['wall']:>8.1f}"
        f"{60 * len(ok) / result['wall']:>10.1f}"
        f"{statistics.median(per_fit) if per_fit else float('nan'):>10.2f}"
        f"   pids {','.join(workers)}; amp {sorted(amps)}"
    )
    if failed:
        line += f"\n    {len(failed)} FAILED, e.g.: {failed[0].error[:200]}"
    if pending:
        line += f"\n    {pending} still queued/running at the timeout"
    return line


def start_redis(port: int, workdir: Path) -> subprocess.Popen:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    log = open(workdir / "redis.log", "wb")  # noqa: SIM115 - kept open for the child
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        start_new_session=True,
    )
    print(f"redis-server started: pid {proc.pid}, port {port}")
    import redis

    def ready() -> bool:
        if proc.poll() is not None:
            raise SystemExit(f"redis-server exited: {(workdir / 'redis.log').read_text()[-500:]}")
        try:
            return redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5).ping()
        except redis.exceptions.ConnectionError:
            return False

    if not wait_until(ready, timeout_s=20):
        raise SystemExit("redis-server did not answer within 20 s")
    return proc


def start_worker(concurrency: int, env: dict, workdir: Path) -> tuple[subprocess.Popen, Path]:
    celery = str(Path(sys.executable).with_name("celery"))
    node = f"bench{concurrency}-{os.getpid()}@localhost"
    log_path = workdir / f"worker{concurrency}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - kept open for the child
    proc = subprocess.Popen(
        [
            celery,
            "-A",
            "labdb",
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "--loglevel=warning",
            "-n",
            node,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    print(f"celery worker started: pid {proc.pid}, --concurrency={concurrency}, node {node}")
    from labdb.celery import app

    def ready() -> bool:
        if proc.poll() is not None:
            raise SystemExit(f"celery worker exited: {log_path.read_text()[-2000:]}")
        replies = app.control.ping(destination=[node], timeout=0.5)
        return any(node in reply for reply in replies)

    started = time.perf_counter()
    if not wait_until(ready, timeout_s=120, every_s=0.2):
        raise SystemExit(f"celery worker not ready after 120 s: {log_path.read_text()[-2000:]}")
    print(f"  answering pings after {time.perf_counter() - started:.1f} s")
    return proc, log_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=20, help="timed fits per worker setting")
    parser.add_argument(
        "--workers", default="1,2", help="comma-separated worker process counts (default 1,2)"
    )
    parser.add_argument(
        "--eager-fits",
        type=int,
        default=None,
        help="fits run in-process without a broker (default: --fits; 0 skips)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds per phase")
    args = parser.parse_args()
    concurrencies = [int(x) for x in args.workers.split(",") if x.strip()]
    eager_fits = args.fits if args.eager_fits is None else args.eager_fits

    # SIGTERM (e.g. from a CI timeout) must still run the finally block that stops children.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    scratch = scratch_setup("fit_throughput", extra_env={"CELERY_BROKER_URL": broker})
    print(scratch.describe())
    from django.contrib.auth.models import User
    from django.db import connection

    from labdb.celery import app

    user = User.objects.create_user("bench", password="bench-labdb-pw")
    spectra = Spectra(user)
    model = fit_a_model()
    worker_env = {
        **os.environ,
        "CELERY_BROKER_URL": broker,
        "DATABASE_URL": scratch.database_url,
        "LABDB_VAR_DIR": str(scratch.var_dir),
    }
    print(
        f"fit A (Cu K, 1 path) on distinct SYNTHETIC copies of {CU_XDI.name}; "
        f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    header = (
        f"{'setting':<30}{'ok/n':>9}{'wall s':>8}{'fits/min':>10}{'s/fit':>10}"
        "   (s/fit = median engine time inside the worker)"
    )
    rows = []
    redis_proc = None
    worker = None
    try:
        # Celery's eager path still takes a producer from the broker pool: start Redis first.
        redis_proc = start_redis(port, scratch.var_dir)
        if eager_fits:
            from analysis.engines._larch import preload

            preload()  # a worker imports larch once at start; do the same here, untimed
            app.conf.task_always_eager = True
            try:
                queue_and_wait(spectra.take(1), model, user, timeout_s=args.timeout)  # warm-up
                result = queue_and_wait(
                    spectra.take(eager_fits), model, user, timeout_s=args.timeout
                )
            finally:
                app.conf.task_always_eager = False
            rows.append(describe("in-process (eager, no broker)", result))
            print(rows[-1])

        for concurrency in concurrencies:
            connection.close()  # no open transaction or stale snapshot while workers write
            worker, log_path = start_worker(concurrency, worker_env, scratch.var_dir)
            warm = queue_and_wait(spectra.take(concurrency), model, user, timeout_s=args.timeout)
            print(
                f"  warm-up: {concurrency} fit(s) in {warm['wall']:.1f} s (first fit of each "
                "process, not counted)"
            )
            result = queue_and_wait(spectra.take(args.fits), model, user, timeout_s=args.timeout)
            rows.append(describe(f"{concurrency} worker process(es), redis", result))
            print(rows[-1])
            stop_process(worker, label="celery worker")
            print(f"  celery worker pid {worker.pid} stopped (exit {worker.returncode})")
            worker = None
            noise = [
                line
                for line in log_path.read_text().splitlines()
                if any(word in line for word in ("WARNING", "ERROR", "CRITICAL", "Trace"))
            ]
            if noise:
                print(f"  worker log: {len(noise)} warning/error lines ({log_path}), last 5:")
                for line in noise[-5:]:
                    print(f"    {line[:200]}")
    finally:
        if worker is not None:
            stop_process(worker, label="celery worker")
            print(f"celery worker pid {worker.pid} stopped (exit {worker.returncode})")
        if redis_proc is not None:
            stop_process(redis_proc, label="redis-server", timeout_s=10)
            print(f"redis-server pid {redis_proc.pid} stopped (exit {redis_proc.returncode})")

    print(f"\n{header}")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
