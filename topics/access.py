"""What the portal needs to be allowed on the cluster, checked with its own connection.

The brokers say which operations the configured user holds on the cluster, each billing topic
and each group (kafka.authorized_operations); nothing is written or committed by a check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

from opsportal import kafka
from topics.spec import TOPICS


@dataclass(frozen=True)
class Need:
    operation: str  # READ, WRITE, DESCRIBE, DESCRIBE_CONFIGS
    resource_type: str  # CLUSTER, TOPIC, GROUP
    name: str
    why: str

    @property
    def resource(self) -> tuple[str, str]:
        return self.resource_type, self.name


@dataclass(frozen=True)
class AccessCheck:
    need: Need
    refusal: str | None = None  # None: allowed

    def line(self) -> str:
        need = self.need
        what = f"{need.operation} {need.resource_type.lower()} {need.name} ({need.why})"
        return f"ok       {what}" if self.refusal is None else f"REFUSED  {what}: {self.refusal}"


def portal_needs(reset_groups: Iterable[str] = ()) -> list[Need]:
    """Each operation the portal does, on which resource, and for what."""
    dead_letter, drain_group = settings.DEAD_LETTER_TOPIC, settings.DEAD_LETTER_DRAIN_GROUP_ID
    needs = [Need("DESCRIBE", "CLUSTER", "kafka-cluster", "brokers, consumer group list, /readyz")]
    for topic in (spec.name for spec in TOPICS):
        needs += [
            Need("DESCRIBE", "TOPIC", topic, "mirror: partitions and offsets"),
            Need("DESCRIBE_CONFIGS", "TOPIC", topic, "mirror: topic configs"),
            Need("READ", "TOPIC", topic, "drain" if topic == dead_letter else "message browser, republish scan"),
        ]
        if topic != dead_letter:
            needs.append(Need("WRITE", "TOPIC", topic, "republish"))
    needs += [
        Need("DESCRIBE", "GROUP", drain_group, "drain: committed offsets"),
        Need("READ", "GROUP", drain_group, "drain: commit"),
    ]
    for group in reset_groups:
        needs += [
            Need("DESCRIBE", "GROUP", group, "offset reset: members"),
            Need("READ", "GROUP", group, "offset reset"),
        ]
    return needs


def check_access(cluster: kafka.ClusterSettings | None = None, reset_groups: Iterable[str] = ()) -> list[AccessCheck]:
    """One outcome per needed operation; a connection refused (login, TLS) is one refused line."""
    cluster = kafka.cluster_settings(cluster)
    user = cluster.sasl_username or "ANONYMOUS"
    needs = portal_needs(reset_groups)
    try:
        allowed, refused = kafka.authorized_operations(dict.fromkeys(need.resource for need in needs), cluster)
    except kafka.KafkaClientError as exc:
        return [AccessCheck(Need("CONNECT", "CLUSTER", "kafka-cluster", "every operation"), str(exc))]
    return [AccessCheck(need, _refusal(need, user, allowed, refused)) for need in needs]


def _refusal(
    need: Need,
    user: str,
    allowed: dict[tuple[str, str], set[str]],
    refused: dict[tuple[str, str], kafka.KafkaClientError],
) -> str | None:
    if need.resource in refused:
        return str(refused[need.resource])
    if need.operation in allowed.get(need.resource, set()):
        return None
    kind = need.resource_type
    return f"{kind}_AUTHORIZATION_FAILED: no ACL allows user {user} {need.operation} on {kind.lower()} {need.name}"
