"""The declarative EXAFS fit model (JSON) and its validation — pure Python, no larch import.

The JSON shape is documented with an example in ``docs/fit-model.md``. :func:`parse_fit_model`
turns a JSON-like dict into a frozen :class:`FitModel` or raises :class:`EngineError` whose
``field`` is a JSON path such as ``datasets[0].paths[1].sigma2``. It checks structure, types,
ranges and every expression (syntax, names defined, no circular ``def`` parameters); whether
a path file exists and whether the k-range lies inside the data are checked by
:func:`analysis.engines.fitting.run_fit`, which knows the data and the path files.

Units: k in Å⁻¹, R in Å, energies in eV, σ² in Å², c3 in Å³.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, overload

from labdb.lib.errors import EngineError

from .xas_processing import AUTOBK_KEYS, FT_WINDOWS, PRE_EDGE_KEYS, XFTF_KEYS

SCHEMA_VERSION = 1
PARAMETER_KINDS = ("guess", "def", "set")
#: Path parameters of the EXAFS equation a path spec may set (number or expression).
PATH_PARAMETERS = ("s02", "e0", "sigma2", "deltar", "third", "fourth", "ei")
#: Names larch puts in the expression namespace for the current path.
PATH_SYMBOLS = frozenset({"reff", "nleg", "degen", "rmass", "rnorman", "gam_ch", "rs_int", "vint",
                          "vmu", "vfermi"})
#: Functions and constants usable in expressions (asteval numpy names plus larch σ² models).
EXPRESSION_FUNCTIONS = frozenset({
    "sqrt", "exp", "log", "log10", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2",
    "sinh", "cosh", "tanh", "abs", "min", "max", "pi", "e", "where", "sign", "fabs",
    "sigma2_eins", "sigma2_debye"})
RESERVED_NAMES = PATH_SYMBOLS | EXPRESSION_FUNCTIONS | {"feffpath", "EINS_FACTOR", "gamma"}
FIT_SPACES = ("r", "k", "q")
TRANSFORM_DEFAULTS: dict[str, Any] = {
    "kmin": 0.0, "kmax": 20.0, "kweight": 2, "dk": 4.0, "dk2": None, "window": "kaiser",
    "nfft": 2048, "kstep": 0.05, "rmin": 0.0, "rmax": 10.0, "dr": 0.0, "rwindow": "hanning",
    "fitspace": "r"}
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _fail(message: str, where: str) -> EngineError:
    return EngineError(message, field=where)


@overload
def _number(value: Any, where: str, *, allow_none: Literal[False] = False) -> float: ...
@overload
def _number(value: Any, where: str, *, allow_none: bool) -> float | None: ...
def _number(value: Any, where: str, *, allow_none: bool = False) -> float | None:
    """``value`` as a float (None only when ``allow_none``); EngineError naming ``where``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(f"{where} must be a finite number, got {value!r}", where)
    return float(value)


def _mapping(value: Any, where: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(f"{where} must be a JSON object", where)
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise _fail(f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; allowed: "
                    f"{', '.join(allowed)}", f"{where}.{unknown[0]}")
    return value


def expression_names(expr: str, where: str) -> set[str]:
    """Names used by an expression; EngineError on syntax errors or disallowed constructs."""
    if not isinstance(expr, str) or not expr.strip():
        raise _fail(f"{where} must be a non-empty expression", where)
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        raise _fail(f"{where}: invalid expression {expr!r} ({exc.msg})", where) from exc
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Subscript, ast.Lambda, ast.comprehension,
                             ast.Starred, ast.NamedExpr)):
            raise _fail(f"{where}: {type(node).__name__.lower()} is not allowed in {expr!r}",
                        where)
        if isinstance(node, ast.Call) and not (
                isinstance(node.func, ast.Name) and node.func.id in EXPRESSION_FUNCTIONS):
            raise _fail(f"{where}: only the functions {', '.join(sorted(EXPRESSION_FUNCTIONS))} "
                        f"may be called in {expr!r}", where)
        if isinstance(node, ast.Name):
            names.add(node.id)
    return names - EXPRESSION_FUNCTIONS


