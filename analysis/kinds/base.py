"""The contract every kind of analysis run implements (EXAFS fit, LCF, PCA, wavelet,
model-free fit, calculators, optical analyses …).

A new kind is three things and nothing more:

1. an **engine**: a pure module in ``analysis/engines/`` (no Django, no DRF) with
   ``ENGINE_NAME: str``, ``ENGINE_VERSION: str`` and one verb function doing the numerics;
2. a **schema**: a DRF ``Serializer`` for the run's ``parameters`` (errors keyed by field), plus
   the kind's declared input roles (which stored records it reads, by id — never copies);
3. a **result mapping**: ``store`` turns the engine's JSON result into lab records (e.g. a
   ``ReportedQuantity`` per phase fraction on the unknown's sample), inside the run's
   exactly-once transaction.

The generic run lifecycle (``analysis/services/runs.py``: request → validate → idempotency →
job → claim/heartbeat/progress → compute → store once → provenance → staleness → refit) is the
same for every kind; a kind never touches run status itself.

Register a kind by instantiating a subclass of :class:`AnalysisKind` in its module and calling
:func:`register` at import time; ``analysis/kinds/__init__.py`` imports every kind module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover
    from rest_framework import serializers

    from analysis.models import AnalysisRun

# What an input role may point at. Each is one model; the lifecycle resolves ids to rows,
# refuses missing/retired/not-visible ones with a 400 naming ``inputs.<role>``, and records
# a fingerprint (raw-file sha256 or the record's version) for staleness.
INPUT_TYPES = {
    "spectrum": "characterization.XASSpectrum",  # includes simulated spectra (source=simulated)
    "fit": "characterization.XASFit",
    "file": "characterization.DataFile",
    "run": "analysis.AnalysisRun",
    "quantity": "characterization.ReportedQuantity",
    "sample": "synthesis.Sample",
    # Measurements of the optical, TEM and composition analyses (each row has sample and
    # data_file; multi-scan files have one row per scan):
    "pl": "characterization.PLMeasurement",
    "absorption": "characterization.AbsorptionMeasurement",
    "lifetime": "characterization.PLLifetimeMeasurement",
    "tem_size": "characterization.TEMSizeMeasurement",
    "composition": "characterization.CompositionMeasurement",
}
# The types whose rows carry ``sample`` and ``data_file`` (resolved with one join).
MEASUREMENT_INPUT_TYPES = frozenset(INPUT_TYPES) - {"file", "run", "sample"}

Progress = Callable[[int, str], None]
"""``progress(pct, message)``: pct 0–100; the lifecycle stores it (throttled) and logs it."""


@dataclass(frozen=True)
class InputRole:
    """One named input of a kind, e.g. ``InputRole("standards", "spectrum", many=True, min=2)``.

    ``many`` roles take a JSON list of ids, others a single id. ``required=False`` roles may
    be omitted. ``min``/``max`` bound the list length of a ``many`` role.
    """

    name: str
    type: str  # a key of INPUT_TYPES
    many: bool = False
    required: bool = True
    min: int = 1
    max: int | None = None
    help: str = ""


class AnalysisKind:
    """Base class of a kind; subclasses set the class attributes and implement the methods.

    ``name`` is the ``kind`` value of the API and the model (``"xanes_lcf"``); ``label`` is
    what the UI shows ("XANES linear combination"). ``engine_name``/``engine_version`` come
    from the engine module and go into provenance and staleness.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    engine_name: ClassVar[str]
    engine_version: ClassVar[str]
    inputs: ClassVar[tuple[InputRole, ...]] = ()
    parameters: ClassVar[type[serializers.Serializer]]
    # Template partials (Django templates under templates/analysis/kinds/):
    # ``form_template`` renders inside the generic start page (/analysis-runs/new/<kind>/),
    # ``result_template`` inside the generic run page (/analysis-runs/<id>/). Both get
    # ``kind`` and ``run`` (run is None on the start page) in their context.
    form_template: ClassVar[str] = ""
    result_template: ClassVar[str] = ""
    # The background job that executes a run of this kind (``labdb.lib.jobs`` name).
    job_name: ClassVar[str] = "analysis.run_analysis"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        """Cross-checks of validated parameters against the resolved input rows (standards
        on one edge, an energy range inside the data, an R-window with a peak …). Raise
        ``rest_framework.exceptions.ValidationError({"parameters.<field>" or
        "inputs.<role>": "what was expected"})``. Called at request time, in the request."""

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> Any:
        """Read what the engine needs from the stored inputs (raw files, stored arrays) into
        plain Python/numpy data. Runs in the worker, outside any transaction."""
        raise NotImplementedError

    def compute(self, loaded: Any, parameters: dict, progress: Progress) -> dict:
        """Call the pure engine; return a JSON-serialisable result (numbers, lists, no
        numpy scalars, no NaN — use None). Raise ``labdb.lib.errors.EngineError`` with a
        chemist's sentence for a failure the user caused; the run is stored failed with it."""
        raise NotImplementedError

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        """The result mapping: create the lab records the result stands for (measurements or
        ReportedQuantity rows with ``source=computed``) and return them. Runs inside the
        lifecycle's transaction that marks the run succeeded, exactly once per run."""
        return []

    def summary(self, run: AnalysisRun) -> str:
        """One line for the run list ("3 standards, best: CdS 0.62 ± 0.03 + CdO …")."""
        return ""

    # --- optional hooks (the defaults are the generic lifecycle's behaviour) ---------------

    def submit(
        self, *, rows: Mapping[str, Any], parameters: dict, actor: Any,
        rerun_of: AnalysisRun | None, force: bool,
    ) -> AnalysisRun | None:
        """A kind with its own request path (the EXAFS fit) creates and queues the run here
        and returns it; None (the default) lets the generic lifecycle create it."""
        return None

    def staleness(self, run: AnalysisRun) -> str | None:
        """Why ``run`` is stale, for a kind that knows better than the generic input
        fingerprints + engine version comparison; None (the default) uses the generic one."""
        return None

    def rerun_parameters(self, run: AnalysisRun) -> dict:
        """The parameters a rerun of ``run`` is requested with (default: the stored ones)."""
        return dict(run.parameters)


_REGISTRY: dict[str, AnalysisKind] = {}


def register(kind: AnalysisKind) -> AnalysisKind:
    """Add ``kind`` to the registry (once per name; a second registration is a bug)."""
    if kind.name in _REGISTRY:
        raise RuntimeError(f"analysis kind {kind.name!r} registered twice")
    _REGISTRY[kind.name] = kind
    return kind


def get_kind(name: str) -> AnalysisKind:
    """The registered kind ``name``; ``KeyError`` if there is none."""
    return _REGISTRY[name]


def all_kinds() -> list[AnalysisKind]:
    """Every registered kind, by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


# The one provenance shape of every run (``AnalysisRun.provenance``):
# {"kind", "engine": {"name", "version"}, "software": {larch, numpy, scipy, ...},
#  "parameters": {...validated...},
#  "inputs": [{"role", "type", "id", "label", "sha256"?, "version"?}],
#  "requested_by", "requested_at", "finished_at", "labdb_version"}
PROVENANCE_KEYS = (
    "kind", "engine", "software", "parameters", "inputs",
    "requested_by", "requested_at", "finished_at", "labdb_version",
)
