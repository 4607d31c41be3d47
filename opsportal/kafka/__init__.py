"""The portal's only door to Kafka: the one package that imports confluent_kafka.

One public function per operation, grouped by what it works on: clients
(construction from settings), cluster (brokers, topics, configs, partition
offsets), groups (consumer groups and their offsets), consume and produce.
Every librdkafka failure leaves this package as a KafkaClientError that says
which bootstrap servers were tried, what failed and what to check.
"""

from opsportal.kafka import registry, wire
from opsportal.kafka.browse import (
    BROWSE_GROUP_ID,
    WindowRead,
    browse_consumer,
    browse_session,
    close_idle_browse_consumers,
    partition_offsets,
    read_windows,
    topic_partitions,
)
from opsportal.kafka.clients import (
    AdminClient,
    ClusterSettings,
    Consumer,
    Producer,
    admin_client,
    cluster_settings,
    consumer,
    producer,
)
from opsportal.kafka.cluster import (
    BrokerInfo,
    NewTopicSpec,
    PartitionInfo,
    Position,
    TopicConfigs,
    TopicInfo,
    create_topics,
    delete_topics,
    describe_brokers,
    describe_topic_configs,
    grow_partitions,
    list_offsets,
    list_topics,
    set_topic_configs,
)
from opsportal.kafka.consume import OFFSET_BEGINNING, OFFSET_END, Headers, Record, assign, commit_positions, poll
from opsportal.kafka.errors import KafkaClientError, KafkaUnavailable, NotEnoughReplicas
from opsportal.kafka.groups import (
    GroupInfo,
    GroupMember,
    alter_committed_offsets,
    committed_offsets,
    delete_groups,
    describe_groups,
    list_group_ids,
)
from opsportal.kafka.produce import Delivery, OutgoingRecord, PendingDeliveries, produce
from opsportal.kafka.registry import (
    RegistryError,
    RegistryNotFound,
    RegistryUnauthorized,
    RegistryUnreachable,
    SubjectInfo,
    SubjectVersion,
)
from opsportal.kafka.security import AclGrant, authorized_operations, create_acls
from opsportal.kafka.wire import Decoded, Encoded, Refused

__all__ = [
    "BROWSE_GROUP_ID",
    "AclGrant",
    "OFFSET_BEGINNING",
    "OFFSET_END",
    "AdminClient",
    "BrokerInfo",
    "ClusterSettings",
    "Consumer",
    "Delivery",
    "GroupInfo",
    "GroupMember",
    "Headers",
    "KafkaClientError",
    "KafkaUnavailable",
    "NewTopicSpec",
    "NotEnoughReplicas",
    "OutgoingRecord",
    "PartitionInfo",
    "PendingDeliveries",
    "Position",
    "Producer",
    "Record",
    "TopicConfigs",
    "TopicInfo",
    "WindowRead",
    "admin_client",
    "alter_committed_offsets",
    "assign",
    "authorized_operations",
    "browse_consumer",
    "browse_session",
    "close_idle_browse_consumers",
    "cluster_settings",
    "commit_positions",
    "committed_offsets",
    "consumer",
    "create_acls",
    "create_topics",
    "delete_groups",
    "delete_topics",
    "describe_brokers",
    "describe_groups",
    "describe_topic_configs",
    "grow_partitions",
    "list_group_ids",
    "list_offsets",
    "list_topics",
    "partition_offsets",
    "poll",
    "produce",
    "read_windows",
    "producer",
    "set_topic_configs",
    "topic_partitions",
    # The Schema Registry (kafka.registry: subjects, levels; kafka.wire: decode and encode).
    "Decoded",
    "Encoded",
    "Refused",
    "RegistryError",
    "RegistryNotFound",
    "RegistryUnauthorized",
    "RegistryUnreachable",
    "SubjectInfo",
    "SubjectVersion",
    "registry",
    "wire",
]
