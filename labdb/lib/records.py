"""Writes shared by every kind of record: versioned update and retirement (never delete)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from labdb.lib.errors import ConflictError, DomainError


def validation_to_domain(exc: ValidationError, *, prefix: str = "") -> DomainError:
    """Turn Django's ValidationError into one DomainError naming the first bad field."""
    if hasattr(exc, "message_dict"):
        field, messages = next(iter(exc.message_dict.items()))
        name = f"{prefix}{field}" if field != "__all__" else prefix.rstrip(".") or "record"
        return DomainError(f"{name}: {' '.join(messages)}", field=name)
    return DomainError(" ".join(exc.messages), field=prefix.rstrip(".") or None)


def save_validated(instance: models.Model, *, prefix: str = "") -> models.Model:
    """``full_clean()`` then ``save()``; validation problems become DomainError."""
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise validation_to_domain(exc, prefix=prefix) from None
    instance.save()
    return instance


@transaction.atomic
def update_record(
    instance: models.Model, *, changes: dict, expected_version: int | None, actor=None
) -> models.Model:
    """Apply ``changes`` to a LabRecord if nobody changed it since ``expected_version``.

    Raises ConflictError (HTTP 409, with the current version) when the stored version differs,
    DomainError when ``expected_version`` is missing or the result is invalid.
    """
    if expected_version is None:
        raise DomainError(
            "version: send the version you read, so that concurrent edits are detected.",
            field="version",
        )
    model = type(instance)
    current = model.objects.select_for_update().get(pk=instance.pk)
    if current.version != expected_version:
        raise ConflictError(
            f"{model._meta.verbose_name} {current} was changed by someone else "
            f"(your version {expected_version}, current {current.version}). Reload and retry.",
            current_version=current.version,
        )
    for field, value in changes.items():
        setattr(current, field, value)
    current.version = current.version + 1
    if actor is not None:
        current._history_user = actor
    return save_validated(current)


@transaction.atomic
def retire_record(instance: models.Model, *, reason: str, actor=None) -> models.Model:
    """Hide a record instead of deleting it; the act and its reason go into its history."""
    if not reason or not reason.strip():
        raise DomainError("reason: say why this record is retired.", field="reason")
    current = type(instance).objects.select_for_update().get(pk=instance.pk)
    if current.is_retired:
        return current
    current.is_retired = True
    current.retired_reason = reason.strip()
    current.retired_at = timezone.now()
    current.version += 1
    current._change_reason = f"retired: {reason.strip()}"
    if actor is not None:
        current._history_user = actor
    current.save()
    return current


def with_owner(data: dict, actor) -> dict:
    """``data`` with ``owner`` set to ``actor`` unless an owner is given."""
    if actor is not None and data.get("owner") is None:
        data = {**data, "owner": actor}
    return data


def save_unique(instance: models.Model, *, prefix: str = "") -> models.Model:
    """``save_validated`` that turns a uniqueness race into a DomainError rather than a 500."""
    try:
        with transaction.atomic():
            return save_validated(instance, prefix=prefix)
    except IntegrityError as exc:
        name = prefix.rstrip(".") or type(instance).__name__
        raise DomainError(f"{name}: {exc}", field=prefix.rstrip(".") or None) from None


@transaction.atomic
def create_record(*, model: type[models.Model], data: dict, actor=None) -> models.Model:
    """Create a simple record (chemical, lot, paper…) owned by ``actor``."""
    instance = model(**with_owner(data, actor))
    if actor is not None:
        instance._history_user = actor
    return save_unique(instance)
