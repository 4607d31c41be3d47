"""Discard: a decision recorded on the row. Nothing in Kafka is deleted."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, F, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone

from deadletter.models import DeadLetterRecord, Review, Status
from opsportal.admin_mixins import show_time

from .models import AuditEntry

DISCARDABLE = (Status.NEW, Status.IN_REVIEW, Status.FAILED)
ERROR_TYPES_SHOWN = 8  # on the bulk confirmation; the rest are counted
EXAMPLES = 3  # records linked per status on the bulk confirmation


@dataclass(frozen=True)
class StatusGroup:
    status: str
    label: str
    count: int
    discardable: bool
    examples: list[DeadLetterRecord]


@dataclass(frozen=True)
class Selection:
    """A selection of any size as the bulk confirmation shows it: counts, never every row."""

    total: int
    to_discard: int
    by_status: list[StatusGroup]
    by_error_type: list[tuple[str, int]]
    more_error_types: int

    @property
    def refused(self) -> int:
        return self.total - self.to_discard


def summarise(queryset: QuerySet[DeadLetterRecord]) -> Selection:
    """Counts by status (what is discarded, what refused) and by error type, a few examples a
    status: a handful of grouped queries whatever the selection's size."""
    selection = queryset.select_related(None).order_by()  # the list's joins: examples load four fields
    counts = dict(selection.values_list("review__status").annotate(n=Count("pk")))
    groups = [
        StatusGroup(status, label, counts[status], status in DISCARDABLE, _examples(selection, status))
        for status, label in Status.choices
        if counts.get(status)
    ]
    errors = list(selection.values_list("error_type").annotate(n=Count("pk")).order_by("-n", "error_type"))
    return Selection(
        total=sum(counts.values()),
        to_discard=sum(group.count for group in groups if group.discardable),
        by_status=groups,
        by_error_type=errors[:ERROR_TYPES_SHOWN],
        more_error_types=max(len(errors) - ERROR_TYPES_SHOWN, 0),
    )


def _examples(selection: QuerySet[DeadLetterRecord], status: str) -> list[DeadLetterRecord]:
    rows = selection.filter(review__status=status).order_by("pk").only("pk", "dlq_topic", "partition", "offset")
    return list(rows[:EXAMPLES])


def discard(record_ids: list[int], *, user: User, reason: str) -> int:
    reason = reason.strip()
    if not reason:
        raise ValueError("a reason is required to discard dead letters")
    with transaction.atomic():
        reviews = Review.objects.select_for_update().filter(pk__in=record_ids, status__in=DISCARDABLE)
        ids = list(reviews.values_list("pk", flat=True))
        # The guard again in the UPDATE: SQLite takes no row locks, so a claim may have come between.
        count = Review.objects.filter(pk__in=ids, status__in=DISCARDABLE).update(status=Status.DISCARDED)
        note = f"\n[discarded by {user.get_username()} at {show_time(timezone.now())}] {reason}"
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
