"""Admin building blocks: history (view + revert), retire instead of delete."""

from __future__ import annotations

from django.contrib import admin, messages
from simple_history.admin import SimpleHistoryAdmin

from labdb.lib.errors import DomainError
from labdb.lib.records import retire_record


@admin.action(description="Retire selected records (hide, never delete)")
def retire_selected(modeladmin, request, queryset):
    """Retire each selected record with a reason that names the curator."""
    count = 0
    for obj in queryset:
        try:
            retire_record(obj, reason=f"retired in admin by {request.user}", actor=request.user)
            count += 1
        except DomainError as exc:
            modeladmin.message_user(request, exc.message, level=messages.ERROR)
    modeladmin.message_user(request, f"Retired {count} record(s).")


class LabRecordAdmin(SimpleHistoryAdmin):
    """History with revert; retire instead of delete; owner/version shown read-only."""

    actions = [retire_selected]
    readonly_fields = ("version", "created_at", "updated_at", "retired_at")
    list_filter: tuple = ("is_retired",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        if change:
            obj.version = (obj.version or 0) + 1
        elif obj.owner_id is None:
            obj.owner = request.user
        super().save_model(request, obj, form, change)
