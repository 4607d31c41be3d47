"""The outbox's two writes per chunk: claim before producing, settle after.

claim: each republishable dead letter's Review moves to publishing with a new replay id,
and its Replay row (target, starting offset) is inserted; the caller commits
this before anything is produced. A row another operator or worker claimed
first is left out, which is what makes a double publish impossible.

settle: each Replay still publishing records its outcome, and its dead letter's Review
(still publishing with that replay id) becomes republished or failed. A replay
reconcile settled meanwhile, or a row claimed again since, is left as it is.

On PostgreSQL each is one statement (a data-modifying WITH) whose per-row
values travel as array literals: these run once per 5,000 records, and the
statement time is most of a bulk republish's database cost. Elsewhere
(SQLite, the embedded default) the portable helpers of sql.py do the same in
two statements.

Neither writes the wide dead-letter row: the status lives in Review, a narrow table
with two indexes (the record's status writes were most of a bulk republish's
database time, each adding an entry to all eight indexes of the record).

The status guards are written `d.status || '' = ...` so that PostgreSQL cannot
answer them from the status index. Its entries for rows that were publishing
stay until VACUUM, and the planner, whose statistics say almost no row is
publishing, scanned all of them for each chunk: the 100,000-record benchmark
took 70 s instead of 10. Rows are found by primary key; the guard is checked
on each row found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db import connection

from deadletter.models import Review, Status

from . import sql
from .models import Replay

REPUBLISHABLE = (Status.NEW, Status.IN_REVIEW, Status.FAILED)
RECORD_STATUS = {Replay.State.REPUBLISHED: Status.REPUBLISHED, Replay.State.FAILED: Status.FAILED}


class ClaimRow(NamedTuple):  # one per record of a bulk job: tuples are cheap to make
    record_id: int
    replay_id: str  # a UUID as text
    target_topic: str
    target_partition: int
    start_offset: int


@dataclass(frozen=True)
class ReplayDefaults:
    """What every Replay of one chunk shares."""

    job_id: int | None
    requested_by_id: int | None
    edited: bool
    value: bytes | None
    edited_headers: list
    created_at: datetime


class SettleRow(NamedTuple):
    replay_id: str  # a UUID as text
    record_id: int
    state: str
    offset: int | None
    error: str


def claim(rows: list[ClaimRow], defaults: ReplayDefaults) -> set[int]:
    """Claim the rows still republishable; return the record ids claimed. Call inside a transaction."""
    if not rows:
        return set()
    if connection.vendor == "postgresql":
        sql.plan_as_key_lookups()
        return _claim_postgresql(rows, defaults)
    claimed = set(
        sql.update_many(
            Review,
            ["record"],
            ["status", "replay_id"],
            [(Status.PUBLISHING, row.replay_id, row.record_id) for row in rows],
            only_if={"status": REPUBLISHABLE},
        )
    )
    sql.insert_rows(
        Replay,
        REPLAY_COLUMNS,
        [_replay_values(row, defaults) for row in rows if row.record_id in claimed],
    )
    return claimed


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


def _replay_values(row: ClaimRow, defaults: ReplayDefaults) -> tuple:
    return (
        row.replay_id,
        row.record_id,
        row.target_topic,
        row.target_partition,
        row.start_offset,
        Replay.State.PUBLISHING,
        "",
        defaults.job_id,
        defaults.requested_by_id,
        defaults.edited,
        defaults.value,
        defaults.edited_headers,
        defaults.created_at,
    )


def _claim_postgresql(rows: list[ClaimRow], defaults: ReplayDefaults) -> set[int]:
    reviews, replays = _table(Review), _table(Replay)
    topics = list(dict.fromkeys(row.target_topic for row in rows))
    topic_number = {topic: number for number, topic in enumerate(topics, start=1)}
    columns = ", ".join(_column(Replay, name) for name in REPLAY_COLUMNS)
    statement = f"""
        WITH wanted AS (
            SELECT * FROM unnest(%s::bigint[], %s::uuid[], %s::int[], %s::int[], %s::bigint[])
                AS w(record_id, replay_id, topic_number, target_partition, start_offset)
        ), claimed AS (
            UPDATE {reviews} AS d SET status = %s, replay_id = wanted.replay_id
            FROM wanted
            WHERE d.record_id = wanted.record_id AND d.status || '' = ANY(%s::varchar[])
            RETURNING wanted.*
        )
        INSERT INTO {replays} ({columns})
        SELECT c.replay_id, c.record_id, (%s::varchar[])[c.topic_number], c.target_partition, c.start_offset,
               %s, '', %s, %s, %s, %s, %s, %s
        FROM claimed AS c
        RETURNING {_column(Replay, "record")}
    """
    edited_headers = Replay._meta.get_field("edited_headers").get_db_prep_save(defaults.edited_headers, connection)
    params = [
        sql.plain_array_literal([row.record_id for row in rows]),
        sql.plain_array_literal([row.replay_id for row in rows]),
        sql.plain_array_literal([topic_number[row.target_topic] for row in rows]),
        sql.plain_array_literal([row.target_partition for row in rows]),
        sql.plain_array_literal([row.start_offset for row in rows]),
        Status.PUBLISHING.value,
        sql.array_literal([status.value for status in REPUBLISHABLE]),
        sql.array_literal(topics),
        Replay.State.PUBLISHING.value,
        defaults.job_id,
        defaults.requested_by_id,
        defaults.edited,
        defaults.value,
        edited_headers,
        defaults.created_at,
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return {record_id for (record_id,) in cursor.fetchall()}


def settle(rows: list[SettleRow], settled_at: datetime) -> None:
    """Record each outcome (a row left publishing only gets its error); call inside a transaction."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        sql.plan_as_key_lookups()
        _settle_postgresql(rows, settled_at)
        return
    publishing = Replay.State.PUBLISHING
    sql.update_many(
        Replay,
        ["replay_id"],
        ["state", "offset", "error", "settled_at"],
        [(r.state, r.offset, r.error, None if r.state == publishing else settled_at, r.replay_id) for r in rows],
        only_if={"state": publishing},
    )
    sql.update_many(
        Review,
        ["record", "replay_id"],
        ["status"],
        [(RECORD_STATUS[r.state], r.record_id, r.replay_id) for r in rows if r.state in RECORD_STATUS],
        only_if={"status": Status.PUBLISHING},
    )


