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
    """One outcome per needed operation; a connection refused (login, TLS) is one refused line,
    and so is a topic or group refused as a whole (missing, or not even describable)."""
    cluster = kafka.cluster_settings(cluster)
    user = cluster.sasl_username or "ANONYMOUS"
    needs = portal_needs(reset_groups)
    try:
        allowed, refused = kafka.authorized_operations(dict.fromkeys(need.resource for need in needs), cluster)
    except kafka.KafkaClientError as exc:
        return [AccessCheck(Need("CONNECT", "CLUSTER", "kafka-cluster", "every operation"), str(exc))]
    checks: list[AccessCheck] = []
    for resource, needs_of_resource in _by_resource(needs).items():
        if resource in refused:
            checks.append(AccessCheck(_every(needs_of_resource), _whole_refusal(refused[resource])))
        else:
            checks += [AccessCheck(need, _refusal(need, user, allowed)) for need in needs_of_resource]
    return checks


def _by_resource(needs: list[Need]) -> dict[tuple[str, str], list[Need]]:
    grouped: dict[tuple[str, str], list[Need]] = {}
    for need in needs:
        grouped.setdefault(need.resource, []).append(need)
    return grouped


def _every(needs: list[Need]) -> Need:
    """The needs of one resource as one line: its operations and their reasons, each once."""
    first = needs[0]
    operations = "/".join(dict.fromkeys(need.operation for need in needs))
    reasons = "; ".join(dict.fromkeys(need.why for need in needs))
    return Need(operations, first.resource_type, first.name, reasons)


def _whole_refusal(error: kafka.KafkaClientError) -> str:
    if error.code == "UNKNOWN_TOPIC_OR_PART":
        return "the topic does not exist (`manage.py ensure_topics` creates the billing topics)"
    return str(error)


def _refusal(need: Need, user: str, allowed: dict[tuple[str, str], set[str]]) -> str | None:
    if need.operation in allowed.get(need.resource, set()):
        return None
    kind = need.resource_type
    return f"{kind}_AUTHORIZATION_FAILED: no ACL allows user {user} {need.operation} on {kind.lower()} {need.name}"
