"""Storing drained rows, each position once: a straight COPY when the batch is above every
stored offset, insert-or-ignore on the unique position otherwise.

The unique constraint on (topic, partition, offset), never a guess of what is stored,
is what keeps every position stored once.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q

from deadletter import pg
from deadletter.models import DeadLetterRecord, Review
from deadletter.rows import REPLAY, Batch, Row, Span, as_instance, spans_of
from opsportal import kafka

log = logging.getLogger(__name__)


def stored_query(spans: dict[kafka.Position, Span]) -> Q:
    """The rows of these offset spans, as a filter on DeadLetterRecord."""
    query = Q()
    for (topic, partition), span in spans.items():
        query |= Q(dlq_topic=topic, partition=partition, offset__range=span)
    return query


def insert_rows(rows: list[Row], straight: bool = False) -> int:
    """The one place rows are written, each with its Review; returns the number of new rows.

    straight: COPY into the table itself, which raises IntegrityError if any position is
    already stored (the transaction is then lost); otherwise insert-or-ignore on the unique
    position (on PostgreSQL a temporary table and ON CONFLICT DO NOTHING, about twice the cost).
    """
    if connection.vendor == "postgresql":
        if not straight:
            return pg.copy_insert_or_ignore(rows)
        pg.copy_rows(pg.table(DeadLetterRecord), rows)
        # The rows a straight COPY just wrote, found by their unique position.
        Review.create_missing(DeadLetterRecord.objects.filter(stored_query(spans_of(rows))))
        return len(rows)
    already = DeadLetterRecord.objects.filter(stored_query(spans_of(rows))).count()
    instances = [as_instance(row) for row in rows]
    DeadLetterRecord.objects.bulk_create(instances, batch_size=500, ignore_conflicts=True)  # with their Reviews
    return len(rows) - already


def mark_failed_again(rows: list[Row]) -> None:
    """A republished record came back: flag the row it was republished from."""
    replay_ids = {row[REPLAY] for row in rows if row[REPLAY] is not None}
    if replay_ids:
        DeadLetterRecord.objects.filter(replays__replay_id__in=replay_ids).update(failed_again=True)


class StoredHighs:
    """The highest stored offset per partition as this run knows it, so that a batch above
    it goes in by a straight COPY without asking the database first.

    Only a guess: another writer may have stored rows since. Then the COPY meets the unique
    constraint and the batch is written again with ON CONFLICT DO NOTHING.
    """

    def __init__(self) -> None:
        self.highs: dict[kafka.Position, int] = {}

    def all_above(self, spans: dict[kafka.Position, Span]) -> bool:
        for position, (low, _) in spans.items():
            if position not in self.highs:
                self.highs[position] = self.stored_high(position)
            if low <= self.highs[position]:
                return False
        return True

    def stored(self, spans: dict[kafka.Position, Span]) -> None:
        for position, (_, high) in spans.items():
            self.highs[position] = max(self.highs.get(position, -1), high)

    def forget(self, spans: dict[kafka.Position, Span]) -> None:
        for position in spans:
            self.highs.pop(position, None)

    @staticmethod
    def stored_high(position: kafka.Position) -> int:
        """The highest offset stored for a partition, -1 if none: what the database says now.

        Public on purpose: a test replaces it to play another writer storing rows after
        this run looked.
        """
        topic, partition = position
        stored = DeadLetterRecord.objects.filter(dlq_topic=topic, partition=partition).aggregate(high=Max("offset"))
        return -1 if stored["high"] is None else stored["high"]


def store_batch(batch: Batch, highs: StoredHighs) -> int:
    """Insert a batch in one transaction and return the number of new rows; returns only once
    the database has committed it.

    A batch above every stored offset (the usual case) is COPYed straight in: three round
    trips (BEGIN, COPY, COMMIT). Otherwise, or when that meets stored rows, insert-or-ignore.
    """
    inserted = None
    if highs.all_above(batch.spans):
        try:
            with transaction.atomic():
                inserted = insert_rows(batch.rows, straight=True)
                mark_failed_again(batch.rows)
        except IntegrityError:
            log.info("dead-letter drain: some positions were stored meanwhile; inserting with ON CONFLICT")
            highs.forget(batch.spans)
            inserted = None
    if inserted is None:
        with transaction.atomic():
            inserted = insert_rows(batch.rows)
            mark_failed_again(batch.rows)
    highs.stored(batch.spans)
    return inserted
