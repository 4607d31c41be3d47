"""Fixtures for the dead-letter tests: a fresh dead-letter topic and group per test, real cluster."""

from __future__ import annotations

import pytest

from deadletter.drain import DrainResult, drain_dead_letter
from opsportal import kafka
from opsportal.kafka.testing import produce_records

MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # room for the 1 MiB value plus headers


@pytest.fixture
def dlq_topic(make_topic) -> str:
    return make_topic(partitions=1, configs={"max.message.bytes": str(MAX_MESSAGE_BYTES)}, prefix="test.dlq")


@pytest.fixture
def group_id(group_names) -> str:
    """The drain's consumer group; deleted after the test with the root group_names fixture."""
    return group_names("test-drain")


@pytest.fixture
def produce(cluster):
    """produce(topic, [(key, value, headers), ...]) -> [(partition, offset), ...] on the real cluster."""
    client = kafka.producer(cluster, **{"message.max.bytes": MAX_MESSAGE_BYTES + 65536})

    def send(topic: str, records: list[tuple]) -> list[tuple[int, int]]:
        return produce_records(client, topic, records, cluster=cluster)

    return send


@pytest.fixture
def drain(cluster, dlq_topic, group_id):
    def run(**kwargs) -> DrainResult:
        kwargs = {"topic": dlq_topic, "group_id": group_id, "until_empty": True, "timeout": 1.0} | kwargs
        return drain_dead_letter(cluster=cluster, **kwargs)

    return run


@pytest.fixture
def committed(cluster, group_id):
    """The group's committed offset of a partition, or None."""

    def read(topic: str, partition: int = 0) -> int | None:
        offsets, failures = kafka.committed_offsets([group_id], cluster)
        assert not failures
        return offsets.get(group_id, {}).get((topic, partition))

    return read