@dataclass(frozen=True)
class ParameterSpec:
    """A fit parameter: ``guess`` (varied, from ``value``, within ``min``/``max``), ``def``
    (``expr`` of other parameters) or ``set`` (fixed ``value``)."""

    name: str
    kind: str
    value: float | None = None
    expr: str | None = None
    min: float | None = None
    max: float | None = None

    def definition(self) -> str:
        """The expression of a 'def' parameter; ValueError for a 'guess' or 'set' one."""
        if self.expr is None:
            raise ValueError(f"parameter {self.name!r} is a {self.kind!r} parameter, not 'def'")
        return self.expr


@dataclass(frozen=True)
class PathSelector:
    """Choose FEFF paths by absorber, scatterer chain and half path length window (Å)."""

    absorber: str
    scatterers: tuple[str, ...]
    r_min_a: float
    r_max_a: float


@dataclass(frozen=True)
class PathSpec:
    """One path entry: a path file id *or* a selector, plus EXAFS-equation parameters.

    ``n`` (optional expression) is the coordination number of the shell this entry selects: the
    engine then sets larch ``degen = 1`` and ``s02 = (s02)·(n)·degen_i/Σdegen`` for each selected
    path i (the "degen × s02" pattern), so N is a fitted quantity with an error bar. Without
    ``n``, ``degen`` (a number) overrides FEFF's degeneracy, or FEFF's is used.
    """

    label: str
    path_file: str | None = None
    select: PathSelector | None = None
    degen: float | None = None
    n: str | None = None
    s02: float | str = 1.0
    e0: float | str = 0.0
    sigma2: float | str = 0.0
    deltar: float | str = 0.0
    third: float | str = 0.0
    fourth: float | str = 0.0
    ei: float | str = 0.0


@dataclass(frozen=True)
class TransformSpec:
    """Fourier transform and fit ranges (k Å⁻¹, R Å); ``kweight`` int or tuple of ints."""

    kmin: float
    kmax: float
    kweight: int | tuple[int, ...]
    dk: float
    dk2: float | None
    window: str
    nfft: int
    kstep: float
    rmin: float
    rmax: float
    dr: float
    rwindow: str
    fitspace: str

    def larch_kwargs(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self.kweight, tuple):
            out["kweight"] = list(self.kweight)
        return out


