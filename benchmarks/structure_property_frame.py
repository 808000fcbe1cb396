#!/usr/bin/env python
"""Benchmark: the structure–property frame and the correlation endpoint on a synthetic lab.

Builds a scratch database with ``--samples`` samples (default 100 000) and ten measurements per
sample (4 PL, 3 TEM, 3 XAS fits with 5 paths between them: 1 000 000 measurements and 500 000
paths at full size) with raw ``executemany`` inserts, then prints

* the frame build time (``structure_property_frame()``, eleven narrow queries + pandas) against a
  hand-written baseline (six raw SQL queries + pandas, same "latest" choice) on the same data,
  naive and fair (``baseline_frame(fair=True)``: the same rows and input columns as the frame),
  timed alternately; target ≤ 1.1× (issue 16);
* p50/p95 of ``GET /api/analysis/correlation/`` over ``--requests`` calls (Django test client).

Database: a SQLite file (``--sqlite``, default /tmp/labdb_bench.sqlite3, rebuilt unless
``--reuse``), or PostgreSQL when ``DATABASE_URL`` is set. PostgreSQL must be a scratch database:
the script refuses one that holds samples it did not create. Figures are printed, never asserted.

    .venv/bin/python benchmarks/structure_property_frame.py --samples 100000
    DATABASE_URL=postgres://u:pw@localhost/labdb_bench .venv/bin/python benchmarks/...
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKER_PAPER = "bench-synthetic"
PL_PER_SAMPLE, TEM_PER_SAMPLE = 4, 3
ARCHITECTURES = (("core",), ("core", "crown"), ("core", "shell"), ("core", "crown", "shell"))


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="frame builds to time (best of)")
    parser.add_argument("--sqlite", default="/tmp/labdb_bench.sqlite3")
    parser.add_argument("--reuse", action="store_true",
                        help="keep an existing synthetic database of the same size")
    return parser.parse_args()


def _setup_django(args: argparse.Namespace) -> str:
    os.environ.setdefault("LABDB_VAR_DIR", "/tmp/labdb_bench_var")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labdb.settings")
    if not os.environ.get("DATABASE_URL"):
        if not args.reuse and Path(args.sqlite).exists():
            for suffix in ("", "-wal", "-shm"):
                Path(args.sqlite + suffix).unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{args.sqlite}"
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.db import connection

    return connection.vendor


# --- synthetic data ------------------------------------------------------------------------

def _inserter(model):
    """executemany for ``model``: every concrete column, defaults filled once."""
    from django.db import connection
    from django.utils import timezone

    fields = [f for f in model._meta.concrete_fields]
    now = timezone.now()
    defaults = {}
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value = now
        else:  # the model default; "" for text fields without one, else None
            value = f.get_default()
        defaults[f.attname] = f.get_db_prep_save(value, connection)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) " \
          f"VALUES ({marks})"

    def insert(rows: list[dict], *, prepared: tuple[str, ...] = ()) -> None:
        names = [f.attname for f in fields]
        prep = {f.attname: f for f in fields if f.attname in prepared}
        values = []
        for row in rows:
            values.append(tuple(
                (prep[n].get_db_prep_save(row[n], connection) if n in prep else row[n])
                if n in row else defaults[n] for n in names))
        with connection.cursor() as cursor:
            for start in range(0, len(values), 20_000):
                cursor.executemany(sql, values[start:start + 20_000])

    return insert


def _generate(n_samples: int) -> None:
    import datetime as dt

    import numpy as np
    from django.db import connection, transaction
    from django.utils import timezone

    from characterization.models import PLMeasurement, TEMSizeMeasurement, XASFit, XASPath
    from synthesis.models import (
        Paper,
        Recipe,
        RecipeStep,
        Sample,
        SampleLayer,
        SynthesisRun,
    )

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=OFF")
    with transaction.atomic():
        Paper.objects.create(key=MARKER_PAPER, title="synthetic benchmark lab")
        recipes = [Recipe.objects.create(slug=f"bench-{i}", name=f"bench recipe {i}")
                   for i in range(10)]
        for i, recipe in enumerate(recipes):
            RecipeStep.objects.create(recipe=recipe, position=1, action="heat",
                                      setpoint_value=200 + 10 * i, setpoint_unit="°C",
                                      setpoint_c=200.0 + 10 * i)
            RecipeStep.objects.create(recipe=recipe, position=2, action="inject",
                                      injection_rate_value=4 + i, injection_rate_unit="mL/h",
                                      injection_rate_ml_per_h=4.0 + i)
            RecipeStep.objects.create(recipe=recipe, position=3, action="hold",
                                      duration_value=10 * (i + 1), duration_unit="min",
                                      duration_s=600.0 * (i + 1))
        runs = [SynthesisRun.objects.create(code=f"BENCH-RUN-{i}", recipe=recipes[i % 10])
                for i in range(1000)]
        base = dt.date(2023, 1, 1)
        arch = rng.integers(0, len(ARCHITECTURES), n_samples)
        dated = rng.random(n_samples) < 0.5
        _inserter(Sample)([
            {"id": i + 1, "code": f"S{i + 1:07d}", "name": f"synthetic {i + 1}",
             "material": "CdSe", "morphology": "NPL",
             "synthesis_date": base + dt.timedelta(days=int(i % 365)) if dated[i] else None,
             "produced_by_id": runs[i % 1000].pk} for i in range(n_samples)])
        core_ml = rng.choice([3.5, 4.5, 5.5], n_samples)
        layers, layer_id = [], 0
        for i in range(n_samples):
            for pos, role in enumerate(ARCHITECTURES[arch[i]], start=1):
                layer_id += 1
                layers.append({"id": layer_id, "sample_id": i + 1, "position": pos,
                               "role": role, "material": "CdSe" if role == "core" else "CdS",
                               "thickness_ml": float(core_ml[i]) if role == "core" else None})
        _inserter(SampleLayer)(layers)
        print(f"  samples and layers: {time.perf_counter() - t0:.1f} s", flush=True)

        def when(i: int, k: int):
            """(measured_at, age_days) of the k-th measurement of sample i."""
            age = float(k * 30 + rng.integers(0, 20))
            if dated[i]:
                start = dt.datetime.combine(base + dt.timedelta(days=int(i % 365)),
                                            dt.time(), tzinfo=dt.UTC)
                return start + dt.timedelta(days=age), None
            return None, age

        pl, tem, fits, paths = [], [], [], []
        qy = rng.uniform(1, 95, n_samples * PL_PER_SAMPLE)
        for i in range(n_samples):
            for k in range(PL_PER_SAMPLE):
                m, a = when(i, k)
                pl.append({"id": len(pl) + 1, "sample_id": i + 1, "measured_at": m,
                           "age_days": a, "source": "measured", "qy_pct": float(qy[len(pl)]),
                           # varies between samples, so that peak_nm~qy_pct is a real
                           # correlation (with 510 + k the latest peak was one constant)
                           "peak_nm": 510.0 + k + 0.5 * (i % 41), "fwhm_mev": 40.0 + k})
            for k in range(TEM_PER_SAMPLE):
                m, a = when(i, k)
                tem.append({"id": len(tem) + 1, "sample_id": i + 1, "measured_at": m,
                            "age_days": a, "source": "measured", "length_nm": 20.0 + k,
                            "width_nm": 8.0 + k})
            for k, absorber in ((0, "Cd"), (1, "Zn"), (2, "Cd")):
                m, a = when(i, k)
                fits.append({"id": len(fits) + 1, "sample_id": i + 1, "measured_at": m,
                             "age_days": a, "source": "computed", "absorber": absorber,
                             "edge_name": "K"})
                pairs = (("Cd", "S"), ("Cd", "Se")) if absorber == "Cd" else (("Zn", "S"),)
                for pos, (ab, sc) in enumerate(pairs, start=1):
                    n = float(rng.uniform(0.5, 4.5))
                    paths.append({"id": len(paths) + 1, "fit_id": len(fits), "position": pos,
                                  "absorber": ab, "scatterer": sc, "n": n, "n_err": 0.1 * n,
                                  "r_a": 2.5, "r_err_a": 0.01, "sigma2_a2": 0.005,
                                  "sigma2_err_a2": 0.001})
        print(f"  rows built: {time.perf_counter() - t0:.1f} s", flush=True)
        aware = ("measured_at",)
        _inserter(PLMeasurement)(pl, prepared=aware)
        _inserter(TEMSizeMeasurement)(tem, prepared=aware)
        _inserter(XASFit)(fits, prepared=aware)
        _inserter(XASPath)(paths)
        if connection.vendor == "postgresql":
            from django.core.management.color import no_style

            models = [Sample, SampleLayer, PLMeasurement, TEMSizeMeasurement, XASFit, XASPath]
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), models):
                    cursor.execute(sql)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    total = len(pl) + len(tem) + len(fits)
    print(f"generated {n_samples} samples, {total} measurements, {len(paths)} paths in "
          f"{time.perf_counter() - t0:.1f} s ({timezone.now():%Y-%m-%d %H:%M})", flush=True)


def _prepare(args: argparse.Namespace) -> None:
    from django.core.management import call_command

    from synthesis.models import Paper, Sample

    call_command("migrate", verbosity=0)
    ours = Paper.objects.filter(key=MARKER_PAPER).exists()
    count = Sample.objects.count()
    if count and not ours:
        sys.exit("refusing to run: this database holds samples the benchmark did not create "
                 "(point DATABASE_URL at a scratch database)")
    if ours and count == args.samples and args.reuse:
        print(f"reusing the synthetic lab ({count} samples)")
        return
    if ours or count:
        sys.exit("the scratch database already holds a synthetic lab of another size; drop it "
                 "(PostgreSQL) or run without --reuse (SQLite)")
    _generate(args.samples)


# --- the hand-written baseline --------------------------------------------------------------

BASELINE_SQL = {
    "samples": """
        SELECT s.id, s.code, s.material, s.morphology, s.synthesis_date, r.id, r.name
        FROM synthesis_sample s
        LEFT JOIN synthesis_synthesisrun sr ON sr.id = s.produced_by_id
        LEFT JOIN synthesis_recipe r ON r.id = sr.recipe_id
        WHERE NOT s.is_retired""",
    "recipes": """
        SELECT recipe_id, MAX(COALESCE(setpoint_max_c, setpoint_c)),
               MAX(injection_rate_ml_per_h), MAX(injection_rate_after_switch_ml_per_h),
               SUM(CASE WHEN action = 'hold' THEN duration_s END)
        FROM synthesis_recipestep GROUP BY recipe_id""",
    "layers": """
        SELECT sample_id, position, material, role, composition_formula, thickness_ml,
               thickness_nm FROM synthesis_samplelayer""",
    "pl": """
        SELECT id, sample_id, measured_at, age_days, peak_nm, fwhm_mev, qy_pct, qy_pct_max
        FROM characterization_plmeasurement
        WHERE NOT is_retired AND source <> 'simulated'""",
    "tem": """
        SELECT id, sample_id, measured_at, age_days, length_nm, width_nm, diameter_nm
        FROM characterization_temsizemeasurement
        WHERE NOT is_retired AND source <> 'simulated'""",
    "paths": """
        SELECT f.id, f.sample_id, f.absorber, f.measured_at, f.age_days, f.citation,
               p.absorber, p.scatterer, p.position, p.n, p.n_err, p.r_a, p.r_err_a,
               p.sigma2_a2, p.sigma2_err_a2
        FROM characterization_xaspath p
        JOIN characterization_xasfit f ON f.id = p.fit_id
        WHERE NOT f.is_retired AND NOT f.is_stale AND f.source <> 'simulated'""",
}


def _not_flagged(model: str, ref: str) -> str:
    return f"""NOT EXISTS (SELECT 1 FROM synthesis_dataflag d
        JOIN django_content_type ct ON ct.id = d.content_type_id
        WHERE ct.app_label = 'characterization' AND ct.model = '{model}'
          AND d.kind IN ('wrong', 'duplicate') AND d.object_id = {ref}
          AND d.status <> 'resolved')"""


#: The baseline's queries reading what the frame must read: the same rows (measurements of
#: retired samples and records flagged wrong/duplicate left out) and the same input columns
#: (the PL qualifiers, upper ends and QY method). See ``baseline_frame(fair=True)``.
FAIR_SQL = {
    **BASELINE_SQL,
    "layers": """
        SELECT l.sample_id, l.position, l.material, l.role, l.composition_formula,
               l.thickness_ml, l.thickness_nm
        FROM synthesis_samplelayer l JOIN synthesis_sample s ON s.id = l.sample_id
        WHERE NOT s.is_retired""",
    "pl": f"""
        SELECT p.id, p.sample_id, p.measured_at, p.age_days, p.peak_nm, p.fwhm_mev, p.qy_pct,
               p.qy_pct_max, p.fwhm_mev_max, p.qualifier, p.fwhm_qualifier, p.qy_method
        FROM characterization_plmeasurement p JOIN synthesis_sample s ON s.id = p.sample_id
        WHERE NOT p.is_retired AND NOT s.is_retired AND p.source <> 'simulated'
          AND NOT (p.qy_pct IS NOT NULL AND p.source = 'computed')
          AND {_not_flagged('plmeasurement', 'p.id')}""",
    "tem": f"""
        SELECT t.id, t.sample_id, t.measured_at, t.age_days, t.length_nm, t.width_nm,
               t.diameter_nm
        FROM characterization_temsizemeasurement t JOIN synthesis_sample s ON s.id = t.sample_id
        WHERE NOT t.is_retired AND NOT s.is_retired AND t.source <> 'simulated'
          AND {_not_flagged('temsizemeasurement', 't.id')}""",
    "paths": f"""
        SELECT f.id, f.sample_id, f.absorber, f.measured_at, f.age_days, f.citation,
               p.absorber, p.scatterer, p.position, p.n, p.n_err, p.r_a, p.r_err_a,
               p.sigma2_a2, p.sigma2_err_a2
        FROM characterization_xaspath p
        JOIN characterization_xasfit f ON f.id = p.fit_id
        JOIN synthesis_sample s ON s.id = f.sample_id
        WHERE NOT f.is_retired AND NOT f.is_stale AND NOT s.is_retired
          AND f.source <> 'simulated' AND {_not_flagged('xasfit', 'f.id')}""",
}
#: The PL columns of the fair baseline's query beyond the naive one's.
_FAIR_PL_EXTRA = ["fwhm_mev_max", "qualifier", "fwhm_qualifier", "qy_method"]


def baseline_frame(fair: bool = False):
    """What an analyst would write by hand: raw SQL per table, pandas for the rest.

    ``fair=False`` (the naive baseline, as in the scale table) reads less than the frame must:
    it keeps measurements of retired samples and records a curator flagged wrong/duplicate
    (the frame's NOT EXISTS over the flags per PL, TEM and XAS row, and its join to the
    sample), and it does not read the PL qualifiers, the FWHM's upper end or the QY method.
    ``fair=True`` reads the same rows and input columns (``FAIR_SQL``); its pandas side still
    does less than the frame (no printed-value rule, no fit provenance columns, no typing)."""
    import numpy as np
    import pandas as pd
    from django.db import connection

    queries = FAIR_SQL if fair else BASELINE_SQL

    def read(name, columns):
        with connection.cursor() as cursor:
            cursor.execute(queries[name])
            return pd.DataFrame(cursor.fetchall(), columns=columns)

    s = read("samples", ["sample_id", "sample_code", "material", "morphology", "syn", "rid",
                         "recipe"])
    s["syn"] = pd.to_datetime(s["syn"], utc=True, format="ISO8601")
    rec = read("recipes", ["rid", "max_setpoint_c", "a", "b", "total_hold_s"])
    rec["max_injection_rate_ml_per_h"] = rec[["a", "b"]].max(axis=1)
    s = s.merge(rec.drop(columns=["a", "b"]), on="rid", how="left")
    lay = read("layers", ["sample_id", "pos", "material", "role", "formula", "ml", "nm"])
    lay = lay.sort_values(["sample_id", "pos"])
    size = np.where(lay["ml"].notna(), " " + lay["ml"].astype(str) + " ML", "")
    text = (lay["material"] + size + " " + lay["role"]).tolist()
    stack = {k: " / ".join(t for _, t in grp) for k, grp in
             itertools.groupby(zip(lay["sample_id"].tolist(), text), key=lambda r: r[0])}
    flags = pd.crosstab(lay["sample_id"], lay["role"]).reindex(
        columns=["core", "crown", "shell"], fill_value=0) > 0
    arch = flags.apply(lambda col: np.where(col, "/" + col.name, "")).sum(axis=1).str[1:]
    s = s.merge(pd.DataFrame({"layer_stack": pd.Series(stack), "architecture": arch}),
                left_on="sample_id", right_index=True, how="left")
    syn = s.set_index("sample_id")["syn"]

    def latest(df, keys):
        df["measured_at"] = pd.to_datetime(df["measured_at"], utc=True, format="ISO8601")
        synd = syn.reindex(df["sample_id"].to_numpy()).array
        age = (df["measured_at"] - synd) / pd.Timedelta(days=1)
        df["age"] = age.fillna(df["age_days"])
        df["has_age"] = df["age"].notna()
        df = df.sort_values([*keys, "has_age", "age", "measured_at", "id"],
                            na_position="first")
        return df.drop_duplicates(keys, keep="last")

    pl_columns = ["id", "sample_id", "measured_at", "age_days", "peak_nm", "fwhm_mev", "qy_pct",
                  "qy_pct_max", *(_FAIR_PL_EXTRA if fair else [])]
    pl = latest(read("pl", pl_columns), ["sample_id"])
    tem = latest(read("tem", ["id", "sample_id", "measured_at", "age_days", "length_nm",
                              "width_nm", "diameter_nm"]), ["sample_id"])
    p = read("paths", ["id", "sample_id", "fit_absorber", "measured_at", "age_days", "citation",
                       "absorber", "scatterer", "pos", "n", "n_err", "r_a", "r_err_a",
                       "sigma2_a2", "sigma2_err_a2"])
    chosen = latest(p.drop_duplicates("id").copy(), ["sample_id", "fit_absorber"])["id"]
    p = p[p["id"].isin(chosen)]
    p["key"] = p["absorber"].str.lower() + "_" + p["scatterer"].str.lower()
    wide = p.pivot_table(index="sample_id", columns="key",
                         values=["n", "n_err", "r_a", "r_err_a", "sigma2_a2", "sigma2_err_a2"],
                         aggfunc="first")
    wide.columns = [f"{k}_{q}" for q, k in wide.columns]
    frame = (s.merge(tem.drop(columns=["measured_at", "age_days", "age", "has_age"])
                     .rename(columns={"id": "tem_id"}), on="sample_id", how="left")
             .merge(pl.drop(columns=["measured_at", "age_days", "age", "has_age"])
                    .rename(columns={"id": "pl_id"}), on="sample_id", how="left")
             .merge(wide, left_on="sample_id", right_index=True, how="left"))
    frame["cd_s_cd_se_n_ratio"] = frame["cd_s_n"] / frame["cd_se_n"]
    frame["cd_s_cd_se_n_ratio_err"] = frame["cd_s_cd_se_n_ratio"].abs() * np.sqrt(
        (frame["cd_s_n_err"] / frame["cd_s_n"]) ** 2 + (frame["cd_se_n_err"]
                                                        / frame["cd_se_n"]) ** 2)
    return frame.sort_values("sample_code").reset_index(drop=True)


# --- timing ----------------------------------------------------------------------------------

def _best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def _alternated(repeat: int) -> tuple[dict[str, list[float]], object, object]:
    """Seconds per build of the frame, the naive and the fair baseline, timed in turns (the
    order rotates each round) so that load changes on a shared machine hit all three."""
    from analysis.selectors.structure_property import structure_property_frame

    builds = {"frame": structure_property_frame, "naive": baseline_frame,
              "fair": lambda: baseline_frame(fair=True)}
    times: dict[str, list[float]] = {name: [] for name in builds}
    results: dict[str, object] = {}
    names = list(builds)
    for round_ in range(repeat):
        for name in names[round_ % 3:] + names[:round_ % 3]:
            t0 = time.perf_counter()
            results[name] = builds[name]()
            times[name].append(time.perf_counter() - t0)
    _check_same(results["fair"], results["naive"])
    return times, results["frame"], results["naive"]


def _paired(times: dict[str, list[float]], baseline: str) -> float:
    return statistics.median(a / b for a, b in zip(times["frame"], times[baseline], strict=True))


def _check_same(ours, base) -> None:
    import numpy as np

    for column in ("qy_pct", "length_nm", "cd_s_n", "zn_s_n_err", "cd_s_cd_se_n_ratio",
                   "max_setpoint_c"):
        a, b = ours[column].to_numpy(dtype=float), base[column].to_numpy(dtype=float)
        if not np.allclose(a, b, equal_nan=True):
            sys.exit(f"baseline and frame disagree on {column}")


def _endpoint_p95(n: int) -> tuple[float, float]:
    from django.contrib.auth.models import User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench")
    client = Client()
    client.force_login(user)
    url = "/api/analysis/correlation/?x=cd_s_cd_se_n_ratio&y=qy_pct&group=architecture"
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - t0)
        if response.status_code != 200:
            sys.exit(f"correlation endpoint answered {response.status_code}: "
                     f"{response.content[:300]!r}")
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return statistics.median(times), p95


def main() -> None:
    args = _args()
    vendor = _setup_django(args)
    print(f"database: {vendor}; samples: {args.samples}", flush=True)
    _prepare(args)
    times, frame, base = _alternated(args.repeat)
    _check_same(frame, base)
    frame_s, naive_s, fair_s = (min(times[k]) for k in ("frame", "naive", "fair"))
    print(f"frame: {len(frame)} rows × {frame.shape[1]} columns in {frame_s:.2f} s (best of "
          f"{args.repeat}, timed alternately with the baselines); naive baseline "
          f"{naive_s:.2f} s, ratio {frame_s / naive_s:.2f}×; fair baseline (same rows and "
          f"input columns) {fair_s:.2f} s, ratio {frame_s / fair_s:.2f}× (target ≤ 1.1×); "
          f"median of the paired ratios {_paired(times, 'naive'):.2f}× / "
          f"{_paired(times, 'fair'):.2f}×", flush=True)
    for name in ("frame", "naive", "fair"):
        print(f"  {name} per round: " + ", ".join(f"{t:.2f}" for t in times[name]) + " s; "
              f"median {statistics.median(times[name]):.2f} s", flush=True)
    if args.requests:
        p50, p95 = _endpoint_p95(args.requests)
        print(f"GET /api/analysis/correlation/: p50 {p50:.2f} s, p95 {p95:.2f} s over "
              f"{args.requests} requests", flush=True)


if __name__ == "__main__":
    main()
