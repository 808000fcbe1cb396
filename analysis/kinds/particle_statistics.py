"""Kind ``particle_statistics``: N, mean, SD, relative SD, median, IQR, histogram and fitted
normal / log-normal distributions of the particles of a stored TEM size table.

Input: a stored per-particle table (``DataFile`` parsed as a TEM size table: ImageJ/Fiji
``Results`` CSV, a Digimizer or own CSV/XLSX export of lengths/widths/diameters), and
optionally the sample it is of (needed when the file is linked to several samples).
Geometry ``diameter`` takes one size column — by default the one the size-table parser picks
(``characterization.parsers.size_table.find_size_column``: Diameter → Size → Feret → Length →
Major, else Area as the equivalent-circle diameter); ``length_width`` (platelets, rods) takes
a length **and** a width column, each summarised separately. The unit comes from the column
header (``Length (nm)``, ``Feret [µm]``) or the ``unit`` parameter; sizes in pixels need
``nm_per_px``. Engine: :mod:`analysis.engines.particle_statistics`.

Result mapping (the shared contract): one ``TEMSizeMeasurement(source="computed")`` of the
sample with ``data_file`` = the table, ``length_nm/length_sd_nm`` and ``width_nm/width_sd_nm``
or ``diameter_nm/diameter_sd_nm`` (mean and sample SD, ddof = 1) and ``n_counted``; median,
relative SD, quartiles and both fits per dimension in ``extra``. Histograms, the sizes and the
fitted curves stay in the run's output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from analysis.engines import particle_statistics as engine
from analysis.kinds.base import AnalysisKind, InputRole, Progress, register
from characterization.enums import DataSource
from labdb.lib.errors import DomainError, EngineError, LabdbError

if TYPE_CHECKING:  # pragma: no cover
    from analysis.models import AnalysisRun
    from characterization.models import DataFile

GEOMETRIES = (("diameter", "one size per particle (spheres, cubes: a diameter or Feret)"),
              ("length_width", "a length and a width per particle (platelets, rods)"))
UNITS = (("table", "as the column header states it (Length (nm), Feret [µm] …)"),
         ("nm", "nm"), ("µm", "µm"), ("Å", "Å"), ("px", "pixels (give nm_per_px)"))
#: Header unit spellings (size_table.UNIT_RE group 1, lower-cased) → engine unit.
HEADER_UNITS = {"nm": "nm", "µm": "µm", "μm": "µm", "um": "µm", "å": "Å", "angstrom": "Å",
                "pm": "pm", "px": "px", "pixel": "px", "pixels": "px"}
#: Base names (unit stripped, lower case) looked for when a column is not named, in order.
AUTO_COLUMNS = {"length": ("length", "feret", "major"), "width": ("width", "minferet", "minor")}
TABLE_TECHNIQUE = "tem_sizes"
FORMAT, LABEL = "size_table", "TEM size table"


class ParticleStatisticsParameters(serializers.Serializer):
    geometry = serializers.ChoiceField(choices=GEOMETRIES, default="diameter")
    diameter_column = serializers.CharField(
        default="", allow_blank=True, max_length=200,
        help_text="Header of the size column (geometry diameter); blank: the size-table "
        "parser's choice (Diameter, Size, Feret, Length, Major, else Area as the "
        "equivalent-circle diameter).")
    length_column = serializers.CharField(
        default="", allow_blank=True, max_length=200,
        help_text="Header of the length column (geometry length_width); blank: Length, "
        "Feret or Major.")
    width_column = serializers.CharField(
        default="", allow_blank=True, max_length=200,
        help_text="Header of the width column (geometry length_width); blank: Width, "
        "MinFeret or Minor.")
    unit = serializers.ChoiceField(choices=UNITS, default="table",
                                   help_text="Unit of the sizes; 'table' reads the header.")
    nm_per_px = serializers.FloatField(
        default=None, allow_null=True, min_value=1e-6, max_value=1e6,
        help_text="Image calibration, nm per pixel (sizes measured in pixels only).")
    n_bins = serializers.IntegerField(
        default=None, allow_null=True, min_value=2, max_value=engine.MAX_BINS,
        help_text="Equal histogram bins; blank: the Freedman–Diaconis rule.")


# ---------------------------------------------------------------- reading the stored table


def stored_bytes(data_file: DataFile) -> bytes:
    """The table's bytes from storage, checked against its sha256 (DomainError naming
    ``inputs.table`` when it is gone or changed)."""
    from django.core.files.storage import default_storage

    try:
        with default_storage.open(data_file.file.name, "rb") as handle:
            content = handle.read()
    except FileNotFoundError:
        raise DomainError(f"inputs.table: the raw file {data_file.original_name} is missing "
                          "from storage; restore it or upload it again.",
                          field="inputs.table") from None
    if hashlib.sha256(content).hexdigest() != data_file.sha256:
        raise DomainError(f"inputs.table: the stored file {data_file.original_name} no longer "
                          "matches its sha256.", field="inputs.table")
    return content


def _base(header: str) -> str:
    """A header without its unit suffix, lower case (``'Feret (nm)'`` → ``'feret'``)."""
    from characterization.parsers.size_table import UNIT_RE

    return UNIT_RE.sub("", header).strip().lower()


def _header_unit(header: str) -> tuple[str | None, bool]:
    """(engine unit stated in the header or None, whether it is an area unit like nm²)."""
    from characterization.parsers.size_table import UNIT_RE

    match = UNIT_RE.search(header)
    if not match:
        return None, False
    return HEADER_UNITS.get(match.group(1).lower()), bool(match.group(2))


def _named_column(header: list[str], name: str, field: str) -> int:
    wanted = name.strip().lower()
    for i, h in enumerate(header):
        if h.strip().lower() == wanted:
            return i
    matches = [i for i, h in enumerate(header) if _base(h) == _base(name)]
    if len(matches) == 1:
        return matches[0]
    raise DomainError(f"{field}: no column {name!r} in the table; its columns are "
                      f"{[h for h in header if h.strip()]}.", field=field)


def _auto_column(header: list[str], dimension: str, field: str) -> int:
    bases = [_base(h) for h in header]
    for wanted in AUTO_COLUMNS[dimension]:
        for i, base in enumerate(bases):
            if base == wanted or base.startswith(wanted + " "):
                return i
    raise DomainError(f"{field}: no {dimension} column found among "
                      f"{[h for h in header if h.strip()]} (looked for "
                      f"{', '.join(AUTO_COLUMNS[dimension])}); name it.", field=field)


def _columns(header: list[str], parameters: dict) -> dict[str, tuple[int, str]]:
    """dimension → (column index, parameter field) for the run's geometry."""
    if parameters["geometry"] == "diameter":
        field = "parameters.diameter_column"
        if parameters.get("diameter_column"):
            return {"diameter": (_named_column(header, parameters["diameter_column"], field),
                                 field)}
        from characterization.parsers.size_table import find_size_column

        found = find_size_column(header)
        if found is None:
            raise DomainError(f"{field}: no size column (Diameter, Size, Feret, Length, Major "
                              f"or Area) among {[h for h in header if h.strip()]}; name it.",
                              field=field)
        return {"diameter": (found[0], field)}
    out = {}
    for dim in ("length", "width"):
        field = f"parameters.{dim}_column"
        given = parameters.get(f"{dim}_column")
        out[dim] = ((_named_column(header, given, field) if given
                     else _auto_column(header, dim, field)), field)
    if out["length"][0] == out["width"][0]:
        raise DomainError(f"parameters.width_column: the width column is the length column "
                          f"{header[out['length'][0]]!r}; choose two columns.",
                          field="parameters.width_column")
    return out


