"""Abstract model pieces shared by every app: ownership, versions, retirement, quantities."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from labdb.lib.errors import DomainError
from labdb.lib.units import to_quantity


class LabRecord(models.Model):
    """A record that holds lab data.

    ``version`` increases on every write (optimistic concurrency: a writer states the version it
    read). Records are never hard-deleted: they are retired with a reason and hidden from lists.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who may edit this record besides curators.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    is_retired = models.BooleanField(default=False, db_index=True)
    retired_reason = models.TextField(blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class QuantityMixin(models.Model):
    """Derives canonical columns from (value, unit) pairs during ``clean()``.

    Subclasses declare ``QUANTITIES = {"setpoint": ("setpoint_c", ("temperature",), True)}``:
    prefix → (canonical field, allowed dimensions, negative allowed). The model must have
    ``<prefix>_value`` and ``<prefix>_unit`` fields. An optional ``<prefix>_dimension`` field
    receives the dimension name when several are allowed.
    """

    QUANTITIES: dict[str, tuple[str, tuple[str, ...], bool]] = {}

    class Meta:
        abstract = True

    def clean(self) -> None:
        super().clean()
        errors = {}
        for prefix, (canonical_field, allowed, negative_ok) in self.QUANTITIES.items():
            value = getattr(self, f"{prefix}_value")
            unit = getattr(self, f"{prefix}_unit")
            try:
                quantity = to_quantity(
                    value, unit, field=prefix, allowed=allowed, allow_negative=negative_ok
                )
            except DomainError as exc:
                errors[f"{prefix}_{exc.detail or 'unit'}"] = exc.message
                continue
            setattr(self, canonical_field, quantity.canonical if quantity else None)
            if hasattr(self, f"{prefix}_dimension"):
                setattr(self, f"{prefix}_dimension", quantity.dimension if quantity else "")
        if errors:
            raise ValidationError(errors)
