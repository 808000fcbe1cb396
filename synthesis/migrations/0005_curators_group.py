"""Create the ``curators`` group with view/add/change (never delete) on every labdb model.

The admin is the curators' tool (labdb.lib.admin.CuratorsOnly); records are retired, never
deleted, so no delete permission is granted. Permissions are created here (post_migrate has not
run yet on a fresh database). ``labdb.apps`` keeps the group current for models added later.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

LABDB_APPS = ("synthesis", "characterization", "analysis")
ACTIONS = ("view", "add", "change")


def create_curators(apps, schema_editor):
    for label in LABDB_APPS:
        config = apps.get_app_config(label)
        config.models_module = True  # the usual stub trick: create_permissions skips otherwise
        create_permissions(config, verbosity=0, apps=apps)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="curators")
    codenames = [
        f"{action}_{model._meta.model_name}"
        for model in apps.get_models()
        if model._meta.app_label in LABDB_APPS
        for action in ACTIONS
    ]
    perms = Permission.objects.filter(
        content_type__app_label__in=LABDB_APPS, codename__in=codenames
    )
    group.permissions.add(*perms)


def remove_curators(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="curators").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("synthesis", "0004_step_details_bounds_qualifiers_lot_supplier"),
        ("characterization", "0008_measurement_qualifier_value_max"),
        ("analysis", "0002_remove_fitrun_provenance_and_more"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_curators, remove_curators)]
