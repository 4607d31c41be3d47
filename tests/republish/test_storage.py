"""How PostgreSQL stores the id lists a bulk job writes per chunk."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection

from republish.models import AuditEntry, ReplayJob

pytestmark = pytest.mark.django_db

# The migration's own check of the server, so the test skips exactly where the migration does nothing.
lz4_migration = importlib.import_module("republish.migrations.0010_id_lists_compressed_with_lz4")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="column compression is PostgreSQL's")
def test_id_lists_are_compressed_with_lz4_where_the_server_has_it():
    if not lz4_migration._server_has_lz4(connection):
        pytest.skip("this PostgreSQL was built without lz4")
    wanted = {
        (AuditEntry._meta.db_table, "record_ids"),
        (AuditEntry._meta.db_table, "replay_ids"),
        (ReplayJob._meta.db_table, "record_ids"),
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, a.attname, a.attcompression FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE (c.relname, a.attname) IN (" + ", ".join(["(%s, %s)"] * len(wanted)) + ")",
            [value for pair in sorted(wanted) for value in pair],
        )
        found = {(table, column): method for table, column, method in cursor.fetchall()}
    assert found == {pair: "l" for pair in wanted}


def test_a_chunk_sized_audit_entry_reads_back_whole():
    ids = list(range(10**9, 10**9 + 5000))
    replay_ids = [f"0190a3b4-5c6d-7e8f-9a0b-{n:012x}" for n in range(5000)]
    entry = AuditEntry.objects.create(action=AuditEntry.Action.BULK_REPUBLISH, record_ids=ids, replay_ids=replay_ids)
    entry.refresh_from_db()
    assert (entry.record_ids, entry.replay_ids) == (ids, replay_ids)
