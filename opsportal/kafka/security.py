"""ACLs: granting them (the local cluster's tool) and checking what this connection may do.

`authorized_operations` asks the brokers which operations the configured user holds on the
cluster, on topics and on groups (KIP-430), so a check changes nothing on the cluster: no
record written, no offset committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import confluent_kafka
from confluent_kafka import admin as kafka_admin

from opsportal.kafka._results import failures_of, wait_each
from opsportal.kafka.clients import AdminClient, ClusterSettings, admin_client, cluster_settings
from opsportal.kafka.errors import KafkaClientError, translated

# (resource type, name): ("CLUSTER", "kafka-cluster"), ("TOPIC", "billing.x"), ("GROUP", "g")
Resource = tuple[str, str]


@dataclass(frozen=True)
class AclGrant:
    """One ALLOW binding: principal may do operation on the resource (name LITERAL or PREFIXED)."""

    principal: str
    resource_type: str
    name: str
    pattern: str
    operation: str

    def binding(self) -> kafka_admin.AclBinding:
        return kafka_admin.AclBinding(
            # librdkafka calls Kafka's CLUSTER resource BROKER.
            kafka_admin.ResourceType["BROKER" if self.resource_type == "CLUSTER" else self.resource_type],
            self.name,
            kafka_admin.ResourcePatternType[self.pattern],
            self.principal,
            "*",
            kafka_admin.AclOperation[self.operation],
            kafka_admin.AclPermissionType.ALLOW,
        )


def create_acls(
    grants: Iterable[AclGrant], cluster: ClusterSettings | None = None, admin: AdminClient | None = None
) -> dict[str, KafkaClientError]:
    """Create ALLOW bindings; failures by binding. Creating one that exists changes nothing."""
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    bindings = [grant.binding() for grant in grants]
    if not bindings:
        return {}
    with translated("creating ACLs", cluster):
        futures = admin.create_acls(bindings, request_timeout=cluster.request_timeout)
    return failures_of(futures, "creating ACL", cluster)


def authorized_operations(
    resources: Iterable[Resource], cluster: ClusterSettings | None = None, admin: AdminClient | None = None
) -> tuple[dict[Resource, set[str]], dict[Resource, KafkaClientError]]:
    """The operations the configured user may do on each resource, and the refusals by resource.

    A topic or group the user may not even describe is a refusal (TOPIC/GROUP_AUTHORIZATION_FAILED);
    a topic that does not exist is one too (UNKNOWN_TOPIC_OR_PART), as the portal cannot use it.
    """
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    resources = list(resources)
    allowed: dict[Resource, set[str]] = {}
    refused: dict[Resource, KafkaClientError] = {}
    if any(kind == "CLUSTER" for kind, _ in resources):
        with translated("describing the cluster", cluster):
            description = admin.describe_cluster(
                include_authorized_operations=True, request_timeout=cluster.request_timeout
            ).result(timeout=cluster.request_timeout * 2)
        allowed |= {r: _names(description.authorized_operations) for r in resources if r[0] == "CLUSTER"}
    for kind, describe in (("TOPIC", _describe_topics), ("GROUP", _describe_groups)):
        names = [name for resource_type, name in resources if resource_type == kind]
        if names:
            found, failures = describe(names, admin, cluster)
            allowed |= {(kind, name): operations for name, operations in found.items()}
            refused |= {(kind, name): error for name, error in failures.items()}
    return allowed, refused


def _describe_topics(
    names: list[str], admin: AdminClient, cluster: ClusterSettings
) -> tuple[dict[str, set[str]], dict[str, KafkaClientError]]:
    with translated("describing topics", cluster):
        futures = admin.describe_topics(
            confluent_kafka.TopicCollection(names),
            include_authorized_operations=True,
            request_timeout=cluster.request_timeout,
        )
    found, failures = wait_each(futures, lambda name: f"describing topic {name}", cluster, key=str)
    return {name: _names(description.authorized_operations) for name, description in found.items()}, failures


def _describe_groups(
    names: list[str], admin: AdminClient, cluster: ClusterSettings
) -> tuple[dict[str, set[str]], dict[str, KafkaClientError]]:
    with translated("describing consumer groups", cluster):
        futures = admin.describe_consumer_groups(
            names, include_authorized_operations=True, request_timeout=cluster.request_timeout
        )
    found, failures = wait_each(futures, lambda name: f"describing consumer group {name}", cluster, key=str)
    return {name: _names(description.authorized_operations) for name, description in found.items()}, failures


def _names(operations: Iterable[kafka_admin.AclOperation] | None) -> set[str]:
    names = {operation.name for operation in operations or ()}
    # Kafka implies DESCRIBE from READ, WRITE, DELETE and ALTER, and lists it; ALL covers everything.
    return set(kafka_admin.AclOperation.__members__) if "ALL" in names else names
