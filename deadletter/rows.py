"""One Kafka record -> one DeadLetterRecord row, and a polled batch -> rows with its offset spans.

A row is a tuple in COLUMNS order, not a model instance: this runs for every record
drained, and the storing side sends tuples as they are.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from deadletter import decoders, header_codec
from deadletter.models import DeadLetterRecord
from opsportal import kafka

Row = tuple[Any, ...]
Span = tuple[int, int]  # lowest and highest offset of a batch in one partition

# Every column the drain writes, in the order row_of returns them (id is the database's).
COLUMNS = (
    *("dlq_topic", "partition", "offset", "timestamp", "key", "value", "key_size", "value_size", "key_text"),
    *("headers", "convention", "original_topic", "original_partition", "original_offset", "original_timestamp_ms"),
    *("consumer_group", "error_type", "error_message", "stack_trace", "retry_count", "failed_at", "decode_error"),
    *("fingerprint", "fingerprint_text", "event_id", "event_type", "account_id", "correlation_id", "saga_id"),
    *(
        "transaction_id",
        "amount",
        "currency",
        "assignee_id",
        "notes",
        "drained_at",
        "returned_replay_id",
        "failed_again",
    ),
)
_MODEL_COLUMNS = tuple(field.attname for field in DeadLetterRecord._meta.concrete_fields if field.name != "id")
if COLUMNS != _MODEL_COLUMNS:  # a model change must change row_of too: fail at import, not with shifted data
    raise RuntimeError(f"deadletter.rows.COLUMNS is out of date with the model: {_MODEL_COLUMNS}")

HEADERS = COLUMNS.index("headers")
REPLAY = COLUMNS.index("returned_replay_id")
DECODE_ERROR = COLUMNS.index("decode_error")
_POSITION = (COLUMNS.index("dlq_topic"), COLUMNS.index("partition"), COLUMNS.index("offset"))


def kafka_time(timestamp_ms: int | None) -> datetime | None:
    """A record's timestamp as an aware datetime; None when Kafka has none or it is out of range."""
    if timestamp_ms is None or timestamp_ms < 0:
        return None
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


@functools.lru_cache(maxsize=1024)  # one entry per distinct list of header names, as decoders._plan
def stored_names(names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The header names as they can be stored (PostgreSQL JSON cannot hold NUL), and a note per name changed."""
    if not any("\x00" in name for name in names):
        return names, ()
    cleaned = tuple(decoders.clean_text(name) for name in names)
    notes = tuple(
        f"header name {new!r} held NUL characters (replaced)"
        for old, new in zip(names, cleaned, strict=True)
        if old != new
    )
    return cleaned, notes


def row_of(
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    key: bytes | None,
    value: bytes | None,
    headers: kafka.Headers,
    drained_at: datetime,
) -> Row:
    """Decode one record into COLUMNS order; whatever the bytes, the database accepts the row.

    The headers column is JSON text, as COPY sends it (json.loads it for a model instance).
    """
    names = tuple([name for name, _ in headers])
    decoded = decoders.decode_headers(headers, names)
    business = decoders.read_business(value)
    written, notes = stored_names(names)
    decoded.errors.extend(notes)
    headers_json = header_codec.encode_json(headers, written)
    digest, masked = decoders.fingerprint(decoded.error_type, decoded.error_message)
    key_text = "" if key is None else decoders.clean_text(key[:255].decode("utf-8", "replace"))
    return (
        *(topic, partition, offset, kafka_time(timestamp_ms), key, value),
        *(None if key is None else len(key), None if value is None else len(value), key_text, headers_json),
        *(decoded.convention, decoded.original_topic[:249], decoded.original_partition, decoded.original_offset),
        *(decoded.original_timestamp_ms, decoded.consumer_group[:255], decoded.error_type[:255]),
        *(decoded.error_message, decoded.stack_trace, decoded.retry_count, decoded.failed_at),
        *("\n".join(decoded.errors), digest, masked, business.event_id, business.event_type, business.account_id),
        *(business.correlation_id, business.saga_id, business.transaction_id, business.amount, business.currency),
        *(None, "", drained_at, decoded.replay_id, False),
    )


def row_values(record: kafka.Record, drained_at: datetime) -> Row:
    r = record
    return row_of(r.topic, r.partition, r.offset, r.timestamp_ms, r.key, r.value, r.headers, drained_at)


def as_instance(row: Row) -> DeadLetterRecord:
    values = dict(zip(COLUMNS, row, strict=True))
    values["headers"] = json.loads(row[HEADERS])
    return DeadLetterRecord(**values)


def build_row(record: kafka.Record, drained_at: datetime) -> DeadLetterRecord:
    """One record as an unsaved model instance, exactly as the drain would store it."""
    return as_instance(row_values(record, drained_at))


@dataclass
class Batch:
    rows: list[Row]
    spans: dict[kafka.Position, Span]

    def positions(self) -> dict[kafka.Position, int]:
        """The next offset to read per partition: committed to Kafka after the rows."""
        return {position: high + 1 for position, (_, high) in self.spans.items()}


def decode_batch(records: list[kafka.Record]) -> Batch:
    drained_at = timezone.now()
    rows = [row_of(*record, drained_at) for record in records]
    return Batch(rows, spans_of(rows))


def spans_of(rows: list[Row]) -> dict[kafka.Position, Span]:
    spans: dict[kafka.Position, Span] = {}
    topic_at, partition_at, offset_at = _POSITION
    for row in rows:
        key, offset = (row[topic_at], row[partition_at]), row[offset_at]
        low, high = spans.get(key, (offset, offset))
        spans[key] = (min(low, offset), max(high, offset))
    return spans
