"""Admin building blocks: curators only, history (view + revert with child rows), retire with a
reason instead of delete."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import models, transaction
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from labdb.lib.errors import DomainError
from labdb.lib.permissions import is_curator
from labdb.lib.records import restore_record, retire_record, retired_message


class CuratorsOnly:
    """The admin is the curators' tool: other staff (even with model permissions) are refused.

    Curators are superusers and members of the ``curators`` group (``is_curator``); the admin
    site itself still requires ``is_staff``.
    """

    def _curator(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and is_curator(request.user)

    def has_module_permission(self, request) -> bool:
        return self._curator(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._curator(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._curator(request)

    def has_add_permission(self, request, *args) -> bool:
        return self._curator(request)


class CuratorInline(CuratorsOnly, admin.TabularInline):
    """Tabular inline editable by curators (child rows of a record)."""

    extra = 0


def _confirmation(modeladmin, request, records: list, form, *, verb: str, title: str):
    """The confirmation page of the ``<verb>_selected`` action: the records, the reason form
    (posted back with ``confirm_<verb>``), in ``admin/labdb/<verb>_confirmation.html``."""
    key = verb.lower()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "records": records,
        "form": form,
        "verb": verb,
        "action": f"{key}_selected",
        "confirm_field": f"confirm_{key}",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "select_across": request.POST.get("select_across", "0"),
    }
    return TemplateResponse(request, f"admin/labdb/{key}_confirmation.html", context)


class RetireForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Why these records are retired (kept in each record's history), e.g. "
        "'duplicate of NPL-12' or 'sample contaminated, see notebook p. 41'.",
    )


@admin.action(description="Retire selected records (hide, never delete) — asks for a reason")
def retire_selected(modeladmin, request, queryset):
    """First a confirmation page with a required reason; then retire each record with it."""
    form = RetireForm(request.POST if "confirm_retire" in request.POST else None)
    if form.is_bound and form.is_valid():
        count = 0
        for obj in queryset:
            try:
                retire_record(obj, reason=form.cleaned_data["reason"], actor=request.user)
                count += 1
            except DomainError as exc:
                modeladmin.message_user(request, exc.message, level=messages.ERROR)
        modeladmin.message_user(request, f"Retired {count} record(s).")
        return None
    plural = modeladmin.model._meta.verbose_name_plural
    return _confirmation(modeladmin, request, list(queryset), form, verb="Retire",
                         title=f"Retire {queryset.count()} {plural}?")


class RestoreForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Why these records come back (kept in each record's history), e.g. "
        "'retired by mistake' or 'contamination ruled out'.",
    )


@admin.action(description="Restore selected retired records (editable again) — asks for a reason")
def restore_selected(modeladmin, request, queryset):
    """A confirmation page with a required reason; then restore each retired record with it."""
    form = RestoreForm(request.POST if "confirm_restore" in request.POST else None)
    retired = [obj for obj in queryset if obj.is_retired]
    if form.is_bound and form.is_valid():
        for obj in retired:
            restore_record(obj, reason=form.cleaned_data["reason"], actor=request.user)
        skipped = len(queryset) - len(retired)
        note = f" ({skipped} selected record(s) were not retired)" if skipped else ""
        modeladmin.message_user(request, f"Restored {len(retired)} record(s){note}.")
        return None
    plural = modeladmin.model._meta.verbose_name_plural
    return _confirmation(modeladmin, request, retired, form, verb="Restore",
                         title=f"Restore {len(retired)} retired {plural}?")


def restore_children_as_of(
    *, parent: models.Model, child_model: type[models.Model], fk_name: str, version_record,
    actor=None,
) -> int:
    """Put ``parent``'s child rows back as they were while ``version_record`` was current.

    ``version_record`` is one historical record of ``parent``; the child rows restored are the
    latest history of each child before the parent's next historical record (children are
    written just after their parent, in the same service call). Current children are replaced
    (each change is itself recorded in the children's history). Returns the number restored.
    """
    later = (
        type(version_record).objects.filter(
            **{parent._meta.pk.attname: parent.pk}, history_date__gt=version_record.history_date
        ).order_by("history_date", "history_id").values_list("history_date", flat=True).first()
    )
    records = child_model.history.filter(**{f"{fk_name}_id": parent.pk})
    if later is not None:
        records = records.filter(history_date__lt=later)
    latest: dict = {}
    for record in records.order_by("history_date", "history_id"):
        latest[record.id] = record
    with transaction.atomic():
        for child in child_model.objects.filter(**{fk_name: parent}):
            if actor is not None:
                child._history_user = actor
            child._change_reason = f"revert of {parent} to version {version_record.history_id}"
            child.delete()
        restored = 0
        for record in latest.values():
            if record.history_type == "-":
                continue
            child = record.instance
            if actor is not None:
                child._history_user = actor
            child._change_reason = f"restored with {parent} (history {version_record.history_id})"
            child.save(force_insert=True)
            restored += 1
    return restored


class VersionedRecordForm(forms.ModelForm):
    """A change form that carries the record's version and refuses a stale save.

    The hidden ``expected_version`` is the stored version when the form was shown. If another
    curator (or the API) saved the record meanwhile, the save is refused with a message naming
    both versions and the current values; the form then carries the current version, so saving
    again (after reading them) is a deliberate overwrite.
    """

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["expected_version"].initial = self._stored_version()

    def _stored(self):
        return type(self.instance)._default_manager.filter(pk=self.instance.pk).first()

    def _stored_version(self):
        stored = self._stored()
        return stored.version if stored is not None else None

    def clean(self):
        cleaned = super().clean()
        stored = self._stored() if self.instance.pk is not None else None
        if stored is not None and getattr(stored, "is_retired", False):
            # Read-only until restored (the "Restore selected" action), history reverts too.
            raise forms.ValidationError(retired_message(stored))
        if self.instance.pk is None or "expected_version" not in self.data:
            return cleaned  # adding, or a history revert (starts from the stored version)
        stored = self._stored()
        sent = cleaned.get("expected_version")
        if stored is not None and sent != stored.version:
            current = "; ".join(
                f"{name}: {getattr(stored, name)!s}" for name in self.changed_data
                if name != "expected_version" and hasattr(stored, name)
            ) or "no field you changed differs"
            self.data = self.data.copy()
            self.data["expected_version"] = stored.version
            raise forms.ValidationError(
                f"version: this record was changed by someone else while you edited it (you "
                f"edited version {sent}, it is now version {stored.version}); nothing was saved. "
                f"Current values: {current}. Review them and save again to overwrite."
            )
        return cleaned


class LabRecordAdmin(CuratorsOnly, SimpleHistoryAdmin):
    """History with revert; retire (with a reason) instead of delete; owner/version read-only.

    ``history_children`` lists ``(child model, foreign-key name)`` pairs whose rows a revert puts
    back as they were with the chosen version (their models need ``HistoricalRecords``).
    """

    actions = [retire_selected, restore_selected]
    form = VersionedRecordForm
    # Retirement changes only through the retire/restore actions (reason + history).
    readonly_fields = ("version", "created_at", "updated_at", "is_retired", "retired_reason",
                       "retired_at")
    list_filter: tuple = ("is_retired",)
    history_children: tuple = ()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_fieldsets(self, request, obj=None):
        """The change form always carries the hidden ``expected_version`` (stale-save check)."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not issubclass(self.form, VersionedRecordForm):
            return fieldsets
        if any("expected_version" in opts.get("fields", ()) for _, opts in fieldsets):
            return fieldsets
        name, opts = fieldsets[0]
        return [(name, {**opts, "fields": (*opts["fields"], "expected_version")}),
                *fieldsets[1:]]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        if change:
            # From the stored row, not the form's instance: a history revert starts from an
            # old version and must still move the version forward.
            stored = type(obj).objects.filter(pk=obj.pk).values_list("version", flat=True).first()
            obj.version = (stored if stored is not None else obj.version or 0) + 1
        elif obj.owner_id is None:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        """A revert also restores the child rows of ``history_children`` — all or nothing."""
        if request.method != "POST" or not self.history_children:
            return super().history_form_view(request, object_id, version_id, extra_context)
        with transaction.atomic():
            response = super().history_form_view(request, object_id, version_id, extra_context)
            if response.status_code == 302:
                parent = self.model.objects.get(pk=object_id)
                record = self.model.history.get(history_id=version_id)
                for child_model, fk_name in self.history_children:
                    restore_children_as_of(
                        parent=parent, child_model=child_model, fk_name=fk_name,
                        version_record=record, actor=request.user,
                    )
        return response
