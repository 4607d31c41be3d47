"""The billing topics as they must exist: the one source for ensure_topics.

Replaces the seed's create-topics.sh. Every billing event is kept forever
(the engine is event-sourced), hence retention.ms=-1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

BILLING_CONFIGS = {
    "min.insync.replicas": "2",
    "retention.ms": "-1",
    "cleanup.policy": "delete",
    "unclean.leader.election.enable": "false",
}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 3
    configs: dict[str, str] = field(default_factory=lambda: dict(BILLING_CONFIGS))
    # The Schema Registry compatibility of the topic's subjects (ensure_schemas); None: not managed.
    schema_compatibility: str | None = None


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("billing.account.events", 10, schema_compatibility="FORWARD"),
    TopicSpec("billing.transaction.events", 10, schema_compatibility="FORWARD"),
    TopicSpec("billing.saga.events", 5, schema_compatibility="FORWARD"),
    # One partition: failed events are reviewed in the order they failed. Its records are copies
    # of the other topics' records, under their subjects: it has no subject of its own to manage.
    TopicSpec(settings.DEAD_LETTER_TOPIC, 1),
)
