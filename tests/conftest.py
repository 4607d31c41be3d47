"""Shared fixtures. Everything Kafka here is the real local cluster (./dev test starts it)."""

from __future__ import annotations

import uuid

import pytest

from opsportal import kafka_client


@pytest.fixture(scope="session")
def cluster() -> kafka_client.ClusterSettings:
    settings = kafka_client.ClusterSettings.from_django()
    try:
        kafka_client.describe_brokers(settings)
    except kafka_client.KafkaUnavailable as exc:
        pytest.fail(f"the test suite needs the local Kafka cluster (./dev kafka up): {exc}")
    return settings


@pytest.fixture
def topic_names(cluster):
    """Hands out unique topic names and deletes those topics after the test."""
    created: list[str] = []

    def make(prefix: str = "test") -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:10]}"
        created.append(name)
        return name

    yield make
    kafka_client.delete_topics(created, cluster)


@pytest.fixture
def make_topic(cluster, topic_names):
    def make(partitions: int = 1, replication_factor: int = 3, configs: dict | None = None, prefix="test") -> str:
        name = topic_names(prefix)
        spec = kafka_client.NewTopicSpec(name, partitions, replication_factor, configs or {})
        assert kafka_client.create_topics([spec], cluster) == {}
        return name

    return make
