"""Sample API latency on a synthetic lab: p50/p95/max and query counts of list, search, detail
and lineage requests (issue 2; target mentioned there: p95 < 100 ms on SQLite; issue 16: list +
search p95 < 100 ms at 100 000 samples and < 150 ms at 1 000 000, SQLite and PostgreSQL).

Run:  .venv/bin/python benchmarks/api_latency.py [--samples 100000] [--runs 20000]
      [--requests 200] [--search CdSe-CdS] [--explain] [--reuse]
A script, not a test: it prints figures and asserts nothing about speed. It builds its own
scratch database (see benchmarks/_common.py) and never touches the developer's data.

The synthetic lab is written with ``bulk_create`` in batches: no per-row services, so no
``full_clean()``, no history rows and no version bumps. It is a fixture for reads only.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import percentile, scratch_setup  # noqa: E402

TARGET_P95_MS = 100.0  # issue 16 item 5: at 100 000 samples (and fewer)
TARGET_P95_MS_1M = 150.0  # ... and at 1 000 000
CORE_ML = (3.5, 4.5, 5.5)
DERIVATIONS = (
    # (process, layer role, layer material, suffix of the overall material)
    ("crown_growth", "crown", "CdS", "CdS"),
    ("shell_growth", "shell", "CdZnS", "CdZnS"),
    ("cation_exchange", None, None, None),
    ("ligand_exchange", None, None, None),
    ("purification", None, None, None),
    ("aliquot", None, None, None),
)
NOTES = (
    "",
    "Washed twice with ethanol/hexane, redispersed in hexane, stored under Ar in the dark.",
    "Aliquot taken for absorption and PL before the shell growth; slight turbidity.",
    "Size-selective precipitation with acetone; supernatant discarded.",
)


def _family_plan(rng: random.Random, n_samples: int):
    """Yield (index, family root index, parent indexes, process, depth-in-family) per sample.

    Samples come in families (a core batch and what was derived from it, 1–12 samples). A
    derived sample has one parent in the family (70 % the previous one, so chains form) and
    15 % a second one: another family member, or the root of a recent family (a mixed batch).
    Roots have no parents, so nobody has more ancestors than its family has members, plus one.
    """
    index, roots = 0, []
    while index < n_samples:
        size = min(rng.randint(1, 12), n_samples - index)
        root = index
        for k in range(size):
            i = root + k
            parents: list[int] = []
            if k:
                first = i - 1 if rng.random() < 0.7 else rng.randrange(root, i)
                parents.append(first)
                if rng.random() < 0.15:
                    others = [j for j in range(root, i) if j != first]
                    if others and rng.random() < 0.5:
                        parents.append(rng.choice(others))
                    elif roots:
                        parents.append(rng.choice(roots[-50:]))
            yield i, root, parents
        roots.append(root)
        index += size


def build_lab(n_samples: int, n_runs: int, *, seed: int = 20250101, batch: int = 2000) -> dict:
    """Write the synthetic lab with bulk_create; returns ids and ancestor counts."""
    from django.contrib.auth.models import User
    from django.db import transaction

    from synthesis.models import Recipe, Sample, SampleLayer, SampleParent, SynthesisRun

    rng = random.Random(seed)
    counts = {}
    with transaction.atomic():
        user = User.objects.create_user("bench", password="bench-labdb-pw")
        recipes = Recipe.objects.bulk_create(
            [
                Recipe(slug=f"bench-recipe-{i}", name=f"Bench recipe {i}", owner=user)
                for i in range(8)
            ]
        )
        t0 = datetime(2020, 1, 1, tzinfo=UTC)
        runs = SynthesisRun.objects.bulk_create(
            [
                SynthesisRun(
                    code=f"RUN-{i:06d}",
                    recipe=recipes[i % len(recipes)],
                    owner=user,
                    operator_name=rng.choice(["A. Chemist", "B. Student", "C. Postdoc"]),
                    started_at=t0 + timedelta(hours=3 * i),
                )
                for i in range(n_runs)
            ],
            batch_size=batch,
        )
        counts["synthesis runs"] = len(runs)

        plan = list(_family_plan(rng, n_samples))
        material_of: list[str] = []
        layers_of: list[list[tuple]] = []  # (role, material, thickness_ml)
        samples = []
        for i, root, parents in plan:
            if i == root:
                core_ml = rng.choice(CORE_ML) if rng.random() < 0.9 else None
                material = "CdSe"
                layers = [("core", "CdSe", core_ml)] if rng.random() < 0.97 else []
            else:
                base = parents[0]
                _process, role, layer_material, suffix = rng.choice(DERIVATIONS)
                material = material_of[base]
                layers = list(layers_of[base])
                if role == "crown" and "CdZnS" in material.split("/"):
                    role = None  # a crown grows on a bare core, not on a shelled one
                if role and suffix not in material.split("/"):
                    material = f"{material}/{suffix}"
                    layers.append((role, layer_material, None))
            material_of.append(material)
            layers_of.append(layers)
            tag = material.replace("/", "-")
            samples.append(
                Sample(
                    code=f"S{i:06d}-{tag}",
                    name=f"{material} NPL, batch {root}",
                    material=material,
                    morphology="NPL" if rng.random() < 0.9 else "QD",
                    crystal_phase="ZB",
                    owner=user,
                    synthesis_date=date(2020, 1, 1) + timedelta(days=i // 40),
                    produced_by=runs[i % n_runs] if n_runs and rng.random() < 0.85 else None,
                    notes=rng.choice(NOTES),
                )
            )
        Sample.objects.bulk_create(samples, batch_size=batch)
        ids = [s.pk for s in samples]
        if None in ids:
            raise SystemExit("bulk_create did not return primary keys on this database")
        counts["samples"] = len(ids)

        layer_rows = [
            SampleLayer(sample_id=ids[i], position=pos, role=role, material=mat, thickness_ml=ml)
            for i, layers in enumerate(layers_of)
            for pos, (role, mat, ml) in enumerate(layers, start=1)
        ]
        SampleLayer.objects.bulk_create(layer_rows, batch_size=batch)
        counts["layers"] = len(layer_rows)

        edges = []
        for i, _root, parents in plan:
            for parent in parents:
                process = rng.choice(DERIVATIONS)[0]
                edges.append(SampleParent(child_id=ids[i], parent_id=ids[parent], process=process))
        SampleParent.objects.bulk_create(edges, batch_size=batch)
        counts["lineage edges"] = len(edges)

    parents_of = {i: parents for i, _root, parents in plan}
    deep, n_ancestors = _deepest(parents_of)
    # Only plain numbers leave this function: hundreds of thousands of model instances kept
    # alive would make every full garbage collection during the timed requests slow.
    return {
        "user_id": user.pk,
        "counts": counts,
        "deep_id": ids[deep],
        "deep_ancestors": n_ancestors,
    }


def _ancestors(i: int, parents_of: dict[int, list[int]]) -> set[int]:
    seen: set[int] = set()
    stack = list(parents_of[i])
    while stack:
        j = stack.pop()
        if j not in seen:
            seen.add(j)
            stack.extend(parents_of[j])
    return seen


def _deepest(parents_of: dict[int, list[int]]) -> tuple[int, int]:
    """(index, ancestor count) of the sample with the most ancestors (ties: lowest index)."""
    best, best_n = 0, -1
    # Chains only run inside families, so scanning every sample is cheap (≤ 13 ancestors).
    for i in parents_of:
        n = len(_ancestors(i, parents_of))
        if n > best_n:
            best, best_n = i, n
    return best, best_n


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _explain(sql: str) -> list[str]:
    from django.db import connection

    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql)
        rows = cursor.fetchall()
    if connection.vendor == "sqlite":
        return [str(row[-1]) for row in rows]
    return [row[0] for row in rows]


def measure(client, url: str, n: int, warmup: int = 5) -> dict:
    """Latency of ``n`` GETs (ms) plus the queries of one more, captured separately.

    Queries are captured on an extra request so the capture's bookkeeping is not timed.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        response = client.get(url, HTTP_ACCEPT="application/json")
        if response.status_code != 200:
            raise SystemExit(f"GET {url} → {response.status_code}: {response.content[:500]!r}")
    times = []
    for _ in range(n):
        start = time.perf_counter()
        client.get(url, HTTP_ACCEPT="application/json")
        times.append((time.perf_counter() - start) * 1000)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, HTTP_ACCEPT="application/json")
    body = response.json()
    return {
        "times": times,
        "queries": list(ctx.captured_queries),
        "body": body,
    }


