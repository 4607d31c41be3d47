"""Move dead-letter records from Kafka into DeadLetterRecord rows, each exactly once.

The order of a batch is the whole guarantee: consume, insert with ON CONFLICT DO NOTHING on
(topic, partition, offset), commit the database, and only then commit the Kafka offsets
synchronously. A crash before the database commit re-reads the batch; a crash between the
two commits re-reads rows that already exist and the unique constraint drops them. Nothing
is lost, nothing is stored twice.

This module is the loop; rows.py builds the rows, store.py stores them, reader.py is the
thread that reads batch N+1 while this one stores batch N (the offsets of N are still
committed only after N's database commit; a batch read ahead but never stored is simply
read again by the next run).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings

from deadletter.reader import Reader
from deadletter.rows import DECODE_ERROR, Batch
from deadletter.store import StoredHighs, store_batch
from opsportal import cyclic_gc, kafka

log = logging.getLogger(__name__)
T = TypeVar("T")


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


def _resolve_beginnings(
    start: dict[kafka.Position, int], cluster: kafka.ClusterSettings | None
) -> dict[kafka.Position, int]:
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


def _start_positions(topic: str, group_id: str, cluster: kafka.ClusterSettings | None) -> dict[kafka.Position, int]:
    """Every partition of the topic, from the group's committed offset or the beginning.

    Assigned rather than subscribed: a group rebalance would wait out the session of a
    killed drain before handing out partitions, and an empty poll during that wait
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
    chosen_topic: str = topic or settings.DEAD_LETTER_TOPIC
    chosen_group: str = group_id or settings.DEAD_LETTER_DRAIN_GROUP_ID
    stop = stop or threading.Event()
    result = DrainResult()
    start = _retrying(lambda: _start_positions(chosen_topic, chosen_group, cluster))
    positions = _retrying(lambda: _resolve_beginnings(start, cluster))
    # A bounded prefetch queue keeps memory flat whatever the backlog.
    consumer = kafka.consumer(chosen_group, cluster, **{"queued.max.messages.kbytes": 32768})
    try:
        kafka.assign(consumer, start)
        reader = Reader(
            consumer,
            positions,
            batch_size=batch_size or settings.DEAD_LETTER_DRAIN_BATCH_SIZE,
            max_records=max_records,
            until_empty=until_empty,
            timeout=timeout,
            cluster=cluster,
        )
        highs = StoredHighs()
        # Millions of short-lived rows: full collections must not walk Django's own objects too.
        with cyclic_gc.older_objects_frozen(), reader:
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


def _drain_batch(reader: Reader, batch: Batch, result: DrainResult, highs: StoredHighs) -> None:
    result.consumed += len(batch.rows)
    inserted = store_batch(batch, highs)
    result.inserted += inserted
    result.already_stored += len(batch.rows) - inserted
    result.decode_errors += sum(1 for row in batch.rows if row[DECODE_ERROR])
    # Only after the database commit: the reader commits these offsets from now on, and the
    # drain commits them itself before it returns. A crash before that re-reads rows that exist.
    reader.stored(batch)
    result.batches += 1
