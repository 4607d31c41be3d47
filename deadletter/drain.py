"""Move dead-letter records from Kafka into DeadLetterRecord rows, each exactly once.

The order of a batch is the whole guarantee: consume, insert with ON CONFLICT DO NOTHING on
(topic, partition, offset), commit the database, and only then commit the Kafka offsets
synchronously. A crash before the database commit re-reads the batch; a crash between the
two commits re-reads rows that already exist and the unique constraint drops them. Nothing
is lost, nothing is stored twice.

For speed, a reader thread polls and decodes batch N+1 while this thread writes batch N;
the offsets of N are still committed only after N's database commit, and a batch read
ahead but never written is simply read again by the next run.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import queue
import threading
import time
from binascii import b2a_base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Max, Q
from django.utils import timezone

from deadletter import decoders
from deadletter.models import DeadLetterRecord, Review, Status
from opsportal import kafka
from topics.spec import DEAD_LETTER_TOPIC

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_GROUP_ID = "opsportal-deadletter-drain"
# Big enough to amortise the commits, small enough that memory stays flat (~1 KiB records).
DEFAULT_BATCH_SIZE = 5000
# A batch also ends at this many bytes of keys and values, so 1 MiB records keep memory flat too.
MAX_BATCH_BYTES = 32 * 1024 * 1024
EMPTY_POLLS_TO_STOP = 3
POLL_CHUNK = 1000  # records per consume() call: the byte limit above is checked between calls
POLL_SLICE = 0.25  # seconds one consume() may wait: stored batches' offsets are committed in between


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


@functools.lru_cache(maxsize=1024)  # one entry per distinct list of header names, as decoders._plan
def _header_openings(names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Each header's JSON opening '["name",', and a note for each name that held NUL."""
    openings, notes = [], []
    for name in names:
        if "\x00" in name:
            name = decoders.clean_text(name)
            notes.append(f"header name {name!r} held NUL characters (replaced)")
        openings.append(f"[{json.dumps(name)},")
    return tuple(openings), tuple(notes)


def _headers_json(headers: kafka.Headers, names: tuple[str, ...], errors: list[str]) -> str:
    """[[name, base64 value or null], ...] as JSON text, written directly (the column's format)."""
    openings, notes = _header_openings(names)
    errors.extend(notes)
    parts = [
        f'{opening}"{b2a_base64(value, newline=False).decode("ascii")}"]' if value is not None else f"{opening}null]"
        for opening, (_, value) in zip(openings, headers, strict=True)
    ]
    return f"[{','.join(parts)}]"


# Every column the drain writes, in the order _row returns them (id is the database's).
COLUMNS = (
    *("dlq_topic", "partition", "offset", "timestamp", "key", "value", "key_size", "value_size", "key_text"),
    *("headers", "convention", "original_topic", "original_partition", "original_offset", "original_timestamp_ms"),
    *("consumer_group", "error_type", "error_message", "stack_trace", "retry_count", "failed_at", "decode_error"),
    *("fingerprint", "fingerprint_text", "event_id", "event_type", "account_id", "correlation_id", "saga_id"),
    *("amount", "currency", "assignee_id", "notes", "drained_at", "returned_replay_id", "failed_again"),
)
_MODEL_COLUMNS = tuple(field.attname for field in DeadLetterRecord._meta.concrete_fields if field.name != "id")
if COLUMNS != _MODEL_COLUMNS:  # a model change must change _row too: fail at import, not with shifted data
    raise RuntimeError(f"deadletter.drain.COLUMNS is out of date with the model: {_MODEL_COLUMNS}")


