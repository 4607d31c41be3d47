"""Reading windows of records, and the offsets that bound them, for the message browser and search.

Only `assign` + seek: the browsing consumer never subscribes, so it never joins its group,
and nothing here commits, so the group never exists on the brokers. It never creates a topic
it is asked about (`allow.auto.create.topics=false`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import confluent_kafka

from opsportal.kafka.clients import ClusterSettings, Consumer, cluster_settings, consumer
from opsportal.kafka.cluster import Position
from opsportal.kafka.consume import Record
from opsportal.kafka.errors import KafkaClientError, translate_error, translated

# librdkafka needs a group id even for a consumer that only assigns; this one is never joined or committed.
BROWSE_GROUP_ID = "opsportal-browse-never-committed"
Window = tuple[int, int]  # [start, stop) offsets
MAX_BATCH = 5000  # messages per consume(): fewer calls into librdkafka, a bounded list in memory
WAIT_SLICE = 0.1  # seconds one consume() may wait: only a window with gaps ever waits that long


@dataclass
class WindowRead:
    """What one read got: the records of each partition in offset order, and which windows were read to the end."""

    records: dict[Position, list[Record]]
    complete: set[Position]
    failures: dict[Position, KafkaClientError] = field(default_factory=dict)

    def incomplete(self) -> list[Position]:
        return sorted(position for position in self.records if position not in self.complete)


def browse_consumer(cluster: ClusterSettings | None = None) -> Consumer:
    """A consumer for `read_windows` and `topic_partitions` only; close it after use."""
    return consumer(
        BROWSE_GROUP_ID,
        cluster,
        **{
            "allow.auto.create.topics": False,
            "enable.auto.offset.store": False,
            # An end-of-partition event tells a window ending in a gap (compaction, aborted
            # transactions) from a broker that has not answered yet.
            "enable.partition.eof": True,
            # A page reads 50 records: no need for librdkafka's 64 MiB of prefetch per consumer.
            "queued.max.messages.kbytes": 16384,
            # A kept consumer's next request queues behind the fetch still waiting at the broker when its
            # last window was read (a broker answers one request of a connection at a time): with 100 ms,
            # the next page's metadata request waited 75-85 ms. An empty fetch now returns within 10 ms.
            "fetch.wait.max.ms": 10,
            # When that prefetch queue is full (a search's chunk, or the records fetched past a finished
            # window), fetching resumes 10 ms after it drains instead of librdkafka's 1,000 ms.
            "fetch.queue.backoff.ms": 10,
            # A new client spaces its connection attempts by half this (50 ms by default): the first
            # metadata request of about half the pages waited that out. 10 ms gives 11 ms, librdkafka's least.
            "reconnect.backoff.ms": 10,
        },
    )


# Idle browsing consumers a process keeps, and how long one may sit idle. A new consumer costs a page
# more than reading its 50 records: connecting to a broker, then the first metadata request, then its
# close (together 10-40 ms against 2-10 for the read). Brokers drop a connection idle for 10 minutes
# (connections.max.idle.ms); an idle consumer older than this is closed instead of reconnecting.
POOL_SIZE = 4
POOL_IDLE_SECONDS = 240.0


@dataclass
class _Idle:
    cluster: ClusterSettings
    client: Consumer
    since: float


class _BrowsePool:
    """Idle browsing consumers, handed out one request at a time (thread-safe), never across a fork().

    librdkafka's threads do not survive fork(), and a child that frees an inherited client joins
    threads that are not there (it can hang). So the idle ones are closed before any fork, with the
    lock held across it: a child starts with an empty pool and a free lock. (Gunicorn and Celery fork
    their workers from a process that never browses; this covers one that does.)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Idle] = []

    def take(self, cluster: ClusterSettings) -> Consumer | None:
        stale: list[Consumer] = []
        found = None
        with self._lock:
            now = time.monotonic()
            for idle in list(self._idle):
                if now - idle.since > POOL_IDLE_SECONDS:
                    self._idle.remove(idle)
                    stale.append(idle.client)
                elif found is None and idle.cluster == cluster:
                    self._idle.remove(idle)
                    found = idle.client
        for client in stale:
            client.close()
        return found

    def give(self, cluster: ClusterSettings, client: Consumer) -> None:
        with self._lock:
            if len(self._idle) < POOL_SIZE:
                self._idle.append(_Idle(cluster, client, time.monotonic()))
                return
        client.close()

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for entry in idle:
            entry.client.close()

    def before_fork(self) -> None:
        self._lock.acquire()
        idle, self._idle = self._idle, []
        for entry in idle:
            entry.client.close()

    def after_fork_in_parent(self) -> None:
        self._lock.release()

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()


