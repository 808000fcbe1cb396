"""Who may do what through the API.

Reading needs a login. A lab member edits what they own; members of the ``curators`` group edit
everything. Anonymous requests get 401/403 and never data.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

CURATORS_GROUP = "curators"


def is_curator(user) -> bool:
    """True for superusers and members of the curators group."""
    if not user or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    # Cache on the user object: one query per request, not per object.
    if not hasattr(user, "_labdb_is_curator"):
        user._labdb_is_curator = user.groups.filter(name=CURATORS_GROUP).exists()
    return user._labdb_is_curator


def can_edit(user, obj) -> bool:
    """Owner or curator. Objects without an owner are editable by curators only."""
    if is_curator(user):
        return True
    owner_id = getattr(obj, "owner_id", None)
    return owner_id is not None and owner_id == user.id


class LabMemberPermission(BasePermission):
    """Authenticated users read and create; owners and curators change."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return can_edit(request.user, obj)