def _row(topic, partition, offset, timestamp_ms, key, value, headers, drained_at: datetime) -> tuple:
    """Decode one record into COLUMNS order; whatever the bytes, the database accepts the row.

    A tuple built in place, not a dict or a model instance: this runs for every record. The
    headers column is JSON text, as COPY sends it (json.loads it for a model instance).
    """
    names = tuple([name for name, _ in headers])
    decoded = decoders.decode_headers(headers, names)
    business = decoders.read_business(value)
    headers_json = _headers_json(headers, names, decoded.errors)
    digest, masked = decoders.fingerprint(decoded.error_type, decoded.error_message)
    key_text = "" if key is None else decoders.clean_text(key[:255].decode("utf-8", "replace"))
    return (
        *(topic, partition, offset, _kafka_time(timestamp_ms), key, value),
        *(None if key is None else len(key), None if value is None else len(value), key_text, headers_json),
        *(decoded.convention, decoded.original_topic[:249], decoded.original_partition, decoded.original_offset),
        *(decoded.original_timestamp_ms, decoded.consumer_group[:255], decoded.error_type[:255]),
        *(decoded.error_message, decoded.stack_trace, decoded.retry_count, decoded.failed_at),
        *("\n".join(decoded.errors), digest, masked, business.event_id, business.event_type, business.account_id),
        *(business.correlation_id, business.saga_id, business.amount, business.currency),
        *(None, "", drained_at, decoded.replay_id, False),
    )


def row_values(record: kafka.Record, drained_at: datetime) -> tuple:
    r = record
    return _row(r.topic, r.partition, r.offset, r.timestamp_ms, r.key, r.value, r.headers, drained_at)


_HEADERS = COLUMNS.index("headers")


def as_instance(row: tuple) -> DeadLetterRecord:
    values = dict(zip(COLUMNS, row, strict=True))
    values["headers"] = json.loads(row[_HEADERS])
    return DeadLetterRecord(**values)


def build_row(record: kafka.Record, drained_at: datetime) -> DeadLetterRecord:
    return as_instance(row_values(record, drained_at))


# --- one batch -------------------------------------------------------------------------------

_POSITION = (COLUMNS.index("dlq_topic"), COLUMNS.index("partition"), COLUMNS.index("offset"))
_REPLAY = COLUMNS.index("returned_replay_id")
_DECODE_ERROR = COLUMNS.index("decode_error")


Span = tuple[int, int]  # lowest and highest offset of a batch in one partition


@dataclass
class Batch:
    rows: list[tuple]
    spans: dict[kafka.Position, Span]

    def positions(self) -> dict[kafka.Position, int]:
        """The next offset to read per partition: committed to Kafka after the rows."""
        return {position: high + 1 for position, (_, high) in self.spans.items()}


def decode_batch(records: list[kafka.Record]) -> Batch:
    drained_at = timezone.now()
    rows = [_row(*record, drained_at) for record in records]
    return Batch(rows, _spans(rows))


def _spans(rows: list[tuple]) -> dict[kafka.Position, Span]:
    spans: dict[kafka.Position, Span] = {}
    topic_at, partition_at, offset_at = _POSITION
    for row in rows:
        key, offset = (row[topic_at], row[partition_at]), row[offset_at]
        low, high = spans.get(key, (offset, offset))
        spans[key] = (min(low, offset), max(high, offset))
    return spans


def _stored(spans: dict[kafka.Position, Span]) -> Q:
    query = Q()
    for (topic, partition), span in spans.items():
        query |= Q(dlq_topic=topic, partition=partition, offset__range=span)
    return query


def _mark_failed_again(rows: list[tuple]) -> None:
    """A republished record came back: flag the row it was republished from."""
    replay_ids = {row[_REPLAY] for row in rows if row[_REPLAY] is not None}
    if replay_ids:
        DeadLetterRecord.objects.filter(replays__replay_id__in=replay_ids).update(failed_again=True)


@functools.lru_cache(maxsize=8)
def _column_types(alias: str) -> tuple[list[str], list[int]]:
    """Quoted column names and PostgreSQL type oids in COLUMNS order, for a binary COPY."""
    connection = connections[alias]
    columns = [DeadLetterRecord._meta.get_field(c).column for c in COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
            [DeadLetterRecord._meta.db_table],
        )
        oids = dict(cursor.fetchall())
    return [connection.ops.quote_name(c) for c in columns], [oids[c] for c in columns]


