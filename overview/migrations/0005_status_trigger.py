"""The trigger that keeps the dead-letter status tally (overview/tally.py), PostgreSQL only;
installed with a count of the statuses so far, the Review table locked meanwhile."""

from django.db import migrations


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from overview import tally

        tally.install_status_trigger()


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from overview import tally

        tally.uninstall_status_trigger()


class Migration(migrations.Migration):
    dependencies = [
        ("overview", "0004_status_tally"),
        ("deadletter", "0007_status_in_a_narrow_review_table"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
