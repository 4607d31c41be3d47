"""How PostgreSQL plans a chunk's claim and settle: key lookups, whatever the table's size."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.utils import timezone

from deadletter.models import DeadLetterRecord, Review, Status
from republish import outbox
from republish.models import Replay

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the chunk statements are PostgreSQL's"),
]

CHUNK = 5000


@pytest.fixture
def new_record_ids_in_small_tables() -> list[int]:
    """A chunk's worth of dead letters and nothing else, with fresh statistics (as after autovacuum
    on a portal that has just started draining), and replay statistics that say the table is empty
    however much it grows: taken when its only page held a dead row."""
    DeadLetterRecord.objects.bulk_create(
        [DeadLetterRecord(dlq_topic="test.plans", partition=0, offset=n, value=b"{}") for n in range(CHUNK)],
        batch_size=1000,
    )
    ids = list(DeadLetterRecord.objects.filter(dlq_topic="test.plans").values_list("pk", flat=True))
    with connection.cursor() as cursor:
        # Held to the test's end, so autovacuum cannot truncate the dead row's page away before ANALYZE.
        cursor.execute(f"LOCK TABLE {Replay._meta.db_table} IN ROW EXCLUSIVE MODE")
        with transaction.atomic():  # a savepoint: the replay's row is written, then rolled back (dead)
            Replay.objects.create(record_id=ids[0], target_topic="test.target", target_partition=0, start_offset=0)
            transaction.set_rollback(True)
        cursor.execute(f"ANALYZE {Review._meta.db_table}, {Replay._meta.db_table}")
        cursor.execute("SELECT relpages, reltuples FROM pg_class WHERE relname = %s", [Replay._meta.db_table])
        pages, rows = cursor.fetchone()
    assert pages > 0 and rows == 0  # so PostgreSQL estimates the table empty however much it grows
    return ids


def explained_chunk_statements(run: Callable[[], None]) -> list[str]:
    """Run `run()`, and return the plan of each chunk statement it sent (planned just before it ran):
    the statements that take a chunk's rows as arrays."""
    plans = []

    def explain_first(execute: Callable, sql: str, params, many: bool, context: dict):
        if "unnest(" in sql and not sql.startswith("EXPLAIN"):
            context["cursor"].execute("EXPLAIN " + sql, params)
            plans.append("\n".join(line for (line,) in context["cursor"].fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain_first):
        run()
    return plans


def test_claim_and_settle_of_a_chunk_look_each_row_up_by_its_key_whatever_the_statistics_say(
    new_record_ids_in_small_tables,
):
    ids = new_record_ids_in_small_tables
    rows = [outbox.ClaimRow(pk, str(uuid.uuid4()), "test.target", pk % 10, 0) for pk in ids]
    defaults = outbox.ReplayDefaults(None, None, False, None, [], timezone.now())
    claimed: set[int] = set()

    def claim_and_settle() -> None:
        with transaction.atomic():
            claimed.update(outbox.claim(rows, defaults))
        with transaction.atomic():
            outcomes = [outbox.SettleRow(row.replay_id, row.record_id, "republished", 7, "") for row in rows]
            outbox.settle(outcomes, timezone.now())

    # Per chunk: the reviews claimed, their replays inserted, the replays settled, the reviews settled.
    claim_plan, insert_plan, settle_plan, settle_reviews_plan = explained_chunk_statements(claim_and_settle)

    assert claimed == set(ids)
    assert set(Review.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Status.REPUBLISHED}
    # With estimates of a handful of rows (the status guard's is a guess, the replays' says empty)
    # PostgreSQL preferred scanning a whole table once and comparing each row found with every chunk
    # row: a quadratic join (measured: 1.8 s instead of 70 ms for a 5,000-row chunk).
    for plan in (claim_plan, insert_plan, settle_plan, settle_reviews_plan):
        assert "Join Filter" not in plan and "Materialize" not in plan, plan
    for plan in (claim_plan, settle_reviews_plan):
        assert "Index Cond: (record_id = " in plan, plan  # each chunk row's record looked up by its key
    assert "Index Cond: (replay_id = " in settle_plan, settle_plan  # each replay looked up by its key
    assert insert_plan.count("Scan on") == 1 and "Function Scan on w" in insert_plan, insert_plan  # reads no table