def copy_rows(connection, table: str, rows: list[tuple]) -> None:
    """COPY rows into `table` in PostgreSQL's binary format: the fastest way in, no text parsing.

    Binary jsonb would JSON-encode a str again; the headers are JSON text already, so the
    cursor's jsonb dumper passes them through.
    """
    from psycopg.types.json import set_json_dumps  # PostgreSQL only

    names, oids = _column_types(connection.alias)
    with connection.cursor() as cursor, connection.wrap_database_errors:
        set_json_dumps(_as_is, context=cursor.cursor)
        with cursor.cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(oids)
            write = copy.write_row
            for row in rows:
                write(row)


def _as_is(text: str) -> str:
    return text


def _copy_insert(connection, rows: list[tuple]) -> int:
    """COPY into a temporary table, then one INSERT ... ON CONFLICT DO NOTHING (with a Review
    for each new row).

    COPY cannot skip duplicates; the INSERT from the temporary table can, and its row count
    is the number of new rows. About twice the cost of a COPY into the table.
    """
    table = connection.ops.quote_name(DeadLetterRecord._meta.db_table)
    columns = ", ".join(_column_types(connection.alias)[0])
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE deadletter_incoming ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA"
        )
        copy_rows(connection, "deadletter_incoming", rows)
        cursor.execute(
            f"WITH new AS (INSERT INTO {table} ({columns}) SELECT {columns} FROM deadletter_incoming "
            'ON CONFLICT (dlq_topic, partition, "offset") DO NOTHING RETURNING id, timestamp) '
            f"{_INSERT_REVIEWS} SELECT id, %s, timestamp FROM new",
            [Status.NEW.value],
        )
        return cursor.rowcount


_INSERT_REVIEWS = f"INSERT INTO {Review._meta.db_table} (record_id, status, timestamp)"


def insert_rows(rows: list[tuple], straight: bool = False) -> int:
    """The one place rows are written, each with its Review; returns the number of new rows.

    straight: COPY into the table itself, which raises IntegrityError if any position is
    already stored (the transaction is then lost); otherwise insert-or-ignore on the unique
    position (on PostgreSQL a temporary table and ON CONFLICT DO NOTHING, about twice the cost).
    """
    connection = connections[router.db_for_write(DeadLetterRecord)]
    if connection.vendor == "postgresql":
        if not straight:
            return _copy_insert(connection, rows)
        copy_rows(connection, connection.ops.quote_name(DeadLetterRecord._meta.db_table), rows)
        # The rows a straight COPY just wrote, found by their unique position.
        Review.create_missing(DeadLetterRecord.objects.using(connection.alias).filter(_stored(_spans(rows))))
        return len(rows)
    already = DeadLetterRecord.objects.filter(_stored(_spans(rows))).count()
    instances = [as_instance(row) for row in rows]
    DeadLetterRecord.objects.bulk_create(instances, batch_size=500, ignore_conflicts=True)  # with their Reviews
    return len(rows) - already


class StoredHighs:
    """The highest stored offset per partition as this run knows it, so that a batch above
    it goes in by a straight COPY without asking the database first.

    Only a guess: another writer may have stored rows since. Then the COPY meets the unique
    constraint and the batch is written again with ON CONFLICT DO NOTHING. The constraint,
    never this guess, is what keeps every position stored once.
    """

    def __init__(self) -> None:
        self.highs: dict[kafka.Position, int] = {}

    def all_above(self, spans: dict[kafka.Position, Span]) -> bool:
        for position, (low, _) in spans.items():
            if position not in self.highs:
                self.highs[position] = self._stored_high(position)
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
    def _stored_high(position: kafka.Position) -> int:
        topic, partition = position
        stored = DeadLetterRecord.objects.filter(dlq_topic=topic, partition=partition).aggregate(high=Max("offset"))
        return -1 if stored["high"] is None else stored["high"]


