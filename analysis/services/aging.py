"""Writes of aging studies: plan re-measurements of a stored sample, record that they were done."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from analysis.models import AgingStudy, PlannedRemeasurement
from characterization.demo import age_days_from_label
from labdb.lib.errors import DomainError
from labdb.lib.records import create_record, save_validated
from synthesis.models import Sample

__all__ = [
    "DEMO_AGING_SAMPLE",
    "DEMO_AGING_STORAGE",
    "create_aging_study",
    "load_demo_aging_study",
    "mark_remeasured",
]

DEMO_AGING_SAMPLE = "NPL-CdSe/CdZnS-4.5ML"
#: As the paper says (§2.2.3): "storage inside a premise at ambient conditions".
DEMO_AGING_STORAGE = "ambient conditions, in a premise"
DEMO_AGING_PLAN = ("2.5 months", "6 months", "1.5 years")


def _planned_item(item: Any, anchor: dt.date | None, index: int) -> tuple[dt.date, str]:
    """(due_on, label) from a date, an age label ('6 months') or {"due_on", "label"}."""
    field = f"planned[{index}]"
    if isinstance(item, dict):
        due_on, label = item.get("due_on"), str(item.get("label") or "")
        if due_on is None and label:
            return _planned_item(label, anchor, index)[0], label
        if not isinstance(due_on, dt.date):
            raise DomainError(f"{field}.due_on: give a date or an age label.", field=field)
        return due_on, label
    if isinstance(item, dt.datetime):
        return item.date(), ""
    if isinstance(item, dt.date):
        return item, ""
    label = str(item).strip()
    days = age_days_from_label(label)
    if days is None:
        raise DomainError(f"{field}: {item!r} is neither a date nor an age such as '6 months'.",
                          field=field)
    if anchor is None:
        raise DomainError(f"{field}: '{label}' is counted from the start of the study; give "
                          "started_on (the sample has no synthesis date).", field="started_on")
    return anchor + dt.timedelta(days=round(days)), label


@transaction.atomic
def create_aging_study(*, sample: Sample, storage_condition: str, planned: Iterable[Any],
                       actor, started_on: dt.date | None = None, techniques: str = "",
                       notes: str = "") -> AgingStudy:
    """Start an aging study of ``sample`` stored under ``storage_condition``.

    ``planned`` lists re-measurements as dates, age labels counted from ``started_on`` (or,
    without it, the sample's synthesis date) — '2.5 months' uses the mean month of 30.44 d and
    rounds to whole days — or dicts ``{"due_on": date, "label": "6 months"}``.
    Raises DomainError (naming the item) for an empty storage condition, an unreadable item,
    or an age label with nothing to count from.
    """
    if not storage_condition or not storage_condition.strip():
        raise DomainError("storage_condition: say how the sample is stored (e.g. 'dark, "
                          "argon, 4 °C').", field="storage_condition")
    anchor = started_on or sample.synthesis_date
    items = [_planned_item(item, anchor, i) for i, item in enumerate(planned, start=1)]
    study = create_record(model=AgingStudy, actor=actor, data={
        "sample": sample, "storage_condition": storage_condition.strip(),
        "started_on": started_on, "techniques": techniques, "notes": notes})
    for due_on, label in sorted(items):
        entry = PlannedRemeasurement(study=study, due_on=due_on, label=label)
        if actor is not None:
            entry._history_user = actor  # type: ignore[attr-defined]  # simple_history's hook
        save_validated(entry)
    return study


@transaction.atomic
def mark_remeasured(*, planned: PlannedRemeasurement, done_on: dt.date, actor,
                    note: str = "") -> PlannedRemeasurement:
    """Record that a planned re-measurement was done on ``done_on``.

    Idempotent for the same date; DomainError when it was already recorded on another date,
    or when ``done_on`` is in the future or before the study started.
    """
    current = PlannedRemeasurement.objects.select_for_update().select_related("study").get(
        pk=planned.pk)
    if current.done_on == done_on:
        return current
    if current.done_on is not None:
        raise DomainError(f"done_on: this re-measurement ({current.label or current.due_on}) "
                          f"was already recorded as done on {current.done_on}.", field="done_on")
    if done_on > timezone.localdate():
        raise DomainError(f"done_on: {done_on} is in the future.", field="done_on")
    started = current.study.started_on
    if started is not None and done_on < started:
        raise DomainError(f"done_on: {done_on} is before the study started ({started}).",
                          field="done_on")
    current.done_on = done_on
    if note:
        current.note = note
    if actor is not None:
        current._history_user = actor  # type: ignore[attr-defined]  # simple_history's hook
    return save_validated(current)


@transaction.atomic
def load_demo_aging_study(actor) -> AgingStudy:
    """The seed-000 aging study of 4.5 ML CdSe/Cd_xZn_{1-x}S NPLs; idempotent.

    The paper (§2.2.3, Tables 6/S3, Fig. S11) re-measured the sample after 2.5 months, 6 months
    and 1.5 years but prints no calendar dates and no synthesis date. ``due_on`` must be a date,
    so the plan is counted from the day the study is recorded in labdb (``started_on``) — it is
    the plan for repeating the study, not a claim about when the paper's spectra were taken.
    Raises DomainError when the seed-000 sample is not loaded.
    """
    sample = Sample.objects.filter(code=DEMO_AGING_SAMPLE).first()
    if sample is None:
        raise DomainError(f"sample {DEMO_AGING_SAMPLE} is not loaded; load the seed000 demo "
                          "first.", field="sample")
    existing = AgingStudy.objects.filter(sample=sample, storage_condition=DEMO_AGING_STORAGE,
                                         is_retired=False).order_by("id").first()
    if existing is not None:
        return existing
    return create_aging_study(
        sample=sample, storage_condition=DEMO_AGING_STORAGE, planned=DEMO_AGING_PLAN,
        actor=actor, started_on=timezone.localdate(), techniques="XAS Cd K, Zn K, Se K",
        notes="Seed 000 §2.2.3: stored 'inside a premise at ambient conditions' and re-measured "
              "after 2.5 and 6 months (Table 6, Table S3) and 1.5 years (Fig. S11, XANES). "
              "The paper prints ages only; due dates count from the day this study was "
              "recorded in labdb.")
