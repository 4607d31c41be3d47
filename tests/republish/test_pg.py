"""The array literals the outbox sends PostgreSQL read back as the values they came from."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction

from republish import pg

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="array literals are PostgreSQL's")
def test_text_numbers_uuids_and_nulls_read_back_unchanged():
    texts = ['may have been written: "timed out"', "back\\slash", "{braces}, commas", "", "NULL", None, "ünï"]
    numbers, ids = [0, -1, 2**40, None], [uuid.uuid4(), None]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::text[], %s::bigint[], %s::uuid[]",
            [pg.array_literal(texts), pg.array_literal(numbers), pg.array_literal(ids)],
        )
        assert cursor.fetchone() == (texts, numbers, ids)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="array literals are PostgreSQL's")
def test_plain_array_literals_of_numbers_uuids_and_words_read_back_unchanged():
    numbers, ids, words = [0, -1, 2**40], [str(uuid.uuid4()), str(uuid.uuid4())], ["republished", "failed"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::bigint[], %s::uuid[], %s::varchar[]",
            [pg.plain_array_literal(numbers), pg.plain_array_literal(ids), pg.plain_array_literal(words)],
        )
        assert cursor.fetchone() == (numbers, [uuid.UUID(i) for i in ids], words)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner settings are PostgreSQL's")
def test_planner_settings_outside_a_transaction_are_refused_not_silently_lost():
    with pytest.raises(RuntimeError, match="inside a transaction"):
        pg.plan_as_key_lookups()
    with transaction.atomic():
        pg.plan_as_key_lookups()
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('enable_indexscan'), current_setting('enable_seqscan')")
            assert cursor.fetchone() == ("off", "off")
    with connection.cursor() as cursor:  # gone with the transaction
        cursor.execute("SELECT current_setting('enable_indexscan')")
        assert cursor.fetchone() == ("on",)