def store_batch(batch: Batch, result: DrainResult, highs: StoredHighs) -> None:
    """Insert a batch in one transaction; returns only once the database has committed it.

    A batch above every stored offset (the usual case) is COPYed straight in: three round
    trips (BEGIN, COPY, COMMIT). Otherwise, or when that meets stored rows, insert-or-ignore.
    """
    alias = router.db_for_write(DeadLetterRecord)
    inserted = None
    if highs.all_above(batch.spans):
        try:
            with transaction.atomic(using=alias):
                inserted = insert_rows(batch.rows, straight=True)
                _mark_failed_again(batch.rows)
        except IntegrityError:
            log.info("dead-letter drain: some positions were stored meanwhile; inserting with ON CONFLICT")
            highs.forget(batch.spans)
            inserted = None
    if inserted is None:
        with transaction.atomic(using=alias):
            inserted = insert_rows(batch.rows)
            _mark_failed_again(batch.rows)
    highs.stored(batch.spans)
    result.inserted += inserted
    result.already_stored += len(batch.rows) - inserted
    result.decode_errors += sum(1 for row in batch.rows if row[_DECODE_ERROR])


# --- the loop --------------------------------------------------------------------------------


def _caught_up(positions: dict[kafka.Position, int], cluster) -> bool:
    """Every partition read up to its end offset, as the broker reports it now."""
    ends, failures = kafka.list_offsets(positions, "latest", cluster)
    return not failures and all(positions[p] >= ends.get(p, 0) for p in positions)


def _resolve_beginnings(start: dict[kafka.Position, int], cluster) -> dict[kafka.Position, int]:
    """The real offset behind OFFSET_BEGINNING, to know when the drain has caught up."""
    unknown = [p for p, offset in start.items() if offset == kafka.OFFSET_BEGINNING]
    earliest, failures = kafka.list_offsets(unknown, "earliest", cluster) if unknown else ({}, {})
    if failures:
        raise next(iter(failures.values()))
    return start | earliest


def _retrying(call: Callable[[], T], attempts: int = 10, pause: float = 1.0) -> T:
    """Ride out a restarting broker (e.g. COORDINATOR_LOAD_IN_PROGRESS); anything else raises at once."""
    for attempt in range(attempts):
        try:
            return call()
        except kafka.KafkaClientError as exc:
            if not exc.retriable or attempt == attempts - 1:
                raise
            log.warning("dead-letter drain: %s; retrying", exc)
            time.sleep(pause)
    raise AssertionError("unreachable")


def _start_positions(topic: str, group_id: str, cluster) -> dict[kafka.Position, int]:
    """Every partition of the topic, from the group's committed offset or the beginning.

    Assigned rather than subscribed: a group rebalance would wait out the session of a
    killed drain (45 s) before handing out partitions, and an empty poll during that wait
    would look like a drained topic.
    """
    topics = kafka.list_topics(cluster)
    if topic not in topics:
        raise kafka.KafkaClientError(f"the dead-letter topic {topic} does not exist")
    committed, failures = kafka.committed_offsets([group_id], cluster)
    if group_id in failures:
        raise failures[group_id]
    mine = committed.get(group_id, {})
    return {
        (topic, partition.number): mine.get((topic, partition.number), kafka.OFFSET_BEGINNING)
        for partition in topics[topic].partitions
    }


_END = object()  # the reader has nothing more to hand over


