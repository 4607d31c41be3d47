"""The audit's and the job's id lists compressed with lz4 instead of pglz, on PostgreSQL.

A bulk job writes one audit entry per 5,000-record chunk, with the chunk's record
and replay ids: about 250 KB of JSON, stored out of line and compressed. pglz took
9 ms per entry on the 2-core machine, lz4 2 ms, for nearly the same size.
Only where the server was built with lz4 (Debian's and most are); elsewhere, and
on SQLite, nothing changes.
"""

from django.db import migrations

COLUMNS = {"AuditEntry": ("record_ids", "replay_ids"), "ReplayJob": ("record_ids",)}


def set_compression(method: str):
    def alter(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql" or not _server_has_lz4(connection):
            return
        quote = schema_editor.quote_name
        for model_name, columns in COLUMNS.items():
            table = apps.get_model("republish", model_name)._meta.db_table
            changes = ", ".join(f"ALTER COLUMN {quote(column)} SET COMPRESSION {method}" for column in columns)
            schema_editor.execute(f"ALTER TABLE {quote(table)} {changes}")

    return alter


def _server_has_lz4(connection) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cursor.fetchone()
    return bool(row and row[0])


class Migration(migrations.Migration):
    dependencies = [
        ("republish", "0009_replay_job_not_indexed"),
    ]

    operations = [migrations.RunPython(set_compression("lz4"), set_compression("default"))]