_POOL = _BrowsePool()
os.register_at_fork(
    before=_POOL.before_fork, after_in_parent=_POOL.after_fork_in_parent, after_in_child=_POOL.after_fork_in_child
)


@contextmanager
def browse_session(cluster: ClusterSettings | None = None) -> Iterator[Consumer]:
    """A browsing consumer for one request: an idle one of this process when there is one.

    It goes back to the pool only when the request ended normally with nothing assigned
    (read_windows releases what it assigns); after any exception it is closed, since its state is unknown.
    """
    cluster = cluster_settings(cluster)
    client = _POOL.take(cluster) or browse_consumer(cluster)
    try:
        yield client
    except BaseException:
        client.close()
        raise
    if client.assignment():
        client.close()
    else:
        _POOL.give(cluster, client)


def close_idle_browse_consumers() -> None:
    """Close the pooled browsing consumers (tests that change the cluster under them; a worker's shutdown)."""
    _POOL.clear()


def topic_partitions(consumer_client: Consumer, topic: str, cluster: ClusterSettings | None = None) -> list[int] | None:
    """The topic's partition numbers, or None when the cluster does not know it (it is not created)."""
    cluster = cluster_settings(cluster)
    with translated(f"reading the metadata of topic {topic}", cluster):
        metadata = consumer_client.list_topics(topic=topic, timeout=cluster.request_timeout)
    described = metadata.topics.get(topic)
    if described is None or described.error is not None:
        return None
    return sorted(described.partitions)


# ListOffsets' own timestamps for the ends of a partition (Kafka's protocol): the first offset, and the
# next to be written (for this read_committed consumer, the last stable offset: what it can read).
EARLIEST, LATEST = -2, -1


def partition_offsets(
    consumer_client: Consumer,
    positions: list[Position],
    which: str | int,
    cluster: ClusterSettings | None = None,
) -> tuple[dict[Position, int], dict[Position, KafkaClientError]]:
    """Earliest, latest, or first at or after a timestamp (epoch ms; -1 past the last record), on the browsing
    consumer's own connections: no admin client to build and connect per page.

    Failures are per partition: when the one request fails (a broker down fails it whole), each leader's
    partitions are asked again apart, so only those of a broker that does not answer fail. Only the metadata
    request that groups them by leader raises (then no broker answers at all).
    """
    cluster = cluster_settings(cluster)
    at = EARLIEST if which == "earliest" else LATEST if which == "latest" else int(which)
    if not positions:
        return {}, {}
    try:
        return _offsets_for_times(consumer_client, positions, at, cluster), {}
    except KafkaClientError as exc:
        if len(positions) == 1:
            return {}, {positions[0]: exc}
    offsets: dict[Position, int] = {}
    failures: dict[Position, KafkaClientError] = {}
    for leader, group in _by_leader(consumer_client, positions, cluster).items():
        if leader < 0:
            leaderless = KafkaClientError(f"{_named(group)}: no leader (its broker is down)", code="NO_LEADER")
            failures.update(dict.fromkeys(group, leaderless))
            continue
        try:
            offsets.update(_offsets_for_times(consumer_client, group, at, cluster))
        except KafkaClientError as exc:
            failures.update(dict.fromkeys(group, exc))
    return offsets, failures


def _named(positions: list[Position]) -> str:
    return ", ".join(f"{t}[{p}]" for t, p in positions)


def _offsets_for_times(
    consumer_client: Consumer, positions: list[Position], at: int, cluster: ClusterSettings
) -> dict[Position, int]:
    what = f"listing offsets of {_named(positions)}"
    with translated(what, cluster):
        answers = consumer_client.offsets_for_times(
            [confluent_kafka.TopicPartition(t, p, at) for t, p in positions], timeout=cluster.request_timeout
        )
    for answer in answers:
        if answer.error is not None:
            raise translate_error(answer.error, what, cluster)
    return {(answer.topic, answer.partition): answer.offset for answer in answers}


def _by_leader(
    consumer_client: Consumer, positions: list[Position], cluster: ClusterSettings
) -> dict[int, list[Position]]:
    """The positions by their leader broker (-1: none, or unknown to the metadata)."""
    groups: dict[int, list[Position]] = {}
    for topic in sorted({t for t, _ in positions}):
        with translated(f"reading the metadata of topic {topic}", cluster):
            described = consumer_client.list_topics(topic=topic, timeout=cluster.request_timeout).topics[topic]
        for t, p in positions:
            if t == topic:
                leader = described.partitions[p].leader if p in described.partitions else -1
                groups.setdefault(leader, []).append((t, p))
    return groups


