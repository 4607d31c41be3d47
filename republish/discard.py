"""Discard: a decision recorded on the row. Nothing in Kafka is deleted."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat

from deadletter.models import DeadLetterRecord, Review, Status

from .models import AuditEntry

DISCARDABLE = (Status.NEW, Status.IN_REVIEW, Status.FAILED)


def discard(record_ids: list[int], *, user: User, reason: str) -> int:
    reason = reason.strip()
    if not reason:
        raise ValueError("a reason is required to discard dead letters")
    with transaction.atomic():
        reviews = Review.objects.select_for_update().filter(pk__in=record_ids, status__in=DISCARDABLE)
        ids = list(reviews.values_list("pk", flat=True))
        # The guard again in the UPDATE: SQLite takes no row locks, so a claim may have come between.
        count = Review.objects.filter(pk__in=ids, status__in=DISCARDABLE).update(status=Status.DISCARDED)
        note = f"\n[discarded by {user.get_username()}] {reason}"
        discarded = DeadLetterRecord.objects.filter(pk__in=ids, review__status=Status.DISCARDED)
        discarded.update(notes=Concat(F("notes"), Value(note)))
        AuditEntry.objects.create(
            user=user,
            action=AuditEntry.Action.DISCARD,
            record_ids=ids,
            outcome=f"{count} discarded, {len(record_ids) - count} skipped (already acted on): {reason}",
            details={"reason": reason},
        )
    return count