def _settle_postgresql(rows: list[SettleRow], settled_at: datetime) -> None:
    reviews, replays = _table(Review), _table(Replay)
    offset, settled = _column(Replay, "offset"), _column(Replay, "settled_at")
    statement = f"""
        WITH outcome AS (
            SELECT * FROM unnest(%s::uuid[], %s::varchar[], %s::bigint[], %s::text[])
                AS o(replay_id, state, "offset", error)
        ), settled AS (
            UPDATE {replays} AS r
            SET state = outcome.state, {offset} = outcome."offset", error = outcome.error,
                {settled} = CASE WHEN outcome.state = %s THEN NULL ELSE %s END
            FROM outcome
            WHERE r.replay_id = outcome.replay_id AND r.state = %s
            RETURNING r.record_id, r.replay_id, r.state
        )
        UPDATE {reviews} AS d
        SET status = CASE settled.state WHEN %s THEN %s ELSE %s END
        FROM settled
        WHERE d.record_id = settled.record_id AND d.replay_id = settled.replay_id
          AND d.status || '' = %s AND settled.state <> %s
    """
    publishing = Replay.State.PUBLISHING.value
    params = [
        sql.plain_array_literal([row.replay_id for row in rows]),
        sql.plain_array_literal([row.state for row in rows]),  # words: no quoting
        sql.array_literal([row.offset for row in rows]),
        sql.array_literal([row.error for row in rows]),
        publishing,
        settled_at,
        publishing,
        Replay.State.REPUBLISHED.value,
        Status.REPUBLISHED.value,
        Status.FAILED.value,
        Status.PUBLISHING.value,
        publishing,
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)
