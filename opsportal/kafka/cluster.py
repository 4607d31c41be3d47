"""Brokers, topics, topic configs and partition offsets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import confluent_kafka
from confluent_kafka import admin as kafka_admin

from opsportal.kafka._results import failures_of, wait_each
from opsportal.kafka.clients import AdminClient, ClusterSettings, admin_client, cluster_settings
from opsportal.kafka.errors import KafkaClientError, KafkaUnavailable, translate_error, translated

Position = tuple[str, int]  # (topic, partition)
TopicConfigs = dict[str, tuple[str | None, str]]  # {key: (value, source name)}


@dataclass(frozen=True)
class BrokerInfo:
    id: int
    host: str
    port: int
    rack: str | None
    is_controller: bool


@dataclass(frozen=True)
class PartitionInfo:
    number: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: tuple[PartitionInfo, ...]

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)

    @property
    def is_internal(self) -> bool:
        return self.name.startswith("__")


@dataclass(frozen=True)
class NewTopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]


def describe_brokers(cluster: ClusterSettings | None = None, admin: AdminClient | None = None) -> list[BrokerInfo]:
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    with translated("describing the cluster", cluster):
        # Wait longer than the request may take, so librdkafka's own timeout error wins the race.
        description = admin.describe_cluster(request_timeout=cluster.request_timeout).result(
            timeout=cluster.request_timeout * 2
        )
    controller_id = description.controller.id if description.controller else None
    return sorted(
        (BrokerInfo(node.id, node.host, node.port, node.rack, node.id == controller_id) for node in description.nodes),
        key=lambda broker: broker.id,
    )


def list_topics(cluster: ClusterSettings | None = None, admin: AdminClient | None = None) -> dict[str, TopicInfo]:
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    with translated("listing topics", cluster):
        metadata = admin.list_topics(timeout=cluster.request_timeout)
    topics = {}
    for name, topic in metadata.topics.items():
        if topic.error is not None:
            continue
        partitions = tuple(
            sorted(
                (PartitionInfo(p.id, p.leader, tuple(p.replicas), tuple(p.isrs)) for p in topic.partitions.values()),
                key=lambda p: p.number,
            )
        )
        topics[name] = TopicInfo(name, partitions)
    return topics


def create_topics(
    specs: Iterable[NewTopicSpec], cluster: ClusterSettings | None = None, admin: AdminClient | None = None
) -> dict[str, KafkaClientError]:
    """Create topics; the failures by topic name (an empty dict: all created)."""
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    new_topics = [
        kafka_admin.NewTopic(s.name, s.partitions, s.replication_factor, config=dict(s.configs)) for s in specs
    ]
    if not new_topics:
        return {}
    with translated("creating topics", cluster):
        futures = admin.create_topics(new_topics, request_timeout=cluster.request_timeout)
    return failures_of(futures, "creating topic", cluster)


def delete_topics(
    names: Iterable[str], cluster: ClusterSettings | None = None, admin: AdminClient | None = None
) -> dict[str, KafkaClientError]:
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    names = list(names)
    if not names:
        return {}
    with translated("deleting topics", cluster):
        futures = admin.delete_topics(names, request_timeout=cluster.request_timeout)
    return failures_of(futures, "deleting topic", cluster)


def grow_partitions(
    counts: dict[str, int], cluster: ClusterSettings | None = None, admin: AdminClient | None = None
) -> dict[str, KafkaClientError]:
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    if not counts:
        return {}
    with translated("adding partitions", cluster):
        futures = admin.create_partitions(
            [kafka_admin.NewPartitions(name, count) for name, count in counts.items()],
            request_timeout=cluster.request_timeout,
        )
    return failures_of(futures, "adding partitions to", cluster)


def describe_topic_configs(
    names: Iterable[str], cluster: ClusterSettings | None = None, admin: AdminClient | None = None
) -> tuple[dict[str, TopicConfigs], dict[str, KafkaClientError]]:
    """Every config of every named topic in one request: (configs, failures) by topic.

    One topic's failure (say it was deleted a moment ago) is returned for that topic
    instead of failing the batch. Each distinct config source is named once, not once
    per entry: a mirror of thousands of topics reads tens of thousands of entries.
    """
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    resources = [kafka_admin.ConfigResource(kafka_admin.ResourceType.TOPIC, name) for name in names]
    if not resources:
        return {}, {}
    with translated("describing topic configs", cluster):
        futures = admin.describe_configs(resources, request_timeout=cluster.request_timeout)
    answers, failures = wait_each(
        futures, lambda resource: f"describing configs of topic {resource.name}", cluster, key=lambda r: r.name
    )
    source_names: dict[object, str] = {}
    configs: dict[str, TopicConfigs] = {}
    for name, entries in answers.items():
        named = {}
        for key, entry in entries.items():
            source = entry.source
            if source not in source_names:
                source_names[source] = _config_source_name(source)
            named[key] = (entry.value, source_names[source])
        configs[name] = named
    return configs, failures


def _config_source_name(source: object) -> str:
    """confluent-kafka hands the source over as a bare int (1), not its name (DYNAMIC_TOPIC_CONFIG)."""
    try:
        number: Any = getattr(source, "value", source)
        return str(kafka_admin.ConfigSource(int(number)).name)
    except (TypeError, ValueError):
        return str(source)


def set_topic_configs(
    changes: dict[str, dict[str, str]], cluster: ClusterSettings | None = None, admin: AdminClient | None = None
) -> dict[str, KafkaClientError]:
    """Set only the named keys of each topic (incremental: other overrides stay)."""
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    resources = [
        kafka_admin.ConfigResource(
            kafka_admin.ResourceType.TOPIC,
            name,
            incremental_configs=[
                kafka_admin.ConfigEntry(key, value, incremental_operation=kafka_admin.AlterConfigOpType.SET)
                for key, value in configs.items()
            ],
        )
        for name, configs in changes.items()
        if configs
    ]
    if not resources:
        return {}
    with translated("altering topic configs", cluster):
        futures = admin.incremental_alter_configs(resources, request_timeout=cluster.request_timeout)
    return failures_of({resource.name: future for resource, future in futures.items()}, "altering configs of", cluster)


# A mirror asks for tens of thousands of partitions. librdkafka's work for one ListOffsets
# request grows faster than its size, so requests are cut into slices of this many.
OFFSETS_REQUEST_SIZE = 500


def list_offsets(
    positions: Iterable[Position],
    which: str | int,
    cluster: ClusterSettings | None = None,
    admin: AdminClient | None = None,
) -> tuple[dict[Position, int], dict[Position, KafkaClientError]]:
    """Earliest, latest, or first-at-or-after a timestamp (epoch ms) of many partitions.

    A timestamp past the last record gives -1, as Kafka does. Failures are returned per
    partition; an unreachable cluster raises. Every slice is sent before any is awaited,
    so the round trips overlap.

    The public AdminClient.list_offsets wraps each partition's answer in a Python future:
    20,000 partitions and two specs make 40,000 futures, about 0.5 s of CPU under the GIL.
    The C call beneath answers a request with one dict, but it is private API; we pay the cost.
    """
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    positions = list(positions)
    spec = _offset_spec(which)
    slices = []
    with translated("listing offsets", cluster):
        for start in range(0, len(positions), OFFSETS_REQUEST_SIZE):
            request = {
                confluent_kafka.TopicPartition(topic, partition): spec
                for topic, partition in positions[start : start + OFFSETS_REQUEST_SIZE]
            }
            slices.append(admin.list_offsets(request, request_timeout=cluster.request_timeout))
    offsets: dict[Position, int] = {}
    failures: dict[Position, KafkaClientError] = {}
    for futures in slices:
        for tp, future in futures.items():
            with translated(f"listing offsets of {tp.topic}[{tp.partition}]", cluster):
                error = future.exception(timeout=cluster.request_timeout * 3)
            if error is None:
                offsets[(tp.topic, tp.partition)] = future.result().offset
                continue
            failure = translate_error(error, f"listing offsets of {tp.topic}[{tp.partition}]", cluster)
            if isinstance(failure, KafkaUnavailable):
                raise failure
            failures[(tp.topic, tp.partition)] = failure
    return offsets, failures


def _offset_spec(which: str | int) -> Any:
    if which == "earliest":
        return kafka_admin.OffsetSpec.earliest()
    if which == "latest":
        return kafka_admin.OffsetSpec.latest()
    return kafka_admin.OffsetSpec.for_timestamp(int(which))