def read_windows(
    consumer_client: Consumer,
    windows: Mapping[Position, Window],
    timeout: float,
    cluster: ClusterSettings | None = None,
) -> WindowRead:
    """Every record in [start, stop) of each partition, waiting at most `timeout` seconds.

    A partition that did not deliver its whole window in time is left out of `complete`
    (its records so far are kept); a partition that fails is in `failures`. Never commits.
    """
    cluster = cluster_settings(cluster)
    result = WindowRead({position: [] for position in windows}, set())
    todo = {position: window for position, window in windows.items() if window[0] < window[1]}
    result.complete.update(position for position in windows if position not in todo)
    if not todo:
        return result
    with translated("assigning partitions to read", cluster):
        # Never paused nor resumed: a resume right after assign (needed once finished partitions were
        # paused) left a reassigned partition unfetched for about a second, now and then. A finished
        # partition is unassigned instead, which also drops what librdkafka prefetched past its window
        # (about 1 MiB a partition: for a page of 10 partitions, 10,000 records made into Python objects).
        consumer_client.incremental_assign(
            [confluent_kafka.TopicPartition(t, p, start) for (t, p), (start, _) in todo.items()]
        )
    held = set(todo)
    try:
        _read_until_done(consumer_client, todo, held, result, time.monotonic() + timeout, cluster)
    finally:
        _release(consumer_client, held, cluster)
    return result


def _release(consumer_client: Consumer, positions: set[Position], cluster: ClusterSettings) -> None:
    """Unassign these partitions (and drop what was fetched of them); `positions` is emptied."""
    if positions:
        with translated("releasing partitions", cluster):
            consumer_client.incremental_unassign([confluent_kafka.TopicPartition(t, p) for t, p in positions])
        positions.clear()


def _read_until_done(
    consumer_client: Consumer,
    todo: dict[Position, Window],
    held: set[Position],
    result: WindowRead,
    deadline: float,
    cluster: ClusterSettings,
) -> None:
    """Read until every window is done or the deadline passes; `todo` shrinks to the unread part of each window,
    `held` (the partitions still assigned) to those of `todo`."""
    while todo and (left := deadline - time.monotonic()) > 0:
        # consume() returns when it has num_messages or at its timeout. Asking for exactly the
        # offsets still due returns the moment the last one arrives, where a larger batch waited
        # out the whole timeout at a partition's end. A window with gaps (compaction, transaction
        # markers) delivers fewer messages than offsets: the short timeout bounds that wait.
        due = sum(stop - start for start, stop in todo.values())
        with translated("reading records", cluster):
            messages = cast("list[Any]", consumer_client.consume(min(due, MAX_BATCH), min(left, WAIT_SLICE)))
        _take_all(messages, todo, result, cluster)
        if len(held) > len(todo):
            _release(consumer_client, held - todo.keys(), cluster)
            held.intersection_update(todo)


def _take_all(messages: list[Any], todo: dict[Position, Window], result: WindowRead, cluster: ClusterSettings) -> None:
    """Keep the messages inside their windows; a window's start moves past each, a finished window leaves `todo`.

    Records fetched past a finished window (librdkafka prefetches) are skipped here.
    """
    for message in messages:
        position = (message.topic(), message.partition())
        window = todo.get(position)
        if window is None:
            continue
        if _take(message, window, result, position, cluster):
            del todo[position]
        else:
            todo[position] = (message.offset() + 1, window[1])


def _take(message: Any, window: Window, result: WindowRead, position: Position, cluster: ClusterSettings) -> bool:
    """Keep one message of a window; True when the window is done."""
    error = message.error()
    if error is not None:
        if error.code() != confluent_kafka.KafkaError._PARTITION_EOF:
            result.failures[position] = translate_error(error, f"reading {position[0]}[{position[1]}]", cluster)
            return True
        result.complete.add(position)
        return True
    offset = message.offset()
    if offset >= window[1]:
        result.complete.add(position)
        return True
    if offset >= window[0]:
        timestamp_type, timestamp = message.timestamp()
        not_available = timestamp_type == confluent_kafka.TIMESTAMP_NOT_AVAILABLE
        result.records[position].append(
            Record(
                position[0],
                position[1],
                offset,
                None if not_available else timestamp,
                message.key(),
                message.value(),
                message.headers() or (),
            )
        )
    if offset >= window[1] - 1:
        result.complete.add(position)
        return True
    return False
