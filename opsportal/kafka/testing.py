"""Helpers for tests and benchmarks: shortcuts over the public operations, never used by the portal."""

from __future__ import annotations

from collections.abc import Iterable

from opsportal.kafka.clients import ClusterSettings, Producer
from opsportal.kafka.consume import Headers
from opsportal.kafka.errors import KafkaClientError
from opsportal.kafka.produce import OutgoingRecord, produce

KeyValueHeaders = tuple[bytes | None, bytes | None, Headers | None]


def produce_records(
    producer_client: Producer,
    topic: str,
    records: Iterable[KeyValueHeaders],
    partition: int | None = None,
    cluster: ClusterSettings | None = None,
) -> list[tuple[int, int]]:
    """Produce (key, value, headers) tuples, wait for all, return (partition, offset) of each.

    Any failed delivery raises, naming how many may not have been written.
    """
    outgoing = (OutgoingRecord(topic, key, value, headers or (), partition) for key, value, headers in records)
    deliveries = produce(producer_client, outgoing, cluster).wait()
    failed = [d for d in deliveries if d.error is not None]
    if failed:
        raise KafkaClientError(
            f"{len(failed)} of {len(deliveries)} records to {topic} may not have been written: {failed[0].error}"
        )
    return [(d.partition, d.offset) for d in deliveries if d.partition is not None and d.offset is not None]
