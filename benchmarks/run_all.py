"""Run every benchmark script in benchmarks/ and print their figures (``make bench``).

Run:  .venv/bin/python benchmarks/run_all.py [--full] [--only NAME[,NAME]] [--timeout S]
By default each script runs at a reduced size that finishes in a few minutes; ``--full`` uses
the sizes the issues ask for (e.g. 100 000 samples, 1 000 files, 20 fits per setting).
Each script runs in its own process with its own scratch database; a script that crashes or
times out is reported and makes the exit status 1. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, stop_process  # noqa: E402

HERE = Path(__file__).resolve().parent

# name -> (default arguments, --full arguments). Scripts not listed run without arguments.
SIZES: dict[str, tuple[list[str], list[str]]] = {
    "parse_throughput": (["1"], ["5"]),
    "xas_fits": (["--repeat", "2"], []),
    "structure_property_frame": (["--samples", "2000"], []),
    "api_latency": (["--samples", "20000", "--runs", "4000", "--requests", "100"], []),
    "ingest_files": (["--files", "200"], []),
    "fit_throughput": (["--fits", "6"], []),
    "fit_overhead": (["--repeat", "3"], ["--repeat", "9"]),
    "sample_page": (["--fits", "10", "--requests", "20"], ["--fits", "10", "--requests", "50"]),
    "fit_builder": (["--repeat", "3"], ["--repeat", "10"]),
    "fit_results": (["--requests", "10", "--cold", "3"], ["--requests", "50", "--cold", "10"]),
    "parse_overhead": (["--repeat", "5"], ["--repeat", "20"]),
    "load_test": (["--duration", "20", "--csv-mb", "5", "--xlsx-mb", "1"], []),
    "scale_table": (["--sizes", "2000,5000", "--requests", "30", "--frame-requests", "5",
                     "--repeat", "2"], []),
}
ORDER = list(SIZES)


def scripts() -> list[Path]:
    """Benchmark scripts: every benchmarks/*.py except this runner and _private helpers."""
    found = [p for p in HERE.glob("*.py") if not p.name.startswith("_") and p.name != "run_all.py"]
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(found, key=lambda p: (rank.get(p.stem, len(ORDER)), p.stem))


def accepts(script: Path, flag: str) -> bool:
    """Whether ``script --help`` mentions ``flag`` (scripts written by others may change)."""
    try:
        out = subprocess.run(
            [sys.executable, str(script), "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return False
    return flag in out.stdout


def arguments(script: Path, full: bool) -> list[str]:
    quick, big = SIZES.get(script.stem, ([], []))
    args = big if full else quick
    flags = [a for a in args if a.startswith("--")]
    if flags and not all(accepts(script, flag) for flag in flags):
        print(f"note: {script.name} does not take {' '.join(flags)}; running it without arguments")
        return []
    return args


def run(script: Path, args: list[str], timeout_s: float) -> tuple[int | str, float]:
    """Run one script, its output streamed through; (exit status or 'timeout', seconds)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(script), *args], cwd=ROOT, start_new_session=True)
    try:
        proc.wait(timeout=timeout_s)
        status: int | str = proc.returncode
    except subprocess.TimeoutExpired:
        print(f"\n{script.name} exceeded {timeout_s:.0f} s: stopping pid {proc.pid}")
        status = "timeout"
    finally:
        # SIGTERM lets a script stop the servers it started (fit_throughput's finally block).
        stop_process(proc, label=script.name, timeout_s=60)
    return status, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full sizes of the issues")
    parser.add_argument("--only", default="", help="comma-separated script names to run")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per script")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    wanted = {name.strip().removesuffix(".py") for name in args.only.split(",") if name.strip()}
    selected = [p for p in scripts() if not wanted or p.stem in wanted]
    unknown = wanted - {p.stem for p in selected}
    if unknown:
        raise SystemExit(f"no such benchmark: {', '.join(sorted(unknown))}")
    results = []
    for script in selected:
        script_args = arguments(script, args.full)
        banner = f"{script.name} {' '.join(script_args)}".strip()
        print(f"\n{'=' * 100}\n== {banner}\n{'=' * 100}", flush=True)
        status, seconds = run(script, script_args, args.timeout)
        results.append((banner, status, seconds))

    print(
        f"\n{'=' * 100}\nbenchmarks ({'full' if args.full else 'default'} sizes; "
        f"{os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}):"
    )
    for banner, status, seconds in results:
        outcome = "ok" if status == 0 else f"FAILED ({status})"
        print(f"  {outcome:<14}{seconds:>8.1f} s  {banner}")
    sys.exit(0 if all(status == 0 for _, status, _ in results) else 1)


if __name__ == "__main__":
    main()
