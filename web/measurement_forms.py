"""Forms for values typed in at the bench, and the sample page's "Add a measurement" section.

The forms only check shape (a number is a number, a date is a date); ranges, units, the QY
method rules and who may add are checked by ``characterization.services`` and shown beside
the field they name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django import forms

from characterization.enums import QYMethod, TEMDimension
from characterization.services import MANUAL_KINDS, manual_entry_of, manual_kind_of
from labdb.lib.errors import LabdbError
from labdb.lib.permissions import can_edit

NUMBER = {"invalid": "Enter a number, e.g. 62.5 (a dot for decimals)."}
WHOLE = {"invalid": "Enter a whole number of particles, e.g. 200."}
DATE = {"invalid": "Enter a date as YYYY-MM-DD, e.g. 2026-03-14."}


def _number(label: str, *, required: bool = False, help_text: str = "", message: str = ""):
    errors = dict(NUMBER, required=message or f"Enter the {label.split(' (')[0]}.")
    return forms.FloatField(
        label=label,
        required=required,
        help_text=help_text,
        error_messages=errors,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )


def _text(label: str, *, required: bool = False, max_length: int = 100, help_text: str = ""):
    return forms.CharField(
        label=label,
        required=required,
        max_length=max_length,
        help_text=help_text,
        error_messages={"required": f"Enter the {label.lower()}."},
    )


QUALIFIER_CHOICES = [
    ("", "= (as measured)"), ("<", "< below"), ("≤", "≤ at most"), ("~", "≈ about"),
    (">", "> above"), ("≥", "≥ at least"), ("range", "range (lower–upper)"),
]


def _qualifier(label: str = "Qualifier"):
    return forms.ChoiceField(
        label=label, required=False, choices=QUALIFIER_CHOICES,
        help_text="< 1 % for 'below 1 %'; 'range' for 88–90 % (then give the upper end)",
        error_messages={"invalid_choice": "Choose <, ≤, ≈, >, ≥, range or = (as measured)."},
    )


class ManualEntryForm(forms.Form):
    """Fields every manual entry has; subclasses add their own before these."""

    kind = ""
    title = ""
    submit_label = ""

    measured_on = forms.DateField(
        label="Measured on",
        required=False,
        error_messages=DATE,
        help_text="Leave empty if unknown.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    notes = forms.CharField(
        label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000
    )

    def entry(self) -> dict:
        """The cleaned values, keyed like the service's entry fields."""
        return dict(self.cleaned_data)

    def show_error(self, exc: LabdbError) -> None:
        """Put a service error beside the field it names (or above the form)."""
        errors = getattr(exc, "errors", None) or {exc.field or "": exc.message}
        for name, message in errors.items():
            self.add_error(name if name in self.fields else None, message)


class QYForm(ManualEntryForm):
    kind, title, submit_label = "qy", "Quantum yield", "Add QY"
    qualifier = _qualifier("QY qualifier")
    qy_pct = _number("QY (%)", required=True, help_text="0–100 %; the lower end of a range",
                     message="Enter the QY in %.")
    qy_pct_max = _number("QY upper end (%)", help_text="Only for a range, e.g. 90 for 88–90 %")
    qy_method = forms.ChoiceField(
        label="Method",
        choices=[("", "— choose —"), *QYMethod.choices],
        error_messages={"required": "Choose how the QY was measured."},
    )
    reference_dye = _text("Reference dye", help_text="For a relative QY, e.g. rhodamine 6G")
    solvent = _text("Solvent")
    excitation_nm = _number("Excitation wavelength (nm)")


class PLForm(ManualEntryForm):
    kind, title, submit_label = "pl", "PL peak", "Add PL peak"
    peak_nm = _number("PL peak (nm)", required=True, help_text="200–3000 nm")
    fwhm_qualifier = _qualifier("FWHM qualifier")
    fwhm_nm = _number("FWHM (nm)", help_text="The lower end of a range")
    fwhm_nm_max = _number("FWHM upper end (nm)", help_text="Only for a range, e.g. 24 for 22–24 nm")
    excitation_nm = _number("Excitation wavelength (nm)")
    solvent = _text("Solvent")


class AbsorptionForm(ManualEntryForm):
    kind, title, submit_label = "absorption", "Absorption 1S peak", "Add 1S peak"
    peak_1s_nm = _number("1S peak (nm)", required=True, help_text="200–3000 nm")


class TEMForm(ManualEntryForm):
    kind, title, submit_label = "tem", "TEM size", "Add TEM size"
    dimension = forms.ChoiceField(
        label="What was measured",
        choices=[("", "— choose —"), *TEMDimension.choices],
        error_messages={"required": "Choose what was measured (length, width …)."},
    )
    mean_nm = _number("Mean (nm)", required=True, message="Enter the mean size in nm.")
    sd_nm = _number("SD (nm)", help_text="Standard deviation, ≥ 0")
    n_counted = forms.IntegerField(
        label="N counted", required=False, error_messages=WHOLE, help_text="Particles, ≥ 1"
    )


class QuantityForm(ManualEntryForm):
    kind, title, submit_label = "quantity", "Other quantity", "Add quantity"
    quantity = _text("Quantity", required=True, max_length=200, help_text="e.g. PL lifetime")
    qualifier = _qualifier()
    value = _number("Value", required=True, message="Enter the value.",
                    help_text="The lower end of a range")
    value_max = _number("Upper end", help_text="Only for a range")
    err = _number("Error (±)", help_text="≥ 0, leave empty if unknown")
    unit = _text("Unit", max_length=30, help_text="e.g. ns, eV, %, Å; empty for a pure number")


FORMS: dict[str, type[ManualEntryForm]] = {
    form.kind: form for form in (QYForm, PLForm, AbsorptionForm, TEMForm, QuantityForm)
}
assert set(FORMS) == set(MANUAL_KINDS)


def entry_form(kind: str, data=None, *, initial: dict | None = None) -> ManualEntryForm:
    """The (bound, if ``data``) form for ``kind``; field names are prefixed by the kind."""
    return FORMS[kind](data, initial=initial, prefix=kind)


def edit_form(measurement, data=None) -> ManualEntryForm:
    """A form for changing ``measurement``, filled with what is stored."""
    spec = manual_kind_of(measurement)
    return entry_form(spec.key, data, initial=manual_entry_of(measurement))


@dataclass
class ManualSection:
    """The "Add a measurement" section: may the viewer add, and the forms to show."""

    can_add: bool
    who_may_add: str
    forms: list = field(default_factory=list)
    open_kind: str = ""


def manual_section(sample, viewer, rows, *, bound: ManualEntryForm | None = None) -> ManualSection:
    """Forms for ``viewer`` on ``sample`` (``bound`` replaces the blank one of its kind), and
    ``can_change`` set on every manual row of ``rows`` the viewer may edit or retire."""
    for row in rows:
        row.can_change = bool(
            viewer is not None and row.source == "manual" and can_edit(viewer, row)
        )
    owner = sample.owner.username if sample.owner_id else "no owner"
    section = ManualSection(
        can_add=bool(viewer is not None and can_edit(viewer, sample)),
        who_may_add=f"Only the owner of {sample.code} ({owner}) and curators add measurements.",
    )
    if section.can_add:
        section.forms = [
            bound if bound is not None and bound.kind == kind else entry_form(kind)
            for kind in FORMS
        ]
        section.open_kind = bound.kind if bound is not None else ""
    return section
