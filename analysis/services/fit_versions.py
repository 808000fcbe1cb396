"""Reproductions and versions of computed fits.

* A run whose canonical model hash, raw-file sha256(s) and engine versions (xraylarch, lmfit,
  numpy, scipy, asteval) equal those of a stored fit is a **reproduction** of that fit: no new
  ``XASFit`` row; the run links the fit (``reproduces``) and records whether every number
  (each parameter's value and error, χ², χ²ᵥ, R-factor) agreed exactly.
* Any other new fit of the same spectra (same dataset spectra, in order) is a **new version**
  of the latest stored fit of those spectra: ``previous_version``, ``fit_version`` = previous
  + 1, and the changes in words ("parameter sig2: guess 0.003 → 0.005").

Pure comparison helpers plus the ``earlier_fits`` lookup (reproduced and previous fit, one
query), used by ``analysis.services.fits._store`` under the run's row lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db.models import Q

from analysis.models import EXAFS_FIT_KIND, AnalysisRun, FitRun
from characterization.enums import DataSource
from characterization.models import XASFit

__all__ = [
    "ENGINE_VERSION_KEYS",
    "EarlierFits",
    "compare_numbers",
    "earlier_fits",
    "model_changes",
    "version_info",
]

ENGINE_VERSION_KEYS = ("xraylarch", "lmfit", "numpy", "scipy", "asteval")
MAX_CHANGES = 40
STATISTICS_COMPARED = ("chi_square", "chi2_reduced", "rfactor")
#: Large run fields the version and reproduction lookups never read (plot arrays, log, the
#: output of other kinds): deferred, so that a spectrum with many earlier fits costs little.
HEAVY_RUN_FIELDS = ("result_data", "log", "output")


def _engine(versions: dict | None) -> dict:
    return {k: (versions or {}).get(k) for k in ENGINE_VERSION_KEYS}


def _spectra_of(run: AnalysisRun) -> list[int]:
    ids = list(run.datasets.order_by("position").values_list("spectrum_id", flat=True))
    return ids or ([run.spectrum_id] if run.spectrum_id is not None else [])


@dataclass(frozen=True)
class EarlierFits:
    """What a new result of a run is, against the stored fits: a reproduction of
    ``reproduced`` (None: a new fit), else a new version of ``previous`` (None: a first fit)."""

    reproduced: XASFit | None
    previous: XASFit | None


def earlier_fits(run: FitRun, *, versions: dict, spectra: list[int] | None = None) -> EarlierFits:
    """The stored fits a new result of ``run`` relates to, read in one query:

    * ``reproduced``: the earliest stored, not retired fit computed from the same model hash
      and raw files (``input_sha256``) with the same engine versions;
    * ``previous`` (looked for only when nothing is reproduced): the latest stored computed
      fit (retired ones included: history) of exactly the same spectra as ``run``, in dataset
      order.

    ``versions``: the engine versions of the new result; ``spectra``: the run's spectrum ids in
    dataset order when the caller has them (else read from its dataset rows).
    """
    mine = list(spectra) if spectra else _spectra_of(run)
    same_inputs = Q(
        fit_run__kind=EXAFS_FIT_KIND,
        fit_run__input_sha256=run.input_sha256,
        fit_run__model_hash=run.model_hash,
        is_retired=False,
    )
    same_spectrum = (
        Q(source=DataSource.COMPUTED, spectrum_id=mine[0], fit_run__isnull=False)
        if mine
        else Q(pk__in=[])
    )
    fits = list(
        XASFit.objects.filter(same_inputs | same_spectrum)
        .exclude(fit_run=run)
        .select_related("fit_run")
        # the plot arrays and log of earlier runs are not compared: not read
        .defer(*(f"fit_run__{name}" for name in HEAVY_RUN_FIELDS))
    )
    reproduced = _reproduced(run, versions, fits)
    return EarlierFits(reproduced, None if reproduced is not None else _previous(mine, fits))


def _reproduced(run: FitRun, versions: dict, fits: list[XASFit]) -> XASFit | None:
    other_runs = sorted(
        (
            fit
            for fit in fits
            if fit.fit_run.kind == EXAFS_FIT_KIND
            and fit.fit_run.input_sha256 == run.input_sha256
            and fit.fit_run.model_hash == run.model_hash
            and not fit.is_retired
        ),
        key=lambda fit: (fit.fit_run.queued_at, fit.fit_run.pk),
    )
    wanted = _engine(versions)
    return next(
        (f for f in other_runs if _engine((f.provenance or {}).get("versions")) == wanted), None
    )


def _previous(mine: list[int], fits: list[XASFit]) -> XASFit | None:
    if not mine:
        return None
    candidates = sorted(
        (f for f in fits if f.source == DataSource.COMPUTED and f.spectrum_id == mine[0]),
        key=lambda fit: (fit.created_at, fit.pk),
        reverse=True,
    )
    return next((f for f in candidates if _spectra_of(f.fit_run) == mine), None)


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
        return text if len(text) <= 60 else text[:57] + "…"
    return str(value)


def _parameter_changes(old: dict, new: dict) -> list[str]:
    out = []
    for name in new:
        if name not in old:
            out.append(f"parameter {name} added: {_describe(new[name])}")
    for name in old:
        if name not in new:
            out.append(f"parameter {name} removed (was {_describe(old[name])})")
    for name in new:
        if name in old and old[name] != new[name]:
            out.append(f"parameter {name}: {_parameter_change(old[name], new[name])}")
    return out


def _parameter_change(old, new) -> str:
    """``guess 0.003 → 0.005`` when only the value changed, else both descriptions."""
    if isinstance(old, dict) and isinstance(new, dict) and old.get("kind") == new.get("kind"):
        rest_old = {k: v for k, v in old.items() if k != "value"}
        rest_new = {k: v for k, v in new.items() if k != "value"}
        if rest_old == rest_new and "value" in old and "value" in new:
            return f"{old['kind']} {_short(old['value'])} → {_short(new['value'])}"
    return f"{_describe(old)} → {_describe(new)}"


def _describe(spec) -> str:
    """``guess 0.003 (min 0)``, ``set 0.73``, ``def ss2_1 * 1.5``, ``from fit 41 (amp)``."""
    if not isinstance(spec, dict):
        return _short(spec)
    if "from_fit" in spec:
        return f"from fit {spec['from_fit']} ({spec.get('parameter', '')})"
    kind = spec.get("kind", "")
    core = _short(spec.get("expr")) if kind == "def" else _short(spec.get("value"))
    bounds = [f"{b} {_short(spec[b])}" for b in ("min", "max") if spec.get(b) is not None]
    return f"{kind} {core}" + (f" ({', '.join(bounds)})" if bounds else "")


def _leaf_changes(old, new, where: str) -> list[str]:
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{where}.{key}" if where else str(key)
            if key not in new:
                out.append(f"{sub} removed (was {_short(old[key])})")
            elif key not in old:
                out.append(f"{sub} added: {_short(new[key])}")
            else:
                out += _leaf_changes(old[key], new[key], sub)
        return out
    if isinstance(old, list) and isinstance(new, list):
        out = [] if len(old) == len(new) else [f"{where}: {len(old)} → {len(new)} entries"]
        for index, (a, b) in enumerate(zip(old, new, strict=False)):
            out += _leaf_changes(a, b, f"{where}[{index}]")
        return out
    if isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > 60:
        return [f"{where} changed"]  # path file texts, CIFs: named, not printed
    return [f"{where}: {_short(old)} → {_short(new)}"]


def model_changes(old: dict, new: dict) -> list[str]:
    """What changed between two fit-run models, in words, parameters first (at most 40)."""
    old, new = old or {}, new or {}
    out = _parameter_changes(old.get("parameters") or {}, new.get("parameters") or {})
    rest_old = {k: v for k, v in old.items() if k != "parameters"}
    rest_new = {k: v for k, v in new.items() if k != "parameters"}
    out += _leaf_changes(rest_old, rest_new, "")
    return out[:MAX_CHANGES] + ([f"… {len(out) - MAX_CHANGES} more"] if len(out) > MAX_CHANGES
                                else [])


def engine_changes(old: dict | None, new: dict | None) -> list[str]:
    a, b = _engine(old), _engine(new)
    return [f"{k} {a[k]} → {b[k]}" for k in ENGINE_VERSION_KEYS if a[k] != b[k]]


def version_changes(previous: XASFit, run: FitRun, versions: dict, raws: list[dict]) -> list[str]:
    """Model, raw-file and engine changes from ``previous`` to the new fit of ``run``."""
    prev_run = previous.fit_run
    out = model_changes(prev_run.model, run.model)
    before = {e.get("spectrum"): e.get("sha256") for e in (previous.provenance or {}).get(
        "spectra") or []}
    out += [f"raw file changed: {r['file']}" for r in raws
            if r.get("spectrum") in before and before[r["spectrum"]] != r.get("sha256")]
    out += [f"engine: {c}" for c in engine_changes(
        (previous.provenance or {}).get("versions"), versions)]
    return out


def compare_numbers(fit: XASFit, result) -> list[str]:
    """Differences between a stored fit's numbers and a new result of the same model: each
    parameter's value and error, and χ², χ²ᵥ, R-factor. Empty when all agree exactly."""
    prov = fit.provenance or {}
    out = []
    stored, now = prov.get("parameters") or {}, result.parameters or {}
    for name in sorted(set(stored) | set(now)):
        for key in ("value", "stderr"):
            a, b = (stored.get(name) or {}).get(key), (now.get(name) or {}).get(key)
            if a != b:
                out.append(f"{name} {key}: {_short(a)} stored, {_short(b)} now")
    for key in STATISTICS_COMPARED:
        a, b = (prov.get("statistics") or {}).get(key), (result.statistics or {}).get(key)
        if a != b:
            out.append(f"{key}: {_short(a)} stored, {_short(b)} now")
    return out


