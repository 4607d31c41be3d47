"""Move dead-letter records from Kafka into DeadLetterRecord rows, each exactly once.

The order of a batch is the whole guarantee: consume, insert with ON CONFLICT DO
NOTHING on (topic, partition, offset), commit the database, and only then commit
the Kafka offsets synchronously. A crash before the database commit re-reads the
batch; a crash between the two commits re-reads rows that already exist and the
unique constraint drops them. Nothing is lost, nothing is stored twice.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from deadletter import decoders
from deadletter.models import DeadLetterRecord
from opsportal import kafka_client
from topics.spec import DEAD_LETTER_TOPIC

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_GROUP_ID = "opsportal-deadletter-drain"
# Big enough to amortise the commits, small enough that memory stays flat (~1 KiB records).
DEFAULT_BATCH_SIZE = 2000


@dataclass
class DrainResult:
    consumed: int = 0
    inserted: int = 0
    already_stored: int = 0  # re-read after a crash between the database and the offset commit
    decode_errors: int = 0
    batches: int = 0
    stopped: bool = False  # a stop was requested (SIGTERM) and honoured after a whole batch

    def __str__(self) -> str:
        return (
            f"consumed {self.consumed}, stored {self.inserted}, already stored {self.already_stored}, "
            f"with decode errors {self.decode_errors}, in {self.batches} batches"
            + (" (stopped on request)" if self.stopped else "")
        )


# --- one record -> one row -------------------------------------------------------------------


def _kafka_time(timestamp_ms: int | None) -> datetime | None:
    if timestamp_ms is None or timestamp_ms < 0:
        return None
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _raw_headers(headers: Iterable[tuple[str, bytes | None]], errors: list[str]) -> list[list[str | None]]:
    raw = []
    for name, value in headers:
        clean = decoders.clean_text(name)
        if clean != name:
            errors.append(f"header name {clean!r} held NUL characters (replaced)")
        raw.append([clean, None if value is None else base64.b64encode(value).decode("ascii")])
    return raw


def build_row(record: kafka_client.Record, drained_at: datetime) -> DeadLetterRecord:
    """Decode one record; whatever the bytes, this returns a row that the database accepts."""
    decoded = decoders.decode_headers(record.headers)
    business = decoders.read_business(record.value)
    headers = _raw_headers(record.headers, decoded.errors)
    digest, masked = decoders.fingerprint(decoded.error_type, decoded.error_message)
    key_text = "" if record.key is None else decoders.clean_text(record.key[:255].decode("utf-8", "replace"))
    return DeadLetterRecord(
        dlq_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=_kafka_time(record.timestamp_ms),
        key=record.key,
        value=record.value,
        key_size=None if record.key is None else len(record.key),
        value_size=None if record.value is None else len(record.value),
        key_text=key_text[:255],
        headers=headers,
        convention=decoded.convention,
        original_topic=decoded.original_topic[:249],
        original_partition=decoded.original_partition,
        original_offset=decoded.original_offset,
        original_timestamp_ms=decoded.original_timestamp_ms,
        consumer_group=decoded.consumer_group[:255],
        error_type=decoded.error_type[:255],
        error_message=decoded.error_message,
        stack_trace=decoded.stack_trace,
        retry_count=decoded.retry_count,
        failed_at=decoded.failed_at,
        decode_error="\n".join(decoded.errors),
        fingerprint=digest,
        fingerprint_text=masked,
        event_id=business.event_id,
        event_type=business.event_type,
        account_id=business.account_id,
        correlation_id=business.correlation_id,
        saga_id=business.saga_id,
        amount=business.amount,
        currency=business.currency,
        drained_at=drained_at,
        returned_replay_id=decoded.replay_id,
    )


# --- one batch -------------------------------------------------------------------------------


def _stored_count(rows: list[DeadLetterRecord]) -> int:
    """Rows of this batch already in the table (one range query per partition, on the unique index)."""
    spans: dict[tuple[str, int], tuple[int, int]] = {}
    for row in rows:
        low, high = spans.get((row.dlq_topic, row.partition), (row.offset, row.offset))
        spans[(row.dlq_topic, row.partition)] = (min(low, row.offset), max(high, row.offset))
    return sum(
        DeadLetterRecord.objects.filter(dlq_topic=topic, partition=partition, offset__range=span).count()
        for (topic, partition), span in spans.items()
    )


def _mark_failed_again(rows: list[DeadLetterRecord]) -> None:
    """A republished record came back: flag the row it was republished from."""
    replay_ids = {row.returned_replay_id for row in rows if row.returned_replay_id is not None}
    if replay_ids:
        DeadLetterRecord.objects.filter(replay_id__in=replay_ids).update(failed_again=True)


def insert_rows(rows: list[DeadLetterRecord]) -> None:
    """The one place rows are written: insert-or-ignore on the unique position."""
    DeadLetterRecord.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)


def store_batch(records: list[kafka_client.Record], result: DrainResult) -> None:
    """Insert a batch in one transaction; returns only once the database has committed it."""
    drained_at = timezone.now()
    rows = [build_row(record, drained_at) for record in records]
    with transaction.atomic(using=router.db_for_write(DeadLetterRecord)):
        already = _stored_count(rows)
        insert_rows(rows)
        _mark_failed_again(rows)
    result.inserted += len(rows) - already
    result.already_stored += already
    result.decode_errors += sum(1 for row in rows if row.decode_error)


def _next_positions(records: list[kafka_client.Record]) -> dict[kafka_client.Position, int]:
    positions: dict[kafka_client.Position, int] = {}
    for record in records:
        position = (record.topic, record.partition)
        positions[position] = max(positions.get(position, 0), record.offset + 1)
    return positions


# --- the loop --------------------------------------------------------------------------------


def _batch_limit(batch_size: int, max_records: int | None, result: DrainResult) -> int:
    if max_records is None:
        return batch_size
    return min(batch_size, max_records - result.consumed)


def _poll(consumer, limit: int, timeout: float, until_empty: bool) -> list[kafka_client.Record] | None:
    """A batch; None when until_empty and a poll of `timeout` seconds found nothing."""
    records = kafka_client.poll_records(consumer, limit, timeout)
    if not records and until_empty:
        return None
    return records


def _retrying(call: Callable[[], T], attempts: int = 10, pause: float = 1.0) -> T:
    """Ride out a restarting broker (e.g. COORDINATOR_LOAD_IN_PROGRESS); anything else raises at once."""
    for attempt in range(attempts):
        try:
            return call()
        except kafka_client.KafkaClientError as exc:
            if not exc.retriable or attempt == attempts - 1:
                raise
            log.warning("dead-letter drain: %s; retrying", exc)
            time.sleep(pause)
    raise AssertionError("unreachable")


def _start_positions(topic: str, group_id: str, cluster) -> dict[kafka_client.Position, int]:
    """Every partition of the topic, from the group's committed offset or the beginning.

    Assigned rather than subscribed: a group rebalance would wait out the session of a
    killed drain (45 s) before handing out partitions, and an empty poll during that wait
    would look like a drained topic.
    """
    topics = kafka_client.list_topics(cluster)
    if topic not in topics:
        raise kafka_client.KafkaClientError(f"the dead-letter topic {topic} does not exist")
    committed, failures = kafka_client.committed_offsets([group_id], cluster)
    if group_id in failures:
        raise failures[group_id]
    mine = committed.get(group_id, {})
    return {
        (topic, partition.number): mine.get((topic, partition.number), kafka_client.OFFSET_BEGINNING)
        for partition in topics[topic].partitions
    }


def drain_dead_letter(
    max_records: int | None = None,
    until_empty: bool = False,
    timeout: float = 2.0,
    topic: str | None = None,
    group_id: str | None = None,
    *,
    batch_size: int | None = None,
    stop: threading.Event | None = None,
    cluster: kafka_client.ClusterSettings | None = None,
    on_batch: Callable[[DrainResult], None] | None = None,
) -> DrainResult:
    """Drain the dead-letter topic into the database.

    Stops after max_records records, when the topic is drained (until_empty: a poll of
    `timeout` seconds found nothing), or when `stop` is set; otherwise runs on. The
    client is created here, inside the calling process, never at import (fork safety).
    Partitions are assigned, not shared through a group: two drains at once both read
    everything (still stored once, but wasted work), so the scheduled task takes a lock.
    """
    topic = topic or getattr(settings, "DEAD_LETTER_TOPIC", DEAD_LETTER_TOPIC)
    group_id = group_id or getattr(settings, "DEAD_LETTER_DRAIN_GROUP_ID", DEFAULT_GROUP_ID)
    batch_size = batch_size or getattr(settings, "DEAD_LETTER_DRAIN_BATCH_SIZE", DEFAULT_BATCH_SIZE)
    stop = stop or threading.Event()
    result = DrainResult()
    start = _retrying(lambda: _start_positions(topic, group_id, cluster))
    # A bounded prefetch queue keeps memory flat whatever the backlog.
    consumer = kafka_client.consumer(group_id, cluster, **{"queued.max.messages.kbytes": 32768})
    try:
        kafka_client.assign(consumer, start)
        while not stop.is_set():
            limit = _batch_limit(batch_size, max_records, result)
            if limit <= 0:
                break
            records = _poll(consumer, limit, timeout, until_empty)
            if records is None:
                break
            if records:
                _drain_batch(consumer, records, result, cluster)
                if on_batch is not None:
                    on_batch(result)
        result.stopped = stop.is_set()
    finally:
        consumer.close()
    return result


def _drain_batch(consumer, records: list[kafka_client.Record], result: DrainResult, cluster) -> None:
    result.consumed += len(records)
    store_batch(records, result)
    # Only after the database commit: a crash before this line re-reads rows that exist.
    kafka_client.commit_positions(consumer, _next_positions(records), cluster)
    result.batches += 1


def database_alias() -> str:
    return router.db_for_write(DeadLetterRecord)


def database_vendor() -> str:
    return connections[database_alias()].vendor