@dataclass(frozen=True)
class DatasetSpec:
    """One measured (or simulated) spectrum, how to process it, and the paths that model it.

    ``processing`` is ``{"pre_edge": {...}, "autobk": {...}, "xftf": {...}}`` (see
    :func:`analysis.engines.xas_processing.process_mu`) or None when the data arrive as χ(k).
    """

    id: str
    transform: TransformSpec
    paths: tuple[PathSpec, ...]
    processing: dict[str, dict[str, Any]] | None = None
    epsilon_k: float | None = None
    constants: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FitModel:
    """A validated fit model; :meth:`to_json` gives the canonical (defaults filled) JSON."""

    parameters: tuple[ParameterSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    schema_version: int = SCHEMA_VERSION
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def to_json(self) -> dict[str, Any]:
        params = {}
        for p in self.parameters:
            entry: dict[str, Any] = {"kind": p.kind}
            if p.kind == "def":
                entry["expr"] = p.expr
            else:
                entry["value"] = p.value
            if p.kind == "guess":
                entry["min"], entry["max"] = p.min, p.max
            params[p.name] = entry
        datasets = []
        for d in self.datasets:
            paths = []
            for path in d.paths:
                entry = {k: v for k, v in asdict(path).items() if v is not None}
                if path.select is not None:
                    entry["select"] = {**asdict(path.select),
                                       "scatterers": list(path.select.scatterers)}
                paths.append(entry)
            datasets.append({"id": d.id, "processing": d.processing,
                             "transform": d.transform.larch_kwargs(), "paths": paths,
                             "epsilon_k": d.epsilon_k, "constants": dict(d.constants)})
        return {"schema_version": self.schema_version, "parameters": params,
                "datasets": datasets, "options": dict(self.options)}


# --------------------------------------------------------------------------- parsing
def _parse_parameter(name: str, spec: Any, where: str) -> ParameterSpec:
    if not isinstance(name, str) or not _IDENT.match(name) or keyword.iskeyword(name) \
            or "__" in name:
        raise _fail(f"parameter name {name!r} must be a letter followed by letters, digits or "
                    f"single underscores", where)
    if name in RESERVED_NAMES:
        raise _fail(f"parameter name {name!r} is reserved (a FEFF path value or a function)",
                    where)
    spec = _mapping(spec, where, ("kind", "value", "expr", "min", "max"))
    kind = spec.get("kind")
    if kind not in PARAMETER_KINDS:
        raise _fail(f"{where}.kind must be one of {', '.join(PARAMETER_KINDS)}, got {kind!r}",
                    f"{where}.kind")
    if kind == "def":
        if "value" in spec or "min" in spec or "max" in spec:
            raise _fail(f"{where}: a 'def' parameter has only an 'expr'", where)
        expression_names(spec.get("expr"), f"{where}.expr")
        return ParameterSpec(name=name, kind=kind, expr=spec["expr"].strip())
    if "expr" in spec:
        raise _fail(f"{where}: only 'def' parameters take an 'expr'", f"{where}.expr")
    value = _number(spec.get("value"), f"{where}.value")
    lo = _number(spec.get("min"), f"{where}.min", allow_none=True)
    hi = _number(spec.get("max"), f"{where}.max", allow_none=True)
    if kind == "set" and (lo is not None or hi is not None):
        raise _fail(f"{where}: a 'set' parameter is fixed and takes no bounds", where)
    if lo is not None and hi is not None and lo >= hi:
        raise _fail(f"{where}: min ({lo}) must be below max ({hi})", f"{where}.min")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _fail(f"{where}: starting value {value} lies outside [{lo}, {hi}]",
                    f"{where}.value")
    return ParameterSpec(name=name, kind=kind, value=value, min=lo, max=hi)


def _parse_transform(spec: Any, where: str) -> TransformSpec:
    spec = _mapping(spec, where, tuple(TRANSFORM_DEFAULTS) + ("kw",))
    values = dict(TRANSFORM_DEFAULTS)
    for key, val in spec.items():
        values["kweight" if key == "kw" else key] = val
    for key in ("kmin", "kmax", "dk", "kstep", "rmin", "rmax", "dr"):
        values[key] = _number(values[key], f"{where}.{key}")
    values["dk2"] = _number(values["dk2"], f"{where}.dk2", allow_none=True)
    kw = values["kweight"]
    kws = list(kw) if isinstance(kw, (list, tuple)) else [kw]
    if not kws or any(isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 4
                      for w in kws):
        raise _fail(f"{where}.kweight must be an integer 0–4 or a list of them, got {kw!r}",
                    f"{where}.kweight")
    values["kweight"] = tuple(kws) if isinstance(kw, (list, tuple)) else kw
    if not (0 <= values["kmin"] < values["kmax"]):
        raise _fail(f"{where}: need 0 ≤ kmin < kmax (Å⁻¹)", f"{where}.kmin")
    if not (0 <= values["rmin"] < values["rmax"]):
        raise _fail(f"{where}: need 0 ≤ rmin < rmax (Å)", f"{where}.rmin")
    for key in ("window", "rwindow"):
        if not isinstance(values[key], str) or values[key].lower() not in FT_WINDOWS:
            raise _fail(f"{where}.{key} must be one of {', '.join(FT_WINDOWS)}",
                        f"{where}.{key}")
    if values["fitspace"] not in FIT_SPACES:
        raise _fail(f"{where}.fitspace must be one of {', '.join(FIT_SPACES)}",
                    f"{where}.fitspace")
    if not isinstance(values["nfft"], int) or values["nfft"] < 256:
        raise _fail(f"{where}.nfft must be an integer ≥ 256", f"{where}.nfft")
    if values["dk"] < 0 or values["kstep"] <= 0:
        raise _fail(f"{where}: dk must be ≥ 0 and kstep > 0", f"{where}.dk")
    return TransformSpec(**values)


def _parse_selector(spec: Any, where: str) -> PathSelector:
    spec = _mapping(spec, where, ("absorber", "scatterer", "scatterers", "r_min_a", "r_max_a"))
    absorber = spec.get("absorber")
    if not isinstance(absorber, str) or not absorber:
        raise _fail(f"{where}.absorber must be an element symbol", f"{where}.absorber")
    if ("scatterer" in spec) == ("scatterers" in spec):
        raise _fail(f"{where} needs exactly one of 'scatterer' (single scattering) or "
                    f"'scatterers' (list, for multiple-scattering paths)", where)
    chain = [spec["scatterer"]] if "scatterer" in spec else spec["scatterers"]
    if not isinstance(chain, list | tuple) or not chain or \
            not all(isinstance(s, str) and s for s in chain):
        raise _fail(f"{where}.scatterers must be a non-empty list of element symbols", where)
    lo = _number(spec.get("r_min_a"), f"{where}.r_min_a")
    hi = _number(spec.get("r_max_a"), f"{where}.r_max_a")
    if not 0 <= lo < hi:
        raise _fail(f"{where}: need 0 ≤ r_min_a < r_max_a (Å)", f"{where}.r_min_a")
    return PathSelector(absorber=absorber, scatterers=tuple(chain), r_min_a=lo, r_max_a=hi)


def _parse_path(spec: Any, where: str, index: int) -> PathSpec:
    spec = _mapping(spec, where, ("label", "path_file", "select", "degen", "n")
                    + PATH_PARAMETERS)
    if ("path_file" in spec) == ("select" in spec):
        raise _fail(f"{where} needs exactly one of 'path_file' (a path file id) or 'select'",
                    where)
    label = spec.get("label", f"path{index + 1}")
    if not isinstance(label, str) or not label.strip():
        raise _fail(f"{where}.label must be a non-empty string", f"{where}.label")
    kwargs: dict[str, Any] = {"label": label.strip()}
    if "path_file" in spec:
        if not isinstance(spec["path_file"], str) or not spec["path_file"]:
            raise _fail(f"{where}.path_file must be a path file id", f"{where}.path_file")
        kwargs["path_file"] = spec["path_file"]
    else:
        kwargs["select"] = _parse_selector(spec["select"], f"{where}.select")
    if "degen" in spec:
        if "n" in spec:
            raise _fail(f"{where}: give 'n' (fitted coordination) or 'degen', not both",
                        f"{where}.degen")
        degen = _number(spec["degen"], f"{where}.degen")
        if degen <= 0:
            raise _fail(f"{where}.degen must be positive", f"{where}.degen")
        kwargs["degen"] = degen
    if "n" in spec:
        n = spec["n"]
        if isinstance(n, (int, float)) and not isinstance(n, bool):
            n = repr(float(_number(n, f"{where}.n")))
        expression_names(n, f"{where}.n")
        kwargs["n"] = n.strip()
    for name in PATH_PARAMETERS:
        if name in spec:
            val = spec[name]
            if isinstance(val, str):
                expression_names(val, f"{where}.{name}")
                kwargs[name] = val.strip()
            else:
                kwargs[name] = _number(val, f"{where}.{name}")
    return PathSpec(**kwargs)


def _parse_processing(spec: Any, where: str) -> dict[str, dict[str, Any]] | None:
    if spec is None:
        return None
    allowed = {"pre_edge": PRE_EDGE_KEYS, "autobk": AUTOBK_KEYS + ("kw", "e0"),
               "xftf": XFTF_KEYS + ("kw",)}
    spec = _mapping(spec, where, tuple(allowed))
    out = {}
    for step, keys in allowed.items():
        step_spec = _mapping(spec.get(step, {}), f"{where}.{step}", keys)
        out[step] = dict(step_spec)
    return out


def _parse_constants(spec: Any, where: str, parameter_names: set[str]) -> dict[str, float]:
    """Per-dataset constants ({"temperature_k": 10}) usable in that dataset's path expressions."""
    if not isinstance(spec, Mapping):
        raise _fail(f"{where} must be a JSON object {{name: number}}", where)
    out = {}
    for name, value in spec.items():
        at = f"{where}.{name}"
        if not isinstance(name, str) or not _IDENT.match(name) or name in RESERVED_NAMES:
            raise _fail(f"{at}: {name!r} is not a usable constant name (a letter, then "
                        f"letters, digits, underscores; not a FEFF path value or function)", at)
        if name in parameter_names:
            raise _fail(f"{at}: {name!r} is already a fit parameter; use another name", at)
        out[name] = _number(value, at)
    return out


def _used_names(model: FitModel) -> set[str]:
    """Parameter names the paths use, directly or through 'def' parameters."""
    defs = {p.name: p.definition() for p in model.parameters if p.kind == "def"}
    todo = set()
    for ds in model.datasets:
        for path in ds.paths:
            for attr in PATH_PARAMETERS + ("n",):
                val = getattr(path, attr)
                if isinstance(val, str):
                    todo |= expression_names(val, attr)
    used: set[str] = set()
    while todo:
        name = todo.pop()
        if name in used:
            continue
        used.add(name)
        if name in defs:
            todo |= expression_names(defs[name], name)
    return used


def n_independent(transform: TransformSpec) -> float:
    """Independent points of a dataset as larch counts them: 1 + 2·ΔR·Δk/π (R from 0 in k)."""
    r_low = transform.rmin if transform.fitspace == "r" else 0.0
    return 1 + 2 * (transform.rmax - r_low) * (transform.kmax - transform.kmin) / math.pi


def check_fittable(model: FitModel) -> None:
    """EngineError (field ``parameters``) when the varied parameters the paths use outnumber
    the independent points of all datasets together (the fit would be undetermined)."""
    used = _used_names(model)
    varied = [p.name for p in model.parameters if p.kind == "guess" and p.name in used]
    n_idp = sum(n_independent(ds.transform) for ds in model.datasets)
    if len(varied) > n_idp:
        raise _fail(f"the model varies {len(varied)} parameters ({', '.join(varied)}) but the "
                    f"k and R ranges give only {n_idp:.2f} independent points; fix some "
                    f"parameters or widen the ranges", "parameters")


def _check_expressions(model: FitModel) -> None:
    names = set(model.parameter_names)
    defs = {p.name: p for p in model.parameters if p.kind == "def"}
    for p in model.parameters:
        if p.kind == "def":
            unknown = expression_names(p.definition(), f"parameters.{p.name}.expr") - names
            if unknown:
                raise _fail(f"parameter {p.name!r}: expression {p.expr!r} uses unknown name(s) "
                            f"{', '.join(sorted(unknown))}", f"parameters.{p.name}.expr")
    # circular definitions (a = b, b = a) would make lmfit recurse forever
    state: dict[str, int] = {}

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " → ".join(chain[chain.index(name):] + [name])
            raise _fail(f"circular parameter definitions: {cycle}", f"parameters.{name}.expr")
        state[name] = 1
        for dep in sorted(expression_names(defs[name].definition(), name) & set(defs)):
            visit(dep, chain + [name])
        state[name] = 2

    for name in defs:
        visit(name, [])
    for d, ds in enumerate(model.datasets):
        for j, path in enumerate(ds.paths):
            for attr in PATH_PARAMETERS + ("n",):
                val = getattr(path, attr)
                if isinstance(val, str):
                    where = f"datasets[{d}].paths[{j}].{attr}"
                    unknown = (expression_names(val, where) - names - PATH_SYMBOLS
                               - set(ds.constants))
                    if unknown:
                        raise _fail(f"path {path.label!r}: {attr} expression {val!r} uses "
                                    f"unknown parameter(s) {', '.join(sorted(unknown))}", where)


def s02_parameter(model: FitModel) -> str | None:
    """The parameter that is S0²: ``options.s02_parameter``, else one named s02 / amp / S02."""
    names = model.parameter_names
    chosen = model.options.get("s02_parameter")
    return chosen or next((n for n in ("s02", "amp", "S02") if n in names), None)


def parse_fit_model(data: Mapping[str, Any] | FitModel) -> FitModel:
    """Validate a JSON-like fit model and return a :class:`FitModel` (see docs/fit-model.md).

    Raises:
        EngineError: with ``field`` set to the JSON path of the first problem found.
    """
    if isinstance(data, FitModel):
        return data
    data = _mapping(data, "model", ("schema_version", "parameters", "datasets", "options"))
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise _fail(f"schema_version {version!r} is not supported (expected {SCHEMA_VERSION})",
                    "schema_version")
    params_in = data.get("parameters")
    if not isinstance(params_in, Mapping) or not params_in:
        raise _fail("parameters must be a non-empty object {name: {...}}", "parameters")
    params = tuple(_parse_parameter(n, s, f"parameters.{n}") for n, s in params_in.items())
    options = dict(_mapping(data.get("options", {}), "options",
                            ("fix_unused_variables", "max_nfev", "s02_parameter")))
    s02_name = options.get("s02_parameter")
    if s02_name is not None and s02_name not in {p.name for p in params}:
        raise _fail(f"options.s02_parameter {s02_name!r} is not a parameter of the model",
                    "options.s02_parameter")
    ds_in = data.get("datasets")
    if not isinstance(ds_in, list) or not ds_in:
        raise _fail("datasets must be a non-empty list", "datasets")
    datasets = []
    for d, spec in enumerate(ds_in):
        where = f"datasets[{d}]"
        spec = _mapping(spec, where, ("id", "processing", "transform", "paths", "epsilon_k",
                                      "constants"))
        ds_id = spec.get("id")
        if not isinstance(ds_id, str) or not ds_id:
            raise _fail(f"{where}.id must be a non-empty string", f"{where}.id")
        paths_in = spec.get("paths")
        if not isinstance(paths_in, list) or not paths_in:
            raise _fail(f"{where}.paths must be a non-empty list", f"{where}.paths")
        paths = tuple(_parse_path(p, f"{where}.paths[{j}]", j) for j, p in enumerate(paths_in))
        labels = [p.label for p in paths]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise _fail(f"{where}: path labels must be unique, repeated: {', '.join(dup)}",
                        f"{where}.paths")
        eps = _number(spec.get("epsilon_k"), f"{where}.epsilon_k", allow_none=True)
        if eps is not None and eps <= 0:
            raise _fail(f"{where}.epsilon_k must be positive", f"{where}.epsilon_k")
        datasets.append(DatasetSpec(
            id=ds_id, transform=_parse_transform(spec.get("transform", {}), f"{where}.transform"),
            paths=paths, processing=_parse_processing(spec.get("processing"),
                                                      f"{where}.processing"),
            epsilon_k=eps,
            constants=_parse_constants(spec.get("constants", {}), f"{where}.constants",
                                       {p.name for p in params})))
    ids = [d.id for d in datasets]
    if len(set(ids)) != len(ids):
        raise _fail("dataset ids must be unique", "datasets")
    model = FitModel(parameters=params, datasets=tuple(datasets), options=options)
    _check_expressions(model)
    check_fittable(model)
    return model
