"""Move dead-letter records from Kafka into DeadLetterRecord rows, each exactly once.

The order of a batch is the whole guarantee: consume, insert with ON CONFLICT DO
NOTHING on (topic, partition, offset), commit the database, and only then commit
the Kafka offsets synchronously. A crash before the database commit re-reads the
batch; a crash between the two commits re-reads rows that already exist and the
unique constraint drops them. Nothing is lost, nothing is stored twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from base64 import b64encode
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from deadletter import decoders
from deadletter.models import DeadLetterRecord, Status
from opsportal import kafka_client
from topics.spec import DEAD_LETTER_TOPIC

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_GROUP_ID = "opsportal-deadletter-drain"
# Big enough to amortise the commits, small enough that memory stays flat (~1 KiB records).
DEFAULT_BATCH_SIZE = 5000
EMPTY_POLLS_TO_STOP = 3


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
        if "\x00" in name:
            name = decoders.clean_text(name)
            errors.append(f"header name {name!r} held NUL characters (replaced)")
        raw.append([name, None if value is None else b64encode(value).decode("ascii")])
    return raw


# Every column the drain writes, in the order row_values returns them (id is the database's).
COLUMNS = tuple(field.attname for field in DeadLetterRecord._meta.concrete_fields if field.name != "id")


def row_values(record: kafka_client.Record, drained_at: datetime) -> tuple:
    """Decode one record into COLUMNS order; whatever the bytes, the database accepts the row.

    A tuple, not a model instance: building 40-field instances cost more than the decoding.
    """
    decoded = decoders.decode_headers(record.headers)
    business = decoders.read_business(record.value)
    headers = _raw_headers(record.headers, decoded.errors)
    digest, masked = decoders.fingerprint(decoded.error_type, decoded.error_message)
    key, value = record.key, record.value
    key_text = "" if key is None else decoders.clean_text(key[:255].decode("utf-8", "replace"))
    values = {
        "dlq_topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": _kafka_time(record.timestamp_ms),
        "key": key,
        "value": value,
        "key_size": None if key is None else len(key),
        "value_size": None if value is None else len(value),
        "key_text": key_text,
        "headers": headers,
        "convention": decoded.convention,
        "original_topic": decoded.original_topic[:249],
        "original_partition": decoded.original_partition,
        "original_offset": decoded.original_offset,
        "original_timestamp_ms": decoded.original_timestamp_ms,
        "consumer_group": decoded.consumer_group[:255],
        "error_type": decoded.error_type[:255],
        "error_message": decoded.error_message,
        "stack_trace": decoded.stack_trace,
        "retry_count": decoded.retry_count,
        "failed_at": decoded.failed_at,
        "decode_error": "\n".join(decoded.errors),
        "fingerprint": digest,
        "fingerprint_text": masked,
        "event_id": business.event_id,
        "event_type": business.event_type,
        "account_id": business.account_id,
        "correlation_id": business.correlation_id,
        "saga_id": business.saga_id,
        "amount": business.amount,
        "currency": business.currency,
        "status": Status.NEW.value,
        "assignee_id": None,
        "notes": "",
        "drained_at": drained_at,
        "replay_id": None,
        "returned_replay_id": decoded.replay_id,
        "failed_again": False,
    }
    return tuple(values[column] for column in COLUMNS)


def build_row(record: kafka_client.Record, drained_at: datetime) -> DeadLetterRecord:
    return DeadLetterRecord(**dict(zip(COLUMNS, row_values(record, drained_at), strict=True)))


# --- one batch -------------------------------------------------------------------------------

_POSITION = (COLUMNS.index("dlq_topic"), COLUMNS.index("partition"), COLUMNS.index("offset"))
_HEADERS = COLUMNS.index("headers")
_REPLAY = COLUMNS.index("returned_replay_id")
_DECODE_ERROR = COLUMNS.index("decode_error")


def _stored_count(rows: list[tuple]) -> int:
    """Rows of this batch already in the table (one range query per partition, on the unique index)."""
    spans: dict[tuple[str, int], tuple[int, int]] = {}
    topic_at, partition_at, offset_at = _POSITION
    for row in rows:
        key, offset = (row[topic_at], row[partition_at]), row[offset_at]
        low, high = spans.get(key, (offset, offset))
        spans[key] = (min(low, offset), max(high, offset))
    return sum(
        DeadLetterRecord.objects.filter(dlq_topic=topic, partition=partition, offset__range=span).count()
        for (topic, partition), span in spans.items()
    )


def _mark_failed_again(rows: list[tuple]) -> None:
    """A republished record came back: flag the row it was republished from."""
    replay_ids = {row[_REPLAY] for row in rows if row[_REPLAY] is not None}
    if replay_ids:
        DeadLetterRecord.objects.filter(replay_id__in=replay_ids).update(failed_again=True)


def _copy_insert(connection, rows: list[tuple]) -> int:
    """PostgreSQL: COPY into a temporary table, then one INSERT ... ON CONFLICT DO NOTHING.

    COPY is the fastest way in but cannot skip duplicates; the INSERT from the temporary
    table can, and its row count is the number of new rows.
    """
    table = connection.ops.quote_name(DeadLetterRecord._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(DeadLetterRecord._meta.get_field(c).column) for c in COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE deadletter_incoming ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY deadletter_incoming ({columns}) FROM STDIN") as copy:
            for row in rows:
                row = list(row)
                row[_HEADERS] = json.dumps(row[_HEADERS])
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM deadletter_incoming "
            'ON CONFLICT (dlq_topic, partition, "offset") DO NOTHING'
        )
        return cursor.rowcount


def insert_rows(rows: list[tuple]) -> int:
    """The one place rows are written: insert-or-ignore on the unique position; returns new rows."""
    connection = connections[router.db_for_write(DeadLetterRecord)]
    if connection.vendor == "postgresql":
        return _copy_insert(connection, rows)
    already = _stored_count(rows)
    instances = [DeadLetterRecord(**dict(zip(COLUMNS, row, strict=True))) for row in rows]
    DeadLetterRecord.objects.bulk_create(instances, batch_size=500, ignore_conflicts=True)
    return len(rows) - already


def store_batch(records: list[kafka_client.Record], result: DrainResult) -> None:
    """Insert a batch in one transaction; returns only once the database has committed it."""
    drained_at = timezone.now()
    rows = [row_values(record, drained_at) for record in records]
    with transaction.atomic(using=router.db_for_write(DeadLetterRecord)):
        inserted = insert_rows(rows)
        _mark_failed_again(rows)
    result.inserted += inserted
    result.already_stored += len(rows) - inserted
    result.decode_errors += sum(1 for row in rows if row[_DECODE_ERROR])


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


def _caught_up(positions: dict[kafka_client.Position, int], cluster) -> bool:
    """Every partition read up to its end offset, as the broker reports it now."""
    ends, failures = kafka_client.list_offsets(positions, "latest", cluster)
    return not failures and all(positions[p] >= ends.get(p, 0) for p in positions)


def _resolve_beginnings(start: dict[kafka_client.Position, int], cluster) -> dict[kafka_client.Position, int]:
    """The real offset behind OFFSET_BEGINNING, to know when the drain has caught up."""
    unknown = [p for p, offset in start.items() if offset == kafka_client.OFFSET_BEGINNING]
    earliest, failures = kafka_client.list_offsets(unknown, "earliest", cluster) if unknown else ({}, {})
    if failures:
        raise next(iter(failures.values()))
    return start | earliest


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
    positions = _retrying(lambda: _resolve_beginnings(start, cluster))
    # A bounded prefetch queue keeps memory flat whatever the backlog.
    consumer = kafka_client.consumer(group_id, cluster, **{"queued.max.messages.kbytes": 32768})
    try:
        kafka_client.assign(consumer, start)
        empty_polls = 0
        while not stop.is_set():
            limit = _batch_limit(batch_size, max_records, result)
            if limit <= 0:
                break
            records = kafka_client.poll_records(consumer, limit, timeout)
            if records:
                empty_polls = 0
                _drain_batch(consumer, records, result, cluster)
                positions.update(_next_positions(records))
                if on_batch is not None:
                    on_batch(result)
            elif until_empty:
                # An empty poll alone can mean "fetch not started yet": ask the broker for the
                # end. Several empty polls also end it (transaction markers sit past the last record).
                empty_polls += 1
                if empty_polls >= EMPTY_POLLS_TO_STOP or _caught_up(positions, cluster):
                    break
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
