"""Reading windows of records for the message browser and search.

Only `assign` + seek: the browsing consumer never subscribes, so it never joins its group,
and nothing here commits, so the group never exists on the brokers. It never creates a topic
it is asked about (`allow.auto.create.topics=false`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
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
            "fetch.wait.max.ms": 100,
        },
    )


def topic_partitions(consumer_client: Consumer, topic: str, cluster: ClusterSettings | None = None) -> list[int] | None:
    """The topic's partition numbers, or None when the cluster does not know it (it is not created)."""
    cluster = cluster_settings(cluster)
    with translated(f"reading the metadata of topic {topic}", cluster):
        metadata = consumer_client.list_topics(topic=topic, timeout=cluster.request_timeout)
    described = metadata.topics.get(topic)
    if described is None or described.error is not None:
        return None
    return sorted(described.partitions)


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
        assigned = [confluent_kafka.TopicPartition(t, p, start) for (t, p), (start, _) in todo.items()]
        consumer_client.assign(assigned)
        # A partition paused when an earlier window of this consumer finished stays paused through
        # unassign and assign: resumed here, or the next window of it would wait out its timeout.
        consumer_client.resume(assigned)
    try:
        _read_until_done(consumer_client, todo, result, time.monotonic() + timeout, cluster)
    finally:
        with translated("releasing partitions", cluster):
            consumer_client.unassign()
    return result


def _read_until_done(
    consumer_client: Consumer,
    todo: dict[Position, Window],
    result: WindowRead,
    deadline: float,
    cluster: ClusterSettings,
) -> None:
    while todo and (left := deadline - time.monotonic()) > 0:
        with translated("reading records", cluster):
            messages = cast("list[Any]", consumer_client.consume(num_messages=1000, timeout=min(left, 0.5)))
        finished: list[Position] = []
        for message in messages:
            position = (message.topic(), message.partition())
            window = todo.get(position)
            if window is None:
                continue
            if _take(message, window, result, position, cluster):
                finished.append(position)
                del todo[position]
        if finished:
            # Stop fetching what is done, so the rest of the wait goes to the partitions still read.
            consumer_client.pause([confluent_kafka.TopicPartition(t, p) for t, p in finished])


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
