"""The outbox's two writes per chunk: claim before producing, settle after.

claim: each republishable dead letter's Review moves to publishing with a new replay id
(deadletter.reviews, guarded by the status), and a Replay row (target, starting offset)
is inserted for each one claimed; the caller commits this before anything is produced.
A row another operator or worker claimed first is left out, which is what makes a
double publish impossible.

settle: each Replay still publishing records its outcome, and its dead letter's Review
(still publishing with that replay id) becomes republished or failed. A replay
reconcile settled meanwhile, or a row claimed again since, is left as it is.

On PostgreSQL each table gets one statement per chunk, its values sent as array
literals (republish.pg, deadletter.pg); elsewhere the ORM writes row by row. Neither
writes the wide dead-letter row: the status lives in Review, a narrow table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db import connection

from deadletter import reviews
from deadletter.models import Status

from . import pg
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


def claim(rows: Sequence[ClaimRow], defaults: ReplayDefaults) -> set[int]:
    """Claim the rows still republishable; return the record ids claimed. Call inside a transaction."""
    if not rows:
        return set()
    postgresql = connection.vendor == "postgresql"
    if postgresql:
        pg.plan_as_key_lookups()
    claimed = reviews.claim([(row.record_id, row.replay_id) for row in rows], Status.PUBLISHING, REPUBLISHABLE)
    replays = [row for row in rows if row.record_id in claimed]
    if postgresql:
        if replays:
            pg.insert_replays(replays, defaults)
        return claimed
    Replay.objects.bulk_create(
        Replay(
            replay_id=row.replay_id,
            record_id=row.record_id,
            target_topic=row.target_topic,
            target_partition=row.target_partition,
            start_offset=row.start_offset,
            state=Replay.State.PUBLISHING,
            job_id=defaults.job_id,
            requested_by_id=defaults.requested_by_id,
            edited=defaults.edited,
            value=defaults.value,
            edited_headers=defaults.edited_headers,
            created_at=defaults.created_at,
        )
        for row in replays
    )
    return claimed


def settle(rows: Sequence[SettleRow], settled_at: datetime) -> None:
    """Record each outcome (a row left publishing only gets its error); call inside a transaction."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        pg.plan_as_key_lookups()
        left_publishing = pg.settle_replays(rows, settled_at)
    else:
        left_publishing = _settle_replays_one_by_one(rows, settled_at)
    reviews.settle(
        [(record_id, replay_id, RECORD_STATUS[Replay.State(state)]) for record_id, replay_id, state in left_publishing],
        Status.PUBLISHING,
    )


def _settle_replays_one_by_one(rows: Sequence[SettleRow], settled_at: datetime) -> list[tuple[int, str, str]]:
    publishing = Replay.State.PUBLISHING
    settled = []
    for row in rows:
        changes = {"state": row.state, "offset": row.offset, "error": row.error}
        finished = row.state != publishing
        if (
            Replay.objects.filter(replay_id=row.replay_id, state=publishing).update(
                **changes, settled_at=settled_at if finished else None
            )
            and finished
        ):
            settled.append((row.record_id, row.replay_id, row.state))
    return settled
