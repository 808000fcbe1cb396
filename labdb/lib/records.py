"""Writes shared by every kind of record: versioned update and retirement (never delete)."""

from __future__ import annotations

import re
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from labdb.lib.errors import ConflictError, DomainError, RetiredError

RecordT = TypeVar("RecordT", bound=models.Model)
"""The model class a write was given: each write returns an instance of that same class."""


def validation_to_domain(exc: ValidationError, *, prefix: str = "") -> DomainError:
    """Turn Django's ValidationError into one DomainError naming the first bad field."""
    if hasattr(exc, "message_dict"):
        field, messages = next(iter(exc.message_dict.items()))
        name = f"{prefix}{field}" if field != "__all__" else prefix.rstrip(".") or "record"
        return DomainError(f"{name}: {' '.join(messages)}", field=name)
    return DomainError(" ".join(exc.messages), field=prefix.rstrip(".") or None)


def save_validated(instance: RecordT, *, prefix: str = "", exclude: tuple[str, ...] = (),
                   given: tuple[str, ...] = ()) -> RecordT:
    """``full_clean()`` then ``save()``; validation problems become DomainError. ``exclude``:
    fields (and the constraints on them) whose checks the caller has already made; ``given``:
    foreign keys set to rows the caller has read, whose existence is not queried again (their
    unique and check constraints still are; the database enforces the key itself)."""
    try:  # full_clean, with the keys of ``given`` left out of the field checks only
        instance.full_clean(exclude=[*exclude, *given], validate_unique=False,
                            validate_constraints=False)
        instance.validate_unique(exclude=list(exclude))
        instance.validate_constraints(exclude=set(exclude))
    except ValidationError as exc:
        raise validation_to_domain(exc, prefix=prefix) from None
    instance.save()
    return instance


@transaction.atomic
def update_record(
    instance: RecordT, *, changes: dict, expected_version: int | None, actor=None
) -> RecordT:
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
    require_active(current)
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
def retire_record(instance: RecordT, *, reason: str, actor=None) -> RecordT:
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


def record_label(instance: models.Model) -> str:
    """``sample NPL-4.5ML``, ``chemical lot oleic acid lot 123``, ``PL measurement #12``."""
    name = instance._meta.original_attrs.get("verbose_name")
    if not name:  # from the class name, keeping acronyms: PLMeasurement -> "PL measurement"
        words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|$)|[A-Z][a-z]*|[a-z]+", type(instance).__name__)
        name = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    text = str(instance)
    if text.startswith(f"{type(instance).__name__} object"):
        text = f"#{instance.pk}"
    return f"{name} {text}"


def retirement_of(instance: models.Model) -> tuple[str, str, str]:
    """(reason, by whom, when) of a retired record; who comes from its history."""
    who = "unknown"
    history = getattr(type(instance), "history", None)
    if history is not None:
        record = (history.filter(**{instance._meta.pk.attname: instance.pk},
                                 history_change_reason__startswith="retired:")
                  .select_related("history_user").order_by("-history_date", "-history_id")
                  .first())
        if record is not None and record.history_user is not None:
            who = record.history_user.get_username()
    when = (timezone.localtime(instance.retired_at).strftime("%Y-%m-%d %H:%M %Z")
            if instance.retired_at else "at an unknown time")
    return instance.retired_reason or "no reason given", who, when


def retired_message(instance: models.Model) -> str:
    """The refusal a chemist reads: what is retired, why, by whom, when, and what to do."""
    reason, who, when = retirement_of(instance)
    return (f"{record_label(instance)} is retired ({reason}; by {who}, {when}): restore it "
            "first.")


def require_active(instance: models.Model) -> None:
    """Raise RetiredError (HTTP 409) if ``instance`` is retired: retired means read-only."""
    if getattr(instance, "is_retired", False):
        raise RetiredError(retired_message(instance), field="is_retired")


@transaction.atomic
def restore_record(instance: RecordT, *, reason: str, actor) -> RecordT:
    """Bring a retired record back (owner or curator); the act and its reason go into history.

    Raises PermissionDenied for anyone else, DomainError without a reason or when the record
    is not retired. The record is editable again afterwards.
    """
    from django.core.exceptions import PermissionDenied

    from labdb.lib.permissions import can_edit

    if actor is None or not actor.is_authenticated or not can_edit(actor, instance):
        raise PermissionDenied(
            f"Only the owner of {record_label(instance)} or a curator can restore it."
        )
    if not reason or not reason.strip():
        raise DomainError("reason: say why this record is restored.", field="reason")
    current = type(instance).objects.select_for_update().get(pk=instance.pk)
    if not current.is_retired:
        raise DomainError(f"{record_label(current)} is not retired.", field="is_retired")
    current.is_retired, current.retired_reason, current.retired_at = False, "", None
    current.version += 1
    current._change_reason = f"restored: {reason.strip()}"
    current._history_user = actor
    current.save()
    return current


def with_owner(data: dict, actor) -> dict:
    """``data`` with ``owner`` set to ``actor`` unless an owner is given."""
    if actor is not None and data.get("owner") is None:
        data = {**data, "owner": actor}
    return data


def save_unique(instance: RecordT, *, prefix: str = "", exclude: tuple[str, ...] = (),
                given: tuple[str, ...] = (), savepoint: bool = True) -> RecordT:
    """``save_validated`` that turns a uniqueness race into a DomainError rather than a 500.

    ``savepoint=False`` (inside a caller's transaction that the DomainError ends, never one
    that catches it and goes on): no SAVEPOINT/RELEASE around the write — two round trips
    fewer on PostgreSQL; a race still raises the DomainError and the whole transaction rolls
    back, nothing written."""
    try:
        with transaction.atomic(savepoint=savepoint):
            return save_validated(instance, prefix=prefix, exclude=exclude, given=given)
    except IntegrityError as exc:
        name = prefix.rstrip(".") or type(instance).__name__
        raise DomainError(f"{name}: {exc}", field=prefix.rstrip(".") or None) from None


def given_rows(model: type[models.Model], data: dict) -> tuple[str, ...]:
    """The foreign keys of ``data`` given as saved rows (instances the caller has read): their
    existence is not queried again by validation; the database's foreign key still enforces
    it (at commit: a row deleted meanwhile fails the whole transaction, nothing is written).
    Records are retired, never deleted, so a row once read stays."""
    return tuple(
        field.name
        for field in model._meta.concrete_fields
        if field.many_to_one
        and isinstance(data.get(field.name), models.Model)
        and data[field.name].pk is not None
        and not data[field.name]._state.adding
    )


@transaction.atomic
def create_record(*, model: type[RecordT], data: dict, actor=None) -> RecordT:
    """Create a simple record (chemical, lot, paper…) owned by ``actor``. DomainError naming
    the first invalid field; a foreign key given as a saved row is not looked up again."""
    data = with_owner(data, actor)
    instance = model(**data)
    if actor is not None:
        instance._history_user = actor
    return save_unique(instance, given=given_rows(model, data))
