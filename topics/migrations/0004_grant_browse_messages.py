"""Both Ops groups may browse messages; the permission can be taken from a person on their user page.

get_or_create: offsets' and republish's migrations make the same groups.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations; create this app's now to grant them.
    app_config = apps.get_app_config("topics")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    browse = Permission.objects.get(content_type__app_label="topics", codename="browse_messages")
    for name in ("Ops viewer", "Ops operator"):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(browse)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    browse = Permission.objects.filter(content_type__app_label="topics", codename="browse_messages")
    for group in Group.objects.filter(name__in=["Ops viewer", "Ops operator"]):
        group.permissions.remove(*browse)


class Migration(migrations.Migration):
    dependencies = [
        ("topics", "0003_browse_log"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