def version_info(fit: XASFit) -> dict | None:
    """What the fit page and the API show of a computed fit's history: its version number,
    the number of versions, the previous and next versions, the changes, and every run that
    reproduced it (run id, exact or not, differences). None for a fit without a run."""
    run = getattr(fit, "fit_run", None)
    if run is None:
        return None
    newest, latest = run.fit_version, fit
    seen = {fit.pk}
    while True:
        nxt = (
            XASFit.objects.filter(fit_run__previous_version=latest)
            .select_related("fit_run")
            .order_by("-fit_run__fit_version", "-pk")
            .first()
        )
        if nxt is None or nxt.pk in seen:
            break
        seen.add(nxt.pk)
        latest, newest = nxt, max(newest, nxt.fit_run.fit_version)
    following = list(
        XASFit.objects.filter(fit_run__previous_version=fit).order_by("pk").values_list(
            "pk", flat=True)
    )
    reproductions = [
        {
            "run": r.pk,
            "exact": r.reproduced_exactly,
            "differences": r.reproduction_differences,
            "finished_at": r.finished_at,
        }
        for r in fit.reproductions.order_by("pk")
    ]
    return {
        "version": run.fit_version,
        "of": newest,
        "previous_version": run.previous_version_id,
        "next_versions": following,
        "changes": run.version_changes,
        "reproductions": reproductions,
        "reproduction_count": len(reproductions),
        "all_exact": all(r["exact"] for r in reproductions) if reproductions else None,
    }