def _unit_of(header: str, field: str, parameters: dict, imagej: bool) -> tuple[str, bool]:
    """(engine unit, area column?) of one column: the ``unit`` parameter or the header's."""
    stated, squared = _header_unit(header)
    is_area = _base(header) == "area"
    unit = parameters["unit"]
    if unit == "table":
        if stated is None:
            why = ("ImageJ/Fiji Results tables carry the image calibration's unit, not in the "
                   "header" if imagej else "the header states no unit")
            raise DomainError(f"parameters.unit: column {header!r}: {why}; choose the unit "
                              "(nm, µm, Å) or px with nm_per_px.", field="parameters.unit")
        unit = stated
    if unit == "px" and parameters.get("nm_per_px") is None:
        raise DomainError(f"parameters.nm_per_px: column {header!r} is in pixels; give the "
                          "image calibration in nm per pixel.", field="parameters.nm_per_px")
    if unit != "px" and parameters.get("nm_per_px") is not None:
        raise DomainError(f"parameters.nm_per_px: column {header!r} is in {unit}, not in "
                          "pixels; a nm/px calibration does not apply (leave it empty).",
                          field="parameters.nm_per_px")
    return unit, is_area or squared


def _cells(body: list[list[str]], col: int, header: str, decimal_comma: bool
           ) -> tuple[list[float], list[int]]:
    """Numbers of one column and their spreadsheet row numbers (empty cells skipped)."""
    from characterization.parsers.table_reader import to_number

    values, rows = [], []
    for i, row in enumerate(body):
        try:
            value = to_number(row[col], decimal_comma)
        except ValueError:
            raise DomainError(f"inputs.table: column {header!r}, row {i + 2}: {row[col]!r} is "
                              "not a number.", field="inputs.table") from None
        if value is not None:
            values.append(value)
            rows.append(i + 2)
    return values, rows


