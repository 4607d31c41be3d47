"""Settle a replay a crash left in `publishing` by looking for it in the target partition.

Never retried automatically: the record may already be in the topic, and a
second copy would charge a customer twice. Reconcile reads the target
partition from the end offset recorded before producing and looks for the
replay id header; found means republished, the whole range read without it
means it was never written.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from deadletter.models import Review, Status

from .headers import REPLAY_ID
from .models import AuditEntry, Replay
from .outbox import RECORD_STATUS
from .publish import RepublishRefused
from .scan import header_value, scan_partition


def reconcile(replay: Replay, *, user: User | None) -> str:
    if replay.state != Replay.State.PUBLISHING:
        raise RepublishRefused(f"replay {replay.replay_id} is already {replay.get_state_display().lower()}")
    min_age = settings.REPUBLISH_RECONCILE_MIN_AGE
    if replay.created_at > timezone.now() - timedelta(seconds=min_age):
        raise RepublishRefused(
            f"replay {replay.replay_id} started less than {min_age:.0f} s ago and may still be in flight; "
            "reconcile it after that"
        )
    wanted = str(replay.replay_id).encode()
    bound = settings.REPUBLISH_RECONCILE_MAX_RECORDS
    scan = scan_partition(
        replay.target_topic,
        replay.target_partition,
        replay.start_offset,
        lambda record: header_value(record, REPLAY_ID) == wanted,
        max_records=bound,
    )
    if scan.matches:
        outcome = settle(replay, Replay.State.REPUBLISHED, offset=scan.matches[0].offset)
    elif scan.complete:
        outcome = settle(
            replay,
            Replay.State.FAILED,
            error=f"not in {replay.target_topic}[{replay.target_partition}] from offset {replay.start_offset} "
            f"to its end ({scan.scanned} records read): it was never written",
        )
    else:
        raise RepublishRefused(
            f"read {scan.scanned} records of {replay.target_topic}[{replay.target_partition}] without finding "
            f"replay {replay.replay_id} or reaching the end; raise REPUBLISH_RECONCILE_MAX_RECORDS"
        )
    AuditEntry.objects.create(
        user=user,
        action=AuditEntry.Action.RECONCILE,
        record_ids=[replay.record_id],
        target_topic=replay.target_topic,
        replay_ids=[str(replay.replay_id)],
        outcome=outcome,
    )
    return outcome


def settle(replay: Replay, state: Replay.State, *, offset: int | None = None, error: str = "") -> str:
    with transaction.atomic():
        settled = Replay.objects.filter(pk=replay.pk, state=Replay.State.PUBLISHING).update(
            state=state, offset=offset, error=error, settled_at=timezone.now()
        )
        if not settled:
            raise RepublishRefused(f"replay {replay.replay_id} was settled by someone else meanwhile")
        Review.objects.filter(pk=replay.record_id, status=Status.PUBLISHING, replay_id=replay.replay_id).update(
            status=RECORD_STATUS[state]
        )
    if state == Replay.State.REPUBLISHED:
        return f"found replay {replay.replay_id} at {replay.target_topic}[{replay.target_partition}]@{offset}"
    return f"replay {replay.replay_id} marked failed: {error}"
