"""CSV/XLSX import and export of chemicals and samples, all-or-nothing.

A file with one bad row is rejected whole; the error names the row number (1 = first data row)
and the reason. Used by the admin (django-import-export) and by ``import_table``.
"""

from __future__ import annotations

import tablib
from django.db import transaction
from import_export import fields, resources

from labdb.lib.errors import DomainError
from synthesis.models import Chemical, Sample


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
    parents = fields.Field(column_name="parents", readonly=True)
    layers = fields.Field(column_name="layers", readonly=True)

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
        return "; ".join(link.parent.code for link in sample.parent_links.all())

    def dehydrate_layers(self, sample: Sample) -> str:
        return "; ".join(str(layer) for layer in sample.layers.all())


RESOURCES = {"chemicals": ChemicalResource, "samples": SampleResource}


def _row_error_text(result) -> str:
    for row_number, errors in result.row_errors():
        return f"row {row_number}: {errors[0].error}"
    invalid = result.invalid_rows[0]
    reasons = "; ".join(
        " ".join(msgs) if field == "__all__" else f"{field}: {' '.join(msgs)}"
        for field, msgs in invalid.error_dict.items()
    )
    return f"row {invalid.number}: {reasons}"


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