def check_table_file(data_file: DataFile) -> None:
    """DomainError naming ``inputs.table`` unless the file parsed as a TEM size table."""
    if data_file.parse_status != "ok" or data_file.technique != TABLE_TECHNIQUE:
        what = data_file.get_technique_display() if data_file.technique else "unknown"
        status = "" if data_file.parse_status == "ok" else f", parse {data_file.parse_status}"
        raise DomainError(
            f"inputs.table: expected a TEM size table (ImageJ/Fiji Results, Digimizer or a "
            f"CSV/XLSX of per-particle sizes); file {data_file.pk} {data_file.original_name} "
            f"is {what} (format {data_file.format or 'unknown'}{status}).",
            field="inputs.table")


def read_dimensions(data_file: DataFile, parameters: dict) -> dict[str, Any]:
    """The engine's dimensions (sizes in nm) from the stored table, with what was read."""
    from characterization.parsers.table_reader import read_table

    check_table_file(data_file)
    content = stored_bytes(data_file)
    try:
        header, body, info = read_table(content, FORMAT, LABEL)
    except LabdbError as exc:
        raise DomainError(f"inputs.table: {exc.message}", field="inputs.table") from exc
    imagej = bool(header) and header[0].strip() == ""
    dims, columns = [], {}
    for name, (col, field) in _columns(header, parameters).items():
        unit, is_area = _unit_of(header[col], field, parameters, imagej)
        values, rows = _cells(body, col, header[col], info["decimal_comma"])
        sizes = np.asarray(values, dtype=float)
        if is_area:  # an area → equivalent-circle diameter d = 2·√(A/π), in the length unit
            sizes = np.where(sizes > 0, 2.0 * np.sqrt(np.abs(sizes) / np.pi), sizes)
        try:
            nm = engine.to_nm(sizes, unit=unit, nm_per_px=parameters.get("nm_per_px"))
        except EngineError as exc:
            raise DomainError(exc.message, field=exc.field) from exc
        dims.append(engine.Dimension(name=name, values_nm=nm.tolist(), field="inputs.table",
                                     rows=tuple(rows), column=header[col]))
        columns[name] = {"column": header[col], "unit": unit,
                         "equivalent_circle_diameter": is_area}
    return {"dimensions": dims,
            "table": {"file": data_file.pk, "name": data_file.original_name,
                      "sha256": data_file.sha256, "layout": "imagej_results" if imagej
                      else "table", "columns": columns,
                      "nm_per_px": parameters.get("nm_per_px")}}


