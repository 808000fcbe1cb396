"""One create/edit page = a main form + named formsets, saved by exactly one service call.

The services raise ``DomainError`` naming the field in their own words (``code``,
``layers[2].thickness_ml``, ``steps[1].additions[2].amount_unit``). ``Editor`` remembers which
form row became which item of the service call, so that the message lands beside the input the
chemist typed into. A stale version (``ConflictError``) becomes a ``Conflict``: who changed the
record since the form was opened, and the values stored now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django import forms

from labdb.lib.errors import DomainError

_INDEXED = re.compile(r"^(?P<head>\w+)\[(?P<index>\d+)\]\.?(?P<rest>.*)$")
_LEADING_FIELD = re.compile(r"^(?:record: )?(?P<name>[a-z_]+): (?P<text>.*)$", re.S)


class RowForm(forms.Form):
    """A formset row: every field optional, a row left empty is skipped, not an error."""

    #: service field name → form field name, where they differ
    SERVICE_FIELDS: dict[str, str] = {}
    #: fields whose emptiness does not count (checkboxes with a default)
    IGNORE_FOR_BLANK: tuple[str, ...] = ("DELETE",)

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", None) or {}
        return all(v in (None, "", False, [])
                   for k, v in data.items() if k not in self.IGNORE_FOR_BLANK)

    def is_removed(self) -> bool:
        return bool((getattr(self, "cleaned_data", None) or {}).get("DELETE"))

    def claims(self, message: str) -> str | None:
        """The field of this row that an unindexed service message is about, if any."""
        return None

    def locate(self, rest: str) -> str | None:
        """The form field a service error on ``rest`` belongs to."""
        name = self.SERVICE_FIELDS.get(rest, rest)
        return name if name in self.fields else None


class RecordForm(forms.Form):
    """The record's own fields plus the version it was opened at (hidden)."""

    SERVICE_FIELDS: dict[str, str] = {}

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def locate(self, rest: str) -> str | None:
        name = self.SERVICE_FIELDS.get(rest, rest)
        return name if name in self.fields and name != "version" else None

    def changes(self) -> dict:
        """Cleaned values of the record's own fields (strings stripped), without the version."""
        return {k: v.strip() if isinstance(v, str) else v
                for k, v in self.cleaned_data.items() if k != "version"}


@dataclass
class Conflict:
    """Someone saved the record after this form was opened."""

    user: str
    version: int
    current: list[tuple[str, str]]


@dataclass
class Editor:
    main: RecordForm
    formsets: dict[str, forms.BaseFormSet] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    section_errors: dict[str, list[str]] = field(default_factory=dict)
    conflict: Conflict | None = None
    rows: dict[str, list | dict] = field(default_factory=dict)
    #: forms outside any formset (e.g. one per run step), validated with the others
    extra_forms: list = field(default_factory=list)

    def is_valid(self) -> bool:
        results = [self.main.is_valid(), *(fs.is_valid() for fs in self.formsets.values()),
                   *(f.is_valid() for f in self.extra_forms)]
        return all(results)

    def filled(self, name: str) -> list:
        """Rows of formset ``name`` that hold data and are not marked for removal, in order.

        Remembered: the n-th row returned is what the service calls ``name[n]``.
        """
        rows = [f for f in self.formsets[name].forms
                if getattr(f, "cleaned_data", None) and not f.is_removed() and not f.is_blank()]
        self.rows[name] = rows
        return rows

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or any(self.section_errors.values()) or self.conflict)

    def show_domain_error(self, exc: DomainError) -> None:
        """Put the service's message beside the form field that ``exc.field`` names."""
        name = exc.field or ""
        match = _INDEXED.match(name)
        if match and match["head"] in self.rows:
            rows = self.rows[match["head"]]
            index = int(match["index"])
            row = (rows.get(index) if isinstance(rows, dict)
                   else rows[index - 1] if 0 < index <= len(rows) else None)
            if row is not None:
                target = row.locate(match["rest"]) if match["rest"] else None
                row.add_error(target, _strip(exc.message, name))
                return
        head = re.split(r"[.\[]", name, maxsplit=1)[0]
        for row in self.rows.get(head, []) if not match else []:
            target = row.claims(exc.message)
            if target:  # an unindexed error that names this row's value (a parent's code)
                row.add_error(target, _strip(exc.message, name))
                return
        if head in self.formsets:
            self.section_errors.setdefault(head, []).append(_strip(exc.message, name))
            return
        target = self.main.locate(name) if name else None
        text = _strip(exc.message, name)
        if target is None:
            leading = _LEADING_FIELD.match(exc.message)
            if leading and self.main.locate(leading["name"]):
                target, text = self.main.locate(leading["name"]), leading["text"]
        if target is not None:
            self.main.add_error(target, text)
        else:
            self.errors.append(exc.message)


def _strip(message: str, name: str) -> str:
    prefix = f"{name}: "
    return message[len(prefix):] if name and message.startswith(prefix) else message


def row_formset(form: type[RowForm], *, extra: int = 1, can_delete: bool = True):
    """A formset of ``form`` rows; more rows come from the "+ add a row" button (no JS)."""
    return forms.formset_factory(form, extra=extra, can_delete=can_delete, max_num=200)


def grow(data, prefix: str):
    """A copy of POST ``data`` with one more row in formset ``prefix``."""
    data = data.copy()
    key = f"{prefix}-TOTAL_FORMS"
    data[key] = str(int(data.get(key) or 0) + 1)
    return data
