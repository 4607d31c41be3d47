"""The "Ops viewer" and "Ops operator" groups; only operators may reset offsets.

get_or_create throughout: other apps add their own permissions to the same groups.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations; create this app's now to grant them.
    app_config = apps.get_app_config("offsets")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.get(content_type__app_label="offsets", codename="view_offsetreset")
    reset = Permission.objects.get(content_type__app_label="offsets", codename="reset_offsets")
    viewer, _ = Group.objects.get_or_create(name="Ops viewer")
    viewer.permissions.add(view)
    operator, _ = Group.objects.get_or_create(name="Ops operator")
    operator.permissions.add(view, reset)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="offsets")
    for group in Group.objects.filter(name__in=["Ops viewer", "Ops operator"]):
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("offsets", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
