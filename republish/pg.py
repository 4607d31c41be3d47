"""Every PostgreSQL-specific statement of the republish app, behind plain functions
(reading the dead-letter records is deadletter.pg's).

A bulk republish sends each chunk's rows as array literals in one statement per table,
planned as key lookups; callers check `connection.vendor` and use the ORM elsewhere
(SQLite, the embedded default). Names are quoted with deadletter.pg's helpers, on
Django's default connection. The statements on the dead-letter tables' review status
are deadletter's (deadletter.reviews); these write only Replay rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection, models

from deadletter.pg import array_literal, column, plain_array_literal, table

from .models import Replay

if TYPE_CHECKING:
    from .outbox import ClaimRow, ReplayDefaults, SettleRow

__all__ = ["array_literal", "plain_array_literal", "plan_as_key_lookups", "by_ids", "insert_replays", "settle_replays"]


def plan_as_key_lookups() -> None:
    """For the rest of the transaction, join by index lookups whatever the statistics say.

    A bulk republish grows and rewrites tables faster than ANALYZE follows, and with
    statistics from before the job PostgreSQL planned a chunk's join as a hash join over
    the whole table, so each chunk cost more than the one before. Every chunk statement
    looks rows up by a unique key, for which a nested loop over the key's index is the
    right plan at any table size.

    Index scans (plain and index-only) are off too, which leaves a bitmap scan of the
    key's index, driven by each chunk row, as the only table access still enabled: with
    them on, an estimate of a handful of rows made PostgreSQL scan the table's whole index
    once and join each row found with every chunk row, a quadratic join (figures in
    docs/performance.md).

    The settings last until the transaction ends; outside one they would do nothing.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("plan_as_key_lookups() must be called inside a transaction")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true), "
            "set_config('enable_mergejoin', 'off', true), set_config('enable_indexscan', 'off', true)"
        )


def by_ids(queryset: models.QuerySet[Any], ids: Sequence[int]) -> models.QuerySet[Any]:
    """queryset.filter(pk__in=ids) with the ids as one array parameter instead of one placeholder each."""
    condition = f"{table(queryset.model)}.{column(queryset.model, 'pk')} = ANY(%s)"
    return queryset.extra(where=[condition], params=[list(ids)])


REPLAY_COLUMNS = (
    "replay_id",
    "record",
    "target_topic",
    "target_partition",
    "start_offset",
    "state",
    "error",
    "job",
    "requested_by",
    "edited",
    "value",
    "edited_headers",
    "created_at",
)


def insert_replays(rows: Sequence[ClaimRow], defaults: ReplayDefaults) -> None:
    """One Replay (publishing) per claimed row, in one INSERT ... SELECT FROM unnest."""
    topics = list(dict.fromkeys(row.target_topic for row in rows))
    topic_number = {topic: number for number, topic in enumerate(topics, start=1)}
    columns = ", ".join(column(Replay, name) for name in REPLAY_COLUMNS)
    statement = f"""
        INSERT INTO {table(Replay)} ({columns})
        SELECT w.replay_id, w.record_id, (%s::varchar[])[w.topic_number], w.target_partition, w.start_offset,
               %s, '', %s, %s, %s, %s, %s, %s
        FROM unnest(%s::bigint[], %s::uuid[], %s::int[], %s::int[], %s::bigint[])
            AS w(record_id, replay_id, topic_number, target_partition, start_offset)
    """
    edited_headers = Replay._meta.get_field("edited_headers").get_db_prep_save(defaults.edited_headers, connection)
    params = [
        array_literal(topics),
        Replay.State.PUBLISHING.value,
        defaults.job_id,
        defaults.requested_by_id,
        defaults.edited,
        defaults.value,
        edited_headers,
        defaults.created_at,
        plain_array_literal([row.record_id for row in rows]),
        plain_array_literal([row.replay_id for row in rows]),
        plain_array_literal([topic_number[row.target_topic] for row in rows]),
        plain_array_literal([row.target_partition for row in rows]),
        plain_array_literal([row.start_offset for row in rows]),
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def settle_replays(rows: Sequence[SettleRow], settled_at: datetime) -> list[tuple[int, str, str]]:
    """Record each outcome on its Replay while still publishing (a row left publishing only
    gets its error); return (record id, replay id, state) of each Replay that left publishing."""
    replays = table(Replay)
    state, offset, error = column(Replay, "state"), column(Replay, "offset"), column(Replay, "error")
    replay_id, record, settled = column(Replay, "replay_id"), column(Replay, "record"), column(Replay, "settled_at")
    statement = f"""
        UPDATE {replays} AS r
        SET {state} = o.state, {offset} = o.new_offset, {error} = o.error,
            {settled} = CASE WHEN o.state = %s THEN NULL ELSE %s END
        FROM unnest(%s::uuid[], %s::varchar[], %s::bigint[], %s::text[]) AS o(replay_id, state, new_offset, error)
        WHERE r.{replay_id} = o.replay_id AND r.{state} = %s
        RETURNING r.{record}, r.{replay_id}, r.{state}
    """
    publishing = Replay.State.PUBLISHING.value
    params: list[Any] = [
        publishing,
        settled_at,
        plain_array_literal([row.replay_id for row in rows]),
        plain_array_literal([row.state for row in rows]),  # words: no quoting
        array_literal([row.offset for row in rows]),
        array_literal([row.error for row in rows]),
        publishing,
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return [
            (record_id, str(replay), state) for record_id, replay, state in cursor.fetchall() if state != publishing
        ]
