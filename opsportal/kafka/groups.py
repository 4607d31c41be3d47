"""Consumer groups: members, committed offsets, and resetting them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import confluent_kafka

from opsportal.kafka._results import failures_of, wait_each
from opsportal.kafka.clients import AdminClient, ClusterSettings, admin_client, cluster_settings
from opsportal.kafka.cluster import Position
from opsportal.kafka.errors import KafkaClientError, KafkaUnavailable, translate_error, translated


@dataclass(frozen=True)
class GroupMember:
    member_id: str
    client_id: str
    host: str
    assignment: tuple[Position, ...]


@dataclass(frozen=True)
class GroupInfo:
    group_id: str
    state: str  # STABLE, EMPTY, PREPARING_REBALANCE, ... or DEAD for an unknown group
    protocol_type: str
    coordinator_id: int | None
    members: tuple[GroupMember, ...]

    @property
    def is_empty(self) -> bool:
        return not self.members


def list_group_ids(cluster: ClusterSettings | None = None, admin: AdminClient | None = None) -> list[str]:
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    with translated("listing consumer groups", cluster):
        result = admin.list_consumer_groups(request_timeout=cluster.request_timeout).result(
            timeout=cluster.request_timeout * 3
        )
    return sorted(listing.group_id for listing in result.valid)


def describe_groups(
    group_ids: Iterable[str], cluster: ClusterSettings | None = None, admin: AdminClient | None = None
) -> tuple[dict[str, GroupInfo], dict[str, KafkaClientError]]:
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    group_ids = list(group_ids)
    if not group_ids:
        return {}, {}
    with translated("describing consumer groups", cluster):
        futures = admin.describe_consumer_groups(group_ids, request_timeout=cluster.request_timeout)
    descriptions, failures = wait_each(
        futures, lambda group_id: f"describing consumer group {group_id}", cluster, key=str
    )
    groups = {}
    for group_id, description in descriptions.items():
        members = tuple(
            GroupMember(
                m.member_id,
                m.client_id,
                m.host,
                tuple((tp.topic, tp.partition) for tp in (m.assignment.topic_partitions if m.assignment else [])),
            )
            for m in description.members
        )
        groups[group_id] = GroupInfo(
            group_id,
            getattr(description.state, "name", str(description.state)),
            "" if description.is_simple_consumer_group else "consumer",
            description.coordinator.id if description.coordinator else None,
            members,
        )
    return groups, failures


def committed_offsets(
    group_ids: Iterable[str], cluster: ClusterSettings | None = None, admin: AdminClient | None = None
) -> tuple[dict[str, dict[Position, int]], dict[str, KafkaClientError]]:
    """Every committed offset of each group.

    librdkafka takes one group per request, so the requests are sent together and awaited after.
    """
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    futures = {}
    with translated("listing committed offsets", cluster):
        for group_id in group_ids:
            request = [confluent_kafka.ConsumerGroupTopicPartitions(group_id)]
            futures.update(admin.list_consumer_group_offsets(request, request_timeout=cluster.request_timeout))
    results, failures = wait_each(
        futures, lambda group_id: f"listing committed offsets of group {group_id}", cluster, key=str
    )
    offsets = {}
    for group_id, result in results.items():
        offsets[group_id] = {
            (tp.topic, tp.partition): tp.offset for tp in result.topic_partitions if tp.error is None and tp.offset >= 0
        }
    return offsets, failures


def alter_committed_offsets(
    group_id: str,
    new_offsets: dict[Position, int],
    cluster: ClusterSettings | None = None,
    admin: AdminClient | None = None,
) -> dict[Position, KafkaClientError | None]:
    """Commit new offsets for an empty group; the outcome per partition (None = done).

    The broker refuses a group with members (UNKNOWN_MEMBER_ID, per partition or for the
    whole request); either way every partition's outcome is reported, never half-silently.
    """
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    partitions = [
        confluent_kafka.TopicPartition(topic, partition, offset) for (topic, partition), offset in new_offsets.items()
    ]
    request = [confluent_kafka.ConsumerGroupTopicPartitions(group_id, partitions)]
    try:
        with translated(f"resetting offsets of group {group_id}", cluster):
            future = admin.alter_consumer_group_offsets(request, request_timeout=cluster.request_timeout)[group_id]
            result = future.result(timeout=cluster.request_timeout * 3)
    except KafkaUnavailable:
        raise
    except KafkaClientError as exc:
        return {position: exc for position in new_offsets}
    outcome: dict[Position, KafkaClientError | None] = dict.fromkeys(new_offsets)
    for tp in result.topic_partitions:
        if tp.error is not None:
            outcome[(tp.topic, tp.partition)] = translate_error(
                tp.error, f"resetting {group_id} on {tp.topic}[{tp.partition}]", cluster
            )
    return outcome


def delete_groups(
    group_ids: Iterable[str], cluster: ClusterSettings | None = None, admin: AdminClient | None = None
) -> dict[str, KafkaClientError]:
    """Delete empty consumer groups; failures by group."""
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    group_ids = list(group_ids)
    if not group_ids:
        return {}
    with translated("deleting consumer groups", cluster):
        futures = admin.delete_consumer_groups(group_ids, request_timeout=cluster.request_timeout)
    return failures_of(futures, "deleting consumer group", cluster)