def sample_of(inputs: Mapping[str, Any]) -> Any:
    """The sample the statistics are of: ``inputs.sample`` (linked to the table), else the
    table's one linked sample; DomainError naming the role otherwise."""
    table, given = inputs["table"], inputs.get("sample")
    linked = {link.sample_id: link.sample
              for link in table.links.filter(is_active=True).select_related("sample")}
    if table.sample_id is not None and table.sample_id not in linked:
        linked[table.sample_id] = table.sample
    if given is not None:
        if given.pk not in linked:
            raise DomainError(f"inputs.sample: the table {table.original_name} is not linked "
                              f"to {given}; link it first or choose one of "
                              f"{sorted(str(s) for s in linked.values()) or 'none'}.",
                              field="inputs.sample")
        return given
    if len(linked) == 1:
        return next(iter(linked.values()))
    if not linked:
        raise DomainError(f"inputs.table: {table.original_name} belongs to no sample; link "
                          "it to the sample it measures.", field="inputs.table")
    raise DomainError(f"inputs.sample: {table.original_name} is linked to "
                      f"{sorted(str(s) for s in linked.values())}; say which sample the "
                      "particles are of.", field="inputs.sample")


# ---------------------------------------------------------------- the kind


class ParticleStatisticsKind(AnalysisKind):
    name = "particle_statistics"
    label = "TEM particle statistics"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    inputs = (
        InputRole("table", "file", help="A stored TEM size table (ImageJ/Fiji Results, "
                  "Digimizer export, CSV/XLSX of lengths, widths or diameters)."),
        InputRole("sample", "sample", required=False,
                  help="The sample the particles are of (when the table has several)."),
    )
    parameters = ParticleStatisticsParameters
    form_template = "analysis/kinds/particle_statistics_form.html"
    result_template = "analysis/kinds/particle_statistics_result.html"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        try:
            sample_of(inputs)
            loaded = read_dimensions(inputs["table"], parameters)
            for dim in loaded["dimensions"]:
                engine.check_sizes(dim)
        except (DomainError, EngineError) as exc:
            raise ValidationError({exc.field or "inputs.table": exc.message}) from exc

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        return read_dimensions(inputs["table"], run.parameters)

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        result = engine.particle_statistics(loaded["dimensions"], n_bins=parameters["n_bins"],
                                            progress=progress)
        result["table"] = loaded["table"]
        result["geometry"] = parameters["geometry"]
        return result

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        from characterization.models import TEMSizeMeasurement
        from labdb.lib.records import save_validated

        dims = result["dimensions"]
        values: dict[str, Any] = {"n_counted": max(d["n"] for d in dims.values())}
        for name, d in dims.items():
            values[f"{name}_nm"], values[f"{name}_sd_nm"] = d["mean_nm"], d["sd_nm"]
        keep = ("n", "column", "median_nm", "rsd_pct", "sem_nm", "q1_nm", "q3_nm", "iqr_nm",
                "min_nm", "max_nm")
        extra = {
            "analysis_run": run.pk, "kind": run.kind, "statistic": "mean ± SD (ddof = 1)",
            "engine": result["engine"], "table": result["table"],
            "dimensions": {name: {**{k: d[k] for k in keep}, "fits": d["fits"],
                                  "histogram_rule": d["histogram"]["rule"]}
                           for name, d in dims.items()},
            "aspect_ratio": result.get("aspect_ratio"),
        }
        row = TEMSizeMeasurement(
            sample=sample_of(inputs), data_file=inputs["table"], source=DataSource.COMPUTED,
            owner=run.owner, citation=f"analysis run {run.pk} ({run.kind})", extra=extra,
            **values)
        return [save_validated(row)]

    def summary(self, run: AnalysisRun) -> str:
        dims = (run.output or {}).get("dimensions") or {}
        return "; ".join(f"{name} {d['mean_nm']:.2f} ± {d['sd_nm']:.2f} nm (N = {d['n']}, "
                         f"RSD {d['rsd_pct']:.1f} %)" for name, d in dims.items())


KIND = register(ParticleStatisticsKind())
