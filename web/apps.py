from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_search_index(sender, using, **kwargs):
    """SQLite drops triggers when a migration rebuilds a table: put the search's back."""
    from django.db import connections

    from web.search import ensure_search_index

    ensure_search_index(connections[using])


class WebConfig(AppConfig):
    name = "web"
    verbose_name = "Web UI for lab members"

    def ready(self):
        # Sent once per app with models (web has none); the check is idempotent and cheap.
        post_migrate.connect(_ensure_search_index, dispatch_uid="web.ensure_search_index")
