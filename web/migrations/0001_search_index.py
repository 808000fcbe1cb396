"""The search box's index: pg_trgm GIN indexes (PostgreSQL) or an FTS5 table with SQL
triggers (SQLite) over samples, runs, recipes, chemicals, lots and data files.

The DDL lives in ``web.search`` (one definition, also used after every ``migrate`` to re-create
triggers that SQLite drops when another migration rebuilds a table). ``TrigramExtension`` is a
no-op on SQLite.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


def create_index(apps, schema_editor):
    from web.search import ensure_search_index

    ensure_search_index(schema_editor.connection)


def drop_index(apps, schema_editor):
    from web.search import drop_search_index

    drop_search_index(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("synthesis", "0003_samplelayer_layer_role_thickness"),
        ("characterization", "0003_alter_historicalxaspath_scatterer_and_more"),
    ]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_index, drop_index),
    ]