def _profile(client, url: str, top: int = 30) -> None:
    """cProfile one GET of ``url``; print the functions with the most cumulative time."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    client.get(url, HTTP_ACCEPT="application/json")
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    print("\n".join("    " + line for line in out.getvalue().splitlines() if line.strip()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    parser.add_argument(
        "--search",
        default="CdSe-CdS",
        help="search fragment (default matches every sample with a CdS crown)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print the query plans of every endpoint (default: only of the "
        "endpoints that miss the target)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the scratch lab of the previous run when it has the same "
        "sizes (SQLite only; skips the generation)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile one more request per endpoint and print its top functions",
    )
    parser.add_argument(
        "--build-only",
        action="store_true",
        help="write (or find, with --reuse) the synthetic lab and stop before the requests",
    )
    args = parser.parse_args()

    # One scratch lab per size and database, so a 100k or PostgreSQL run never wipes a
    # reusable SQLite 1M lab (scratch_setup empties the directory of a fresh run).
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql"))
    name = f"api_latency_{args.samples}" + ("_pg" if on_postgres else "")
    marker = Path(tempfile.gettempdir()) / f"labdb-bench-{name}" / "lab.json"
    wanted = {"samples": args.samples, "runs": args.runs}
    reuse = False
    if args.reuse and marker.exists():
        saved = json.loads(marker.read_text())
        reuse = {k: saved.get(k) for k in wanted} == wanted
    scratch = scratch_setup(name, fresh=not reuse)
    print(scratch.describe())
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    if reuse:
        lab = json.loads(marker.read_text())["lab"]
        print("reusing the synthetic lab of the previous run (--reuse):")
    else:
        start = time.perf_counter()
        lab = build_lab(args.samples, args.runs)
        elapsed = time.perf_counter() - start
        rows = sum(lab["counts"].values())
        print(
            f"synthetic lab written with bulk_create in batches (no per-row services, no "
            f"history rows) in {elapsed:.1f} s ({rows / elapsed:,.0f} rows/s):"
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # statistics a long-lived database would have
        if scratch.engine == "sqlite":
            marker.write_text(json.dumps({**wanted, "lab": lab}))
    print("  " + ", ".join(f"{v:,} {k}" for k, v in lab["counts"].items()))
    if args.build_only:
        return
    deep_id, n_anc = lab["deep_id"], lab["deep_ancestors"]
    gc.collect()  # the generator's garbage, not the requests', should pay for this

    client = Client()
    client.force_login(User.objects.get(pk=lab["user_id"]))
    q = args.search
    from synthesis.models import Sample

    rare = Sample.objects.get(pk=deep_id).code.split("-")[0]  # e.g. S048021: one sample
    endpoints = [
        ("list", "/api/samples/?page_size=50"),
        ("list core_ml=4.5 + search", f"/api/samples/?page_size=50&core_ml=4.5&search={q}"),
        ("list search", f"/api/samples/?page_size=50&search={q}"),
        # A selective term: no early exit for the page query, a full scan for both queries.
        ("list search, rare term", f"/api/samples/?page_size=50&search={rare}"),
        (f"detail ({n_anc} ancestors)", f"/api/samples/{deep_id}/"),
        ("lineage", f"/api/samples/{deep_id}/lineage/"),
    ]
    print(
        f"{args.requests} timed requests per endpoint (Django test Client, logged in, "
        f"{connection.vendor}); sample {deep_id} has {n_anc} ancestors"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, load average {_load()} (other work on the machine "
        "inflates every figure)"
    )
    header = (
        f"{'endpoint':<28}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}{'queries':>8}"
        f"{'SQL ms':>8}  result"
    )
    print(header)
    results = []
    for label, url in endpoints:
        m = measure(client, url, args.requests)
        body = m["body"]
        if "count" in body:
            bound = "" if body.get("count_exact", True) else "+ (count capped)"
            what = f"{body['count']:,}{bound} matching, {len(body['results'])} on the page"
        elif "ancestors" in body:
            what = (
                f"{len(body['ancestors'])} ancestors, {len(body['descendants'])} "
                f"descendants, {len(body['edges'])} edges"
            )
        else:
            what = f"{body.get('code')}, {len(body.get('parents', []))} parents"
        sql_ms = sum(float(x["time"]) for x in m["queries"]) * 1000
        p95 = percentile(m["times"], 95)
        print(
            f"{label:<28}{percentile(m['times'], 50):>8.1f}{p95:>8.1f}{max(m['times']):>8.1f}"
            f"{len(m['queries']):>8}{sql_ms:>8.1f}  {what}"
        )
        results.append((label, url, p95, m))
        if args.profile:
            _profile(client, url)

    print(f"load average after the requests: {_load()}")
    target = TARGET_P95_MS_1M if args.samples > 100_000 else TARGET_P95_MS
    missed = [r for r in results if r[2] >= target]
    print(
        f"target p95 < {target:.0f} ms ({connection.vendor}): "
        + (
            "met by every endpoint"
            if not missed
            else "NOT met by " + ", ".join(f"{r[0]} ({r[2]:.0f} ms)" for r in missed)
        )
    )
    for label, url, _p95, m in results:
        if not (args.explain or any(r[0] == label for r in missed)):
            continue
        print(f"\n--- {label}: GET {url}")
        for query in sorted(m["queries"], key=lambda x: -float(x["time"])):
            print(f"  {float(query['time']) * 1000:7.1f} ms  {query['sql'][:300]}")
            if query["sql"].lstrip().upper().startswith("SELECT") and float(query["time"]) > 0.002:
                for line in _explain(query["sql"]):
                    print(f"             plan: {line}")


if __name__ == "__main__":
    main()
