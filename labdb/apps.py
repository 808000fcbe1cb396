"""The labdb project package as an app: operator commands (labdb/management), the start-up log
line and the ``curators`` group kept current after every migrate."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate

LABDB_APPS = ("synthesis", "characterization", "analysis")
CURATOR_ACTIONS = ("view", "add", "change")  # records are retired, never deleted
TOKEN_ACTIONS = ("view", "delete")  # curators may list and revoke API tokens in the admin


def grant_curator_permissions(sender=None, **_kwargs) -> None:
    """Give the curators group view/add/change on every labdb model (new models included)."""
    from django.apps import apps

    if sender is not None and sender.label not in (*LABDB_APPS, "knox"):
        return
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name="curators")
    wanted = [
        (label, f"{action}_{model._meta.model_name}")
        for label in LABDB_APPS
        for model in apps.get_app_config(label).get_models()
        for action in CURATOR_ACTIONS
    ] + [("knox", f"{action}_authtoken") for action in TOKEN_ACTIONS]
    perms = [
        perm
        for perm in Permission.objects.filter(
            content_type__app_label__in=[*LABDB_APPS, "knox"]
        ).select_related("content_type")
        if (perm.content_type.app_label, perm.codename) in wanted
    ]
    group.permissions.add(*perms)


class LabdbConfig(AppConfig):
    name = "labdb"
    verbose_name = "labdb operations"

    def ready(self) -> None:
        from django.conf import settings

        from labdb.logging import log_startup

        # After every app's own post_migrate (permissions exist by then: labdb is listed later
        # than auth, and the handler looks the permissions up rather than creating them).
        post_migrate.connect(grant_curator_permissions, dispatch_uid="labdb.curators")
        # The embedded job pool starts with the server's first request and sweeps for work a
        # stopped server left queued (labdb.lib.jobs); management commands never start it.
        from django.core.signals import request_started

        from labdb.lib.jobs import ensure_pool_started

        request_started.connect(ensure_pool_started, dispatch_uid="labdb.jobs.pool")
        log_startup(settings)
