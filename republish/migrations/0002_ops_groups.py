"""Give the "Ops viewer" and "Ops operator" groups their share of the portal.

Viewers see every mirror, dead-letter and republish row and change nothing.
Operators also triage dead letters and may republish, edit-republish,
bulk-republish and discard. get_or_create: offsets' migration makes the same groups.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW_APPS = ("topics", "deadletter", "republish", "offsets")
OPERATOR_CODENAMES = (
    "republish_record",
    "edit_republish_record",
    "bulk_republish",
    "discard_record",
    "change_deadletterrecord",
)


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations; create them now to grant them.
    for label in VIEW_APPS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(content_type__app_label__in=VIEW_APPS, codename__startswith="view_")
    act = Permission.objects.filter(
        content_type__app_label__in=("deadletter", "republish"), codename__in=OPERATOR_CODENAMES
    )
    viewer, _ = Group.objects.get_or_create(name="Ops viewer")
    viewer.permissions.add(*view)
    operator, _ = Group.objects.get_or_create(name="Ops operator")
    operator.permissions.add(*view, *act)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    operator = Group.objects.filter(name="Ops operator").first()
    if operator:
        operator.permissions.remove(*Permission.objects.filter(codename__in=OPERATOR_CODENAMES))


class Migration(migrations.Migration):
    dependencies = [
        ("republish", "0001_initial"),
        ("offsets", "0002_ops_groups"),
        ("topics", "0002_schedule_sync"),
        ("deadletter", "0002_schedule_drain"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
