"""Benchmark the XAS fitting engine: fits/minute for 1-, 3- and 13-path fits, engine overhead
against a bare larch script doing the same fit, and FEFF cache hit vs miss.

Run:  .venv/bin/python benchmarks/xas_fits.py [--repeat N]
Data: ../shared/data/xas (docs/XAS.md). Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "xas" / "larch_examples"


def _cases():
    from larch.io import read_ascii

    cu = read_ascii(str(DATA / "cu_metal_rt.xdi"))
    raw = {"energy_ev": cu.energy, "mu": cu.mutrans}

    def guess(**kw):
        return {k: {"kind": "guess", "value": v} for k, v in kw.items()}

    def case(paths, params, rbkg, transform, autobk_extra=None):
        autobk = {"rbkg": rbkg, "kweight": 2, **(autobk_extra or {})}
        model = {"parameters": params, "datasets": [{
            "id": "cu", "processing": {"pre_edge": {}, "autobk": autobk, "xftf": {}},
            "transform": transform, "paths": paths}]}
        return model, autobk

    one = case([{"path_file": "feffcu01", "s02": "amp", "e0": "del_e0", "sigma2": "sig2",
                 "deltar": "del_r"}], guess(amp=1.0, del_e0=0.0, sig2=0.0, del_r=0.0), 1.0,
               {"kmin": 3, "kmax": 17, "kweight": 2, "dk": 4, "rmin": 1.4, "rmax": 3.0})
    common = {"s02": "amp", "e0": "del_e0", "deltar": "alpha*reff"}
    three = case([{"path_file": "feff0001", "sigma2": "sig2_1", "third": "c3_1", **common},
                  {"path_file": "feff0002", "sigma2": "sig2_2", **common},
                  {"path_file": "feff0003", "sigma2": "sig2_3", **common}],
                 guess(amp=1, del_e0=3, c3_1=0.002, sig2_1=0.002, sig2_2=0.002, sig2_3=0.002,
                       alpha=0), 1.1,
                 {"kmin": 3, "kmax": 17, "kweight": 2, "dk": 4, "rmin": 1.4, "rmax": 3.5})
    # examples/feffit/feffit_13paths.py, on cu_metal_rt.xdi (cu_150k.xmu is not in shared data)
    sig = ["sig2_p1", "sig2_p2", "sig2_p3", "sig2_p4", "sig2_p5", "sig2_p6"] + ["sig2_p5"] * 7
    p13 = [{"path_file": f"feff{i:04d}", "s02": "s02", "e0": "e01" if i == 1 else "e0",
            "sigma2": sig[i - 1], "deltar": "alpha*reff"} for i in range(1, 14)]
    params13 = {**guess(s02=1, e01=4, e0=4, alpha=0, sig2_p1=0.002, sig2_p2=0.002,
                        sig2_p3=0.002, sig2_p6=0.002),
                "sig2_p4": {"kind": "def", "expr": "sig2_p3"},
                "sig2_p5": {"kind": "def", "expr": "sig2_p4"}}
    thirteen = case(p13, params13, 1.1, {"kmin": 3, "kmax": 16, "kweight": [2, 1, 3], "dk": 5,
                                         "rmin": 1.4, "rmax": 4.7}, {"clamp_hi": 50})
    files = {
        1: {"feffcu01": DATA / "feff_cu" / "feffcu01.dat"},
        3: {f"feff000{i}": DATA / "feff_cu" / f"feff000{i}.dat" for i in (1, 2, 3)},
        13: {f"feff{i:04d}": DATA / "feff_cu_13paths" / f"feff{i:04d}.dat" for i in range(1, 14)},
    }
    return raw, {1: one, 3: three, 13: thirteen}, files


def bare_larch_fit(raw, model, autobk, files):
    """The same fit written as a plain larch script (what the engine wraps)."""
    from larch import Group
    from larch.fitting import param, param_group
    from larch.xafs import autobk as larch_autobk
    from larch.xafs import feffit, feffit_dataset, feffit_transform, feffpath, pre_edge

    g = Group(energy=raw["energy_ev"], mu=raw["mu"])
    pre_edge(g)
    larch_autobk(g, **autobk)
    pars = {}
    for name, p in model["parameters"].items():
        pars[name] = param(expr=p["expr"]) if p["kind"] == "def" else param(p["value"], vary=True)
    ds = model["datasets"][0]
    paths = [feffpath(str(files[p["path_file"]]),
                      **{k: v for k, v in p.items() if k not in ("path_file",)})
             for p in ds["paths"]]
    out = feffit(param_group(**pars), feffit_dataset(
        data=g, pathlist=paths, transform=feffit_transform(**ds["transform"])))
    return {n: (out.params[n].value, out.params[n].stderr) for n in model["parameters"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=0, help="runs per case (default: auto)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    from analysis.engines._larch import preload, software_versions
    preload()
    print(f"import larch (once per worker): {time.perf_counter() - t0:.2f} s")
    from analysis.engines.feff import DirectoryFeffCache, LatticeStructure, compute_feff_paths
    from analysis.engines.fitting import run_fit

    raw, cases, files = _cases()
    print(f"versions: {software_versions()}")
    print(f"{'fit':>8} {'nfev':>5} {'engine s':>9} {'bare s':>8} {'fits/min':>9} {'overhead':>9}")
    for npaths, (model, autobk) in cases.items():
        repeat = args.repeat or {1: 15, 3: 7, 13: 3}[npaths]
        texts = files[npaths]
        # warm-up (parses/caches path files, first-call costs) — not timed
        res = run_fit({"cu": raw}, model, texts)
        bare = bare_larch_fit(raw, model, autobk, texts)
        same = all(abs(res.parameters[n]["value"] - v[0]) <= 1e-9 * max(1, abs(v[0]))
                   for n, v in bare.items())
        t_engine, t_bare = [], []
        for _ in range(repeat):  # interleaved, so machine load hits both alike
            t = time.perf_counter()
            run_fit({"cu": raw}, model, texts)
            t_engine.append(time.perf_counter() - t)
            t = time.perf_counter()
            bare_larch_fit(raw, model, autobk, texts)
            t_bare.append(time.perf_counter() - t)
        me, mb = statistics.median(t_engine), statistics.median(t_bare)
        print(f"{npaths:>3}-path {res.statistics['nfev']:>5} {me:>9.3f} {mb:>8.3f} "
              f"{60 / me:>9.1f} {100 * (me / mb - 1):>8.1f}%  (n={repeat}, same result as "
              f"bare larch: {same})")

    with tempfile.TemporaryDirectory() as tmp:
        cache = DirectoryFeffCache(Path(tmp))
        structure = LatticeStructure("zincblende", 6.05, "Cd", "Se")
        t = time.perf_counter()
        miss = compute_feff_paths(structure, absorber="Cd", cluster_radius_a=6.0, cache=cache)
        t_miss = time.perf_counter() - t
        hits = []
        for _ in range(20):
            t = time.perf_counter()
            hit = compute_feff_paths(structure, absorber="Cd", cluster_radius_a=6.0, cache=cache)
            hits.append(time.perf_counter() - t)
        t8 = time.perf_counter()
        compute_feff_paths(structure, absorber="Cd", cluster_radius_a=6.0, feff_version=8,
                           cache=cache)
        t_miss8 = time.perf_counter() - t8
    print(f"FEFF CdSe zinc blende, Cd K, 6 Å: feff6l miss {t_miss:.3f} s ({len(miss.paths)} "
          f"paths), feff8l miss {t_miss8:.3f} s, cache hit {statistics.median(hits) * 1e3:.2f} ms "
          f"(from_cache={hit.from_cache})")


if __name__ == "__main__":
    main()
