"""The Review row carries its record's fingerprint and original topic (never changed after the
drain), so the summary groups the narrow Review table alone (deadletter/summary.py)."""

from django.db import migrations, models


def copy_from_records(apps, schema_editor):
    """One statement, any size (a million rows: seconds)."""
    record = apps.get_model("deadletter", "DeadLetterRecord")._meta.db_table
    review = apps.get_model("deadletter", "Review")._meta.db_table
    schema_editor.execute(
        f"UPDATE {review} SET fingerprint = d.fingerprint, original_topic = d.original_topic "
        f"FROM {record} AS d WHERE d.id = {review}.record_id"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("deadletter", "0009_registry_decode_mark"),
    ]

    operations = [
        migrations.AddField(
            model_name="review",
            name="fingerprint",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="review",
            name="original_topic",
            field=models.CharField(blank=True, max_length=249),
        ),
        migrations.RunPython(copy_from_records, migrations.RunPython.noop),
    ]
