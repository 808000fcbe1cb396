"""CSV/XLSX import and export of chemicals and samples, all-or-nothing.

A file with one bad row is rejected whole; the error names the row number (1 = first data row)
and the reason. Used by the admin (django-import-export) and by ``import_table``. A file with a
column that cannot be imported is refused (never silently dropped).

Samples are written through the synthesis services (``create_sample`` / ``update_sample``), with
two cells that carry the sample's relations (the same format is exported):

* ``layers``: the stack from the inside out, layers separated by ``;``, each
  ``role:material[:<thickness> ML][:<thickness> nm][:x=<fraction>][:formula=<text>][:gradient]``,
  e.g. ``core:CdSe:4.5 ML; shell:CdS:2 ML`` or ``core:CdSe:4.5 ML; shell:CdZnS:gradient``.
* ``parents``: ``CODE (process)`` separated by ``;``, e.g. ``NPL-4.5ML (shell_growth)``; the
  parent must exist already (or come earlier in the same file).

An empty cell means "no layers" / "no parents"; a missing column leaves them unchanged. A cell
equal to the stored relations changes nothing (curator notes on lineage edges are kept).
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import tablib
from django.core.exceptions import ValidationError
from django.db import models, transaction
from import_export import fields, resources

from labdb.lib.errors import DomainError
from labdb.lib.exports import neutralise_cell, restore_cell
from synthesis import services
from synthesis.enums import CrystalPhase, DerivationProcess, LayerRole, Morphology
from synthesis.models import Chemical, Sample


def choices_text(choices: type[models.TextChoices]) -> str:
    """``NPL (nanoplatelet), QD (quantum dot), …`` — the values a cell may hold."""
    return ", ".join(
        value if str(label) == value else f"{value} ({label})" for value, label in choices.choices
    )


def _check_choice(
    field: str, value, choices: type[models.TextChoices], *, what: str, where: str = ""
) -> None:
    """ValidationError on ``field`` naming ``what`` and every valid choice."""
    if value not in choices.values:
        raise ValidationError(
            {field: f"{where}{value!r} is not a valid {what}; expected one of "
                    f"{choices_text(choices)}."}
        )


_THICKNESS = re.compile(r"^(?P<value>[0-9]*\.?[0-9]+)\s*(?P<unit>ML|nm)$", re.IGNORECASE)


def _layer_part(layer: dict, part: str, where: str) -> None:
    match = _THICKNESS.match(part)
    if match:
        unit = "thickness_ml" if match["unit"].lower() == "ml" else "thickness_nm"
        layer[unit] = float(match["value"])
    elif part.lower() == "gradient":
        layer["gradient"] = True
    elif part.lower().startswith("x="):
        try:
            layer["composition_x"] = float(part[2:])
        except ValueError:
            raise ValidationError({"layers": f"{where}x= expects a fraction 0–1, got {part!r}."})
    elif part.lower().startswith("formula="):
        layer["composition_formula"] = part[len("formula="):].strip()
    else:
        raise ValidationError({"layers": (
            f"{where}cannot read {part!r}; after role:material give a thickness (4.5 ML or "
            "1.2 nm), x=<fraction>, formula=<text> or gradient.")})


def parse_layers_cell(cell: str) -> list[dict]:
    """``core:CdSe:4.5 ML; shell:CdS:2 ML`` → layer dicts for ``create_sample`` (inside out).

    Raises ValidationError on the ``layers`` field naming the layer and what was expected.
    """
    layers = []
    for text in (part.strip() for part in (cell or "").split(";")):
        if not text:
            continue
        where = f"layer {len(layers) + 1} ({text!r}): "
        parts = [p.strip() for p in text.split(":")]
        if len(parts) < 2 or not parts[1]:
            raise ValidationError({"layers": (
                f"{where}expected role:material[:thickness], e.g. 'core:CdSe:4.5 ML'.")})
        _check_choice("layers", parts[0].lower(), LayerRole, what="layer role", where=where)
        layer = {"role": parts[0].lower(), "material": parts[1]}
        for part in parts[2:]:
            _layer_part(layer, part, where)
        layers.append(layer)
    return layers


def format_layers_cell(layers) -> str:
    """The ``layers`` cell of a stored stack (inverse of :func:`parse_layers_cell`)."""
    out = []
    for layer in layers:
        parts = [layer.role, layer.material]
        if layer.thickness_ml is not None:
            parts.append(f"{layer.thickness_ml:g} ML")
        if layer.thickness_nm is not None:
            parts.append(f"{layer.thickness_nm:g} nm")
        if layer.composition_x is not None:
            parts.append(f"x={layer.composition_x:g}")
        if layer.composition_formula:
            parts.append(f"formula={layer.composition_formula}")
        if layer.gradient:
            parts.append("gradient")
        out.append(":".join(parts))
    return "; ".join(out)


_LAYER_DEFAULTS = {"thickness_ml": None, "thickness_nm": None, "composition_x": None,
                   "composition_formula": "", "gradient": False}
_PARENT = re.compile(r"^(?P<code>.+?)\s*\((?P<process>[^()]+)\)$")


def parse_parents_cell(cell: str) -> list[tuple[str, str]]:
    """``A (shell_growth); B (aliquot)`` → ``[(code, process), …]``.

    Raises ValidationError on the ``parents`` field for an unreadable item or unknown process.
    """
    parents = []
    for text in (part.strip() for part in (cell or "").split(";")):
        if not text:
            continue
        match = _PARENT.match(text)
        if not match:
            raise ValidationError({"parents": (
                f"cannot read {text!r}; expected CODE (process), e.g. 'NPL-4.5ML (shell_growth)'"
                f", with process one of {choices_text(DerivationProcess)}.")})
        process = match["process"].strip().lower().replace(" ", "_")
        _check_choice("parents", process, DerivationProcess, what="derivation process",
                      where=f"parent {match['code']}: ")
        parents.append((match["code"].strip(), process))
    return parents


def format_parents_cell(links) -> str:
    """The ``parents`` cell of stored lineage edges (inverse of :func:`parse_parents_cell`)."""
    return "; ".join(f"{link.parent.code} ({link.process})" for link in links)


class BlankTextResource(resources.ModelResource):
    """Empty spreadsheet cells arrive as None; text columns store them as ''."""

    def before_import_row(self, row, **kwargs):
        text_fields = {
            f.name
            for f in self._meta.model._meta.concrete_fields
            if f.get_internal_type() in ("CharField", "TextField")
        }
        for key in list(row.keys()):
            if key in text_fields and row[key] is None:
                row[key] = ""
            row[key] = restore_cell(row[key])  # an exported '=… cell comes back as =…

    def export_resource(self, instance, selected_fields=None, **kwargs):
        """Every exported cell neutralised (no live formula in CSV/XLSX; labdb.lib.exports)."""
        row = super().export_resource(instance, selected_fields, **kwargs)
        return [neutralise_cell(value) for value in row]


class ChemicalResource(BlankTextResource):
    class Meta:
        model = Chemical
        import_id_fields = ("name",)
        fields = ("name", "formula", "cas", "supplier", "purity", "grade", "notes")
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        use_transactions = True


class SampleResource(BlankTextResource):
    """Samples with their layer stack and parents (cell formats: module docstring)."""

    parents = fields.Field(column_name="parents")
    layers = fields.Field(column_name="layers")
    CHOICE_FIELDS = {"morphology": (Morphology, "morphology"),
                     "crystal_phase": (CrystalPhase, "crystal phase")}
    RELATIONS = ("layers", "parents")

    class Meta:
        model = Sample
        import_id_fields = ("code",)
        fields = (
            "code",
            "name",
            "material",
            "morphology",
            "crystal_phase",
            "synthesis_date",
            "storage_conditions",
            "external_origin",
            "is_reference",
            "notes",
            "parents",
            "layers",
        )
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        use_transactions = True

    def dehydrate_parents(self, sample: Sample) -> str:
        return format_parents_cell(sample.parent_links.all())

    def dehydrate_layers(self, sample: Sample) -> str:
        return format_layers_cell(sample.layers.all())

    def before_import(self, dataset, **kwargs):
        """Refuse columns that cannot be imported rather than dropping them silently."""
        known = {field.column_name for field in self.get_import_fields()}
        unknown = [h for h in dataset.headers or [] if h not in known]
        if unknown:
            raise DomainError(
                f"file: column(s) {', '.join(map(repr, unknown))} cannot be imported into "
                f"samples; importable columns are {', '.join(self._meta.fields)}.",
                field="file",
            )

    def before_import_row(self, row, **kwargs):
        """Check choice cells (naming the valid choices) and read the relation cells."""
        super().before_import_row(row, **kwargs)
        for name, (choices, what) in self.CHOICE_FIELDS.items():
            if name in row and row[name] not in (None, ""):
                _check_choice(name, row[name], choices, what=what)
        row_number = kwargs.get("row_number")
        self._relations = getattr(self, "_relations", {})
        self._relations[row_number] = {
            "layers": parse_layers_cell(row["layers"] or "") if "layers" in row else None,
            "parents": parse_parents_cell(row["parents"] or "") if "parents" in row else None,
        }

    def _changed_relations(self, instance: Sample, row_number) -> dict:
        """The relation cells of this row that differ from what is stored (parsed)."""
        wanted = self._relations.get(row_number, {})
        out = {}
        if wanted.get("layers") is not None:
            stored = format_layers_cell(instance.layers.all()) if instance.pk else ""
            parsed = [SimpleNamespace(**{**_LAYER_DEFAULTS, **layer}) for layer in wanted["layers"]]
            if instance.pk is None or stored != format_layers_cell(parsed):
                out["layers"] = wanted["layers"]
        if wanted.get("parents") is not None:
            stored = format_parents_cell(instance.parent_links.all()) if instance.pk else ""
            cell = "; ".join(f"{code} ({process})" for code, process in wanted["parents"])
            if instance.pk is None or stored != cell:
                out["parents"] = wanted["parents"]
        return out

    def import_row(self, row, instance_loader, **kwargs):
        self._row = kwargs.get("row_number")  # skip_row() is not told which row it checks
        return super().import_row(row, instance_loader, **kwargs)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if self._changed_relations(instance, self._row):
            return False
        return super().skip_row(instance, original, row, import_validation_errors)

    def _parent_links(self, instance: Sample, parents: list[tuple[str, str]]) -> list[dict]:
        notes = {}
        if instance.pk:
            notes = {(link.parent.code, link.process): link.note
                     for link in instance.parent_links.all()}
        links = []
        for code, process in parents:
            parent = Sample.objects.filter(code=code).first()
            if parent is None:
                raise DomainError(
                    f"parents: there is no sample with code {code!r} (a parent must exist "
                    "already or come earlier in the file).",
                    field="parents",
                )
            links.append({"parent": parent, "process": process,
                          "note": notes.get((code, process), "")})
        return links

    def save_instance(self, instance, is_create, row, **kwargs):
        """Write through ``create_sample`` / ``update_sample`` (one code path for every write)."""
        relations = self._changed_relations(instance, kwargs.get("row_number"))
        parents = relations.get("parents")
        links = self._parent_links(instance, parents) if parents is not None else None
        actor = kwargs.get("user")
        names = [f for f in self._meta.fields if f not in self.RELATIONS]
        if is_create:
            saved = services.create_sample(
                data={name: getattr(instance, name) for name in names},
                layers=relations.get("layers") or (), parents=links or (), actor=actor)
        else:
            current = Sample.objects.get(pk=instance.pk)
            changes = {name: getattr(instance, name) for name in names
                       if getattr(instance, name) != getattr(current, name)}
            saved = services.update_sample(
                sample=current, expected_version=current.version, changes=changes,
                layers=relations.get("layers"), parents=links, actor=actor)
        instance.pk, instance.version = saved.pk, saved.version


RESOURCES = {"chemicals": ChemicalResource, "samples": SampleResource}


def _row_error_text(result) -> str:
    """The first problem of a rejected file: a file-level error, else the lowest bad row.

    Later rows often fail only because an earlier one did (a parent row that was refused), so
    the earliest row is the one to fix first.
    """
    for error in result.base_errors:
        return getattr(error.error, "message", None) or str(error.error)
    problems = []
    for row_number, errors in result.row_errors():
        error = errors[0].error
        problems.append((row_number, getattr(error, "message", None) or str(error)))
    for invalid in result.invalid_rows:
        reasons = "; ".join(
            " ".join(msgs) if field == "__all__" else f"{field}: {' '.join(msgs)}"
            for field, msgs in invalid.error_dict.items()
        )
        problems.append((invalid.number, reasons))
    row_number, reason = min(problems, key=lambda problem: problem[0])
    return f"row {row_number}: {reason}"


def import_table(*, kind: str, content: bytes, file_format: str, actor=None) -> dict:
    """Import a CSV or XLSX table of ``kind`` ("chemicals" or "samples"), all or nothing.

    Returns counts ``{"new": n, "updated": n, "skipped": n}``. Raises DomainError naming the
    first bad row and why; nothing is written then.
    """
    if kind not in RESOURCES:
        raise DomainError(f"kind: expected one of {sorted(RESOURCES)}.", field="kind")
    if file_format not in {"csv", "xlsx"}:
        raise DomainError("format: expected csv or xlsx.", field="format")
    try:
        data = (
            tablib.Dataset().load(content.decode("utf-8-sig"), format="csv")
            if file_format == "csv"
            else tablib.Dataset().load(content, format="xlsx")
        )
    except Exception as exc:  # tablib raises many types for unreadable tables
        raise DomainError(
            f"file: not a readable {file_format.upper()} table ({exc}).", field="file"
        ) from None
    resource = RESOURCES[kind]()
    with transaction.atomic():
        result = resource.import_data(data, dry_run=False, raise_errors=False, user=actor)
        if result.has_errors() or result.has_validation_errors():
            transaction.set_rollback(True)
            raise DomainError(
                f"{kind} file rejected, nothing imported: {_row_error_text(result)}", field="file"
            )
    totals = result.totals
    return {
        "new": totals.get("new", 0),
        "updated": totals.get("update", 0),
        "skipped": totals.get("skip", 0),
    }


def export_table(*, kind: str, file_format: str) -> bytes:
    """Export all non-retired chemicals or samples as CSV or XLSX bytes."""
    resource = RESOURCES[kind]()
    model = resource._meta.model
    queryset = model.objects.filter(is_retired=False)
    if model is Sample:
        queryset = queryset.prefetch_related("parent_links__parent", "layers")
    dataset = resource.export(queryset)
    return (
        dataset.export(file_format).encode()
        if file_format == "csv"
        else dataset.export(file_format)
    )