class _Reader:
    """Polls and decodes the next batch in its own thread while the caller's thread writes the
    current one, and commits the offsets of each batch once the caller reports its rows
    committed in the database: the decoding and the Kafka round trips overlap PostgreSQL's work.

    The consumer is used by this thread alone while it runs (created, assigned and closed by
    the caller's thread before and after). The queue holds one decoded batch: with the one
    being written and the one being read, memory stays at about three batches.
    """

    def __init__(self, consumer, positions, *, batch_size, max_records, until_empty, timeout, cluster) -> None:
        self.consumer, self.positions, self.cluster = consumer, dict(positions), cluster
        self.batch_size, self.max_records = batch_size, max_records
        self.until_empty, self.timeout = until_empty, timeout
        self.batches: queue.Queue = queue.Queue(maxsize=1)
        self.stored_positions: queue.SimpleQueue = queue.SimpleQueue()  # batches the database committed
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, name="deadletter-drain-reader", daemon=True)
        self.ends: dict[kafka.Position, int] = {}  # end offsets last seen, for until_empty

    def __enter__(self) -> _Reader:
        self.thread.start()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.halt.set()
        self.thread.join()
        # The reader thread is gone: commit what the database stored since its last commit.
        try:
            self._commit_stored()
        except kafka.KafkaClientError:
            if exc is None:
                raise
            log.exception("dead-letter drain: committing the offsets of stored batches failed")

    def next_batch(self, stop: threading.Event) -> Batch | None:
        """The next decoded batch, in order; None when the reader is done or a stop was requested."""
        while True:
            try:
                item = self.batches.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    return None
                continue
            if isinstance(item, BaseException):
                raise item
            return None if item is _END else item

    def stored(self, batch: Batch) -> None:
        """The batch's rows are committed in the database: its offsets may be committed now."""
        self.stored_positions.put(batch.positions())

    # --- the reader thread ---

    def _run(self) -> None:
        try:
            self._read()
            item = _END
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread, in batch order
            item = exc
        self._hand_over(item)

    def _commit_stored(self) -> None:
        """One synchronous commit of the newest offsets the database has committed rows for."""
        newest: dict[kafka.Position, int] = {}
        while True:
            try:
                newest.update(self.stored_positions.get_nowait())
            except queue.Empty:
                break
        if newest:
            kafka.commit_positions(self.consumer, newest, self.cluster)

    def _read(self) -> None:
        read, empty_polls = 0, 0
        if self.until_empty:
            self._refresh_ends()
        while not self.halt.is_set():
            limit = self.batch_size if self.max_records is None else min(self.batch_size, self.max_records - read)
            if limit <= 0:
                return
            records = self._poll(limit)
            if records:
                empty_polls = 0
                read += len(records)
                batch = decode_batch(records)
                self.positions.update(batch.positions())
                if not self._hand_over(batch):
                    return
                if self.until_empty and self._at_ends(self.positions) and self._refresh_ends():
                    return  # drained: no need to wait out an empty poll
            elif self.until_empty:
                # An empty poll alone can mean "fetch not started yet": ask the broker for the
                # end. Several empty polls also end it (transaction markers sit past the last record).
                empty_polls += 1
                if empty_polls >= EMPTY_POLLS_TO_STOP or _caught_up(self.positions, self.cluster):
                    return

    def _poll(self, limit: int) -> list[kafka.Record]:
        """Up to `limit` records or MAX_BATCH_BYTES, waiting at most `timeout` for them."""
        records: list[kafka.Record] = []
        size = 0
        deadline = time.monotonic() + self.timeout
        while len(records) < limit and size < MAX_BATCH_BYTES and not self.halt.is_set():
            self._commit_stored()
            left = deadline - time.monotonic()
            if left <= 0:
                break
            wanted = min(limit - len(records), POLL_CHUNK)
            polled = kafka.poll(self.consumer, wanted, min(left, POLL_SLICE), self.cluster)
            records += polled
            size += sum(len(r[5] or b"") + len(r[4] or b"") for r in polled)
            if len(polled) < wanted and self.until_empty and records and self._at_ends(self._after(records)):
                break  # the last records of the topic: hand them over now
        return records

    def _after(self, records: list[kafka.Record]) -> dict[kafka.Position, int]:
        positions = dict(self.positions)
        for topic, partition, offset, *_ in records:
            positions[(topic, partition)] = max(positions.get((topic, partition), 0), offset + 1)
        return positions

    def _at_ends(self, positions: dict[kafka.Position, int]) -> bool:
        return bool(self.ends) and all(positions.get(p, 0) >= end for p, end in self.ends.items())

    def _refresh_ends(self) -> bool:
        """Ask the broker for the end offsets again; True if the drain has reached them."""
        ends, failures = kafka.list_offsets(self.positions, "latest", self.cluster)
        self.ends = {} if failures else ends
        return self._at_ends(self.positions)

    def _hand_over(self, item: object) -> bool:
        while not self.halt.is_set():
            self._commit_stored()  # while the caller writes the batch before this one
            try:
                self.batches.put(item, timeout=0.02)
                return True
            except queue.Full:
                continue
        return False


