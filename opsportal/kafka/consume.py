"""Reading records: assign, poll, commit. Nothing here joins a group on its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import confluent_kafka

from opsportal.kafka.clients import ClusterSettings, Consumer, cluster_settings
from opsportal.kafka.cluster import Position
from opsportal.kafka.errors import translate_error, translated

OFFSET_BEGINNING = confluent_kafka.OFFSET_BEGINNING
OFFSET_END = confluent_kafka.OFFSET_END

Headers = Sequence[tuple[str, bytes | None]]


class Record(NamedTuple):
    """One consumed record. A tuple: the drain reads tens of thousands a second."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: Headers  # librdkafka's list as it comes, () when there are none


def assign(consumer_client: Consumer, positions: dict[Position, int]) -> None:
    """Read exactly these partitions from these offsets (no group rebalancing)."""
    consumer_client.assign([confluent_kafka.TopicPartition(t, p, o) for (t, p), o in positions.items()])


def poll(
    consumer_client: Consumer, max_records: int, timeout: float, cluster: ClusterSettings | None = None
) -> list[Record]:
    """Up to max_records from an assigned or subscribed consumer, waiting at most timeout seconds."""
    # Any: the stubs allow a message without topic or offset, which only an error message is.
    with translated("consuming", cluster_settings(cluster)):
        messages = cast("list[Any]", consumer_client.consume(num_messages=max_records, timeout=timeout))
    records: list[Record] = []
    append = records.append
    not_available = confluent_kafka.TIMESTAMP_NOT_AVAILABLE
    for message in messages:
        error = message.error()
        if error is not None:
            if error.code() == confluent_kafka.KafkaError._PARTITION_EOF:
                continue
            raise translate_error(error, f"consuming {message.topic()}", cluster_settings(cluster))
        timestamp_type, timestamp = message.timestamp()
        append(
            Record(
                message.topic(),
                message.partition(),
                message.offset(),
                timestamp if timestamp_type != not_available else None,
                message.key(),
                message.value(),
                message.headers() or (),
            )
        )
    return records


def commit_positions(
    consumer_client: Consumer, positions: dict[Position, int], cluster: ClusterSettings | None = None
) -> None:
    """Commit synchronously (the next offset to read per partition); raise on any partition's failure."""
    cluster = cluster_settings(cluster)
    offsets = [
        confluent_kafka.TopicPartition(topic, partition, offset) for (topic, partition), offset in positions.items()
    ]
    if not offsets:
        return
    with translated("committing offsets", cluster):
        result = consumer_client.commit(offsets=offsets, asynchronous=False)
    for tp in result or ():
        if tp.error is not None:
            raise translate_error(tp.error, f"committing {tp.topic}[{tp.partition}]", cluster)