def drain_dead_letter(
    max_records: int | None = None,
    until_empty: bool = False,
    timeout: float = 2.0,
    topic: str | None = None,
    group_id: str | None = None,
    *,
    batch_size: int | None = None,
    stop: threading.Event | None = None,
    cluster: kafka.ClusterSettings | None = None,
    on_batch: Callable[[DrainResult], None] | None = None,
) -> DrainResult:
    """Drain the dead-letter topic into the database.

    Stops after max_records records, when the topic is drained (until_empty: a poll of
    `timeout` seconds found nothing, or the end offsets are reached), or when `stop` is set
    (after the batch being written); otherwise runs on. The client is created here, inside
    the calling process, never at import (fork safety). Partitions are assigned, not shared
    through a group: two drains at once both read everything (still stored once, but wasted
    work), so the scheduled task takes a lock.
    """
    topic = topic or getattr(settings, "DEAD_LETTER_TOPIC", DEAD_LETTER_TOPIC)
    group_id = group_id or getattr(settings, "DEAD_LETTER_DRAIN_GROUP_ID", DEFAULT_GROUP_ID)
    batch_size = batch_size or getattr(settings, "DEAD_LETTER_DRAIN_BATCH_SIZE", DEFAULT_BATCH_SIZE)
    stop = stop or threading.Event()
    result = DrainResult()
    start = _retrying(lambda: _start_positions(topic, group_id, cluster))
    positions = _retrying(lambda: _resolve_beginnings(start, cluster))
    # A bounded prefetch queue keeps memory flat whatever the backlog.
    consumer = kafka.consumer(group_id, cluster, **{"queued.max.messages.kbytes": 32768})
    try:
        kafka.assign(consumer, start)
        reader = _Reader(
            consumer,
            positions,
            batch_size=batch_size,
            max_records=max_records,
            until_empty=until_empty,
            timeout=timeout,
            cluster=cluster,
        )
        highs = StoredHighs()
        with _startup_objects_frozen(), reader:
            while not stop.is_set():
                batch = reader.next_batch(stop)
                if batch is None:
                    break
                _drain_batch(reader, batch, result, highs)
                if on_batch is not None:
                    on_batch(result)
        result.stopped = stop.is_set()
    finally:
        consumer.close()
    return result


@contextmanager
def _startup_objects_frozen() -> Iterator[None]:
    """The drain makes millions of short-lived objects, and every full collection would also
    walk each object the process already holds (Django, settings, code): 1 s in 10 of a
    large drain. Those are set aside until the drain ends, after a collection so that no
    garbage is set aside with them."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _drain_batch(reader: _Reader, batch: Batch, result: DrainResult, highs: StoredHighs) -> None:
    result.consumed += len(batch.rows)
    store_batch(batch, result, highs)
    # Only after the database commit: the reader commits these offsets from now on, and the
    # drain commits them itself before it returns. A crash before that re-reads rows that exist.
    reader.stored(batch)
    result.batches += 1


def database_alias() -> str:
    return router.db_for_write(DeadLetterRecord)


def database_vendor() -> str:
    return connections[database_alias()].vendor
