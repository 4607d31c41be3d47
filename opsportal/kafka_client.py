"""The portal's only door to Kafka: the one module that imports confluent_kafka.

Clients are built from settings when asked for, never at import time, so a
Celery worker creates them after its prefork (librdkafka does not survive
fork()). Every librdkafka failure leaves this module as a KafkaClientError
that says which bootstrap servers were tried, what failed and what to check.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import confluent_kafka
from confluent_kafka import admin as kafka_admin

# Re-exported so callers can build partition lists without importing confluent_kafka.
TopicPartition = confluent_kafka.TopicPartition
OFFSET_BEGINNING = confluent_kafka.OFFSET_BEGINNING
OFFSET_END = confluent_kafka.OFFSET_END

# librdkafka logs every refused connection; our errors already say what failed,
# so its chatter goes to a logger that only speaks when set to (LOGGING in settings).
LIBRDKAFKA_LOG = logging.getLogger("librdkafka")
if LIBRDKAFKA_LOG.level == logging.NOTSET:
    LIBRDKAFKA_LOG.setLevel(logging.CRITICAL)

UNREACHABLE_CODES = {
    confluent_kafka.KafkaError._TRANSPORT,
    confluent_kafka.KafkaError._TIMED_OUT,
    confluent_kafka.KafkaError._ALL_BROKERS_DOWN,
    confluent_kafka.KafkaError._RESOLVE,
}


class KafkaClientError(Exception):
    """A Kafka operation failed; the message is written for an operator."""

    def __init__(self, message: str, *, code: str | None = None, retriable: bool = False):
        super().__init__(message)
        self.code = code
        self.retriable = retriable


class KafkaUnavailable(KafkaClientError):
    """No broker answered: the cluster is down, unreachable or misconfigured."""


class NotEnoughReplicas(KafkaClientError):
    """acks=all could not be met: fewer in-sync replicas than min.insync.replicas."""


@dataclass(frozen=True)
class ClusterSettings:
    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_ca_location: str | None = None
    request_timeout: float = 10.0
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_django(cls) -> ClusterSettings:
        from django.conf import settings

        return cls(
            bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
            security_protocol=settings.KAFKA_SECURITY_PROTOCOL,
            sasl_mechanism=settings.KAFKA_SASL_MECHANISM,
            sasl_username=settings.KAFKA_SASL_USERNAME,
            sasl_password=settings.KAFKA_SASL_PASSWORD,
            ssl_ca_location=settings.KAFKA_SSL_CA_LOCATION,
            request_timeout=settings.KAFKA_REQUEST_TIMEOUT,
        )

    def librdkafka_config(self) -> dict:
        conf = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            # Fail fast when nothing listens, instead of librdkafka's endless retry.
            "socket.connection.setup.timeout.ms": int(self.request_timeout * 1000),
            "reconnect.backoff.max.ms": 2000,
            "logger": LIBRDKAFKA_LOG,
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": self.ssl_ca_location,
        }
        conf.update({key: value for key, value in optional.items() if value})
        conf.update(self.extra)
        return conf


def cluster_settings(cluster: ClusterSettings | None) -> ClusterSettings:
    return cluster if cluster is not None else ClusterSettings.from_django()


def _hint(cluster: ClusterSettings) -> str:
    return (
        f"Check that the brokers at {cluster.bootstrap_servers} are running "
        "(`./dev kafka status` for the local cluster) and that KAFKA_BOOTSTRAP_SERVERS, "
        "KAFKA_SECURITY_PROTOCOL and the SASL/SSL settings match the cluster."
    )


def translate_error(error: object, what: str, cluster: ClusterSettings) -> KafkaClientError:
    """Turn a confluent_kafka error (KafkaException or KafkaError) into ours."""
    kafka_error = error.args[0] if isinstance(error, confluent_kafka.KafkaException) and error.args else error
    if not isinstance(kafka_error, confluent_kafka.KafkaError):
        return KafkaClientError(f"{what} failed on {cluster.bootstrap_servers}: {error}")
    code = kafka_error.code()
    name = kafka_error.name()
    detail = kafka_error.str()
    if code in UNREACHABLE_CODES:
        return KafkaUnavailable(
            f"Kafka unreachable: {what} failed on {cluster.bootstrap_servers} ({name}: {detail}). " + _hint(cluster),
            code=name,
            retriable=True,
        )
    if code in (
        confluent_kafka.KafkaError.NOT_ENOUGH_REPLICAS,
        confluent_kafka.KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    ):
        return NotEnoughReplicas(
            f"{what} failed: not enough in-sync replicas ({name}). Fewer brokers hold the "
            "partition than min.insync.replicas requires; bring the stopped brokers back, then retry.",
            code=name,
            retriable=True,
        )
    return KafkaClientError(
        f"{what} failed on {cluster.bootstrap_servers}: {name}: {detail}",
        code=name,
        retriable=kafka_error.retriable(),
    )


@contextmanager
def translated(what: str, cluster: ClusterSettings) -> Iterator[None]:
    try:
        yield
    except (confluent_kafka.KafkaException, confluent_kafka.KafkaError) as exc:
        raise translate_error(exc, what, cluster) from exc


def _raise_on_error(what: str, cluster: ClusterSettings):
    """An error_cb: librdkafka reports 'all brokers down' here, not as an exception."""

    def on_error(error: confluent_kafka.KafkaError) -> None:
        if error.code() == confluent_kafka.KafkaError._ALL_BROKERS_DOWN:
            raise translate_error(error, what, cluster)

    return on_error


def admin_client(cluster: ClusterSettings | None = None) -> kafka_admin.AdminClient:
    cluster = cluster_settings(cluster)
    return kafka_admin.AdminClient(cluster.librdkafka_config())


def consumer(group_id: str, cluster: ClusterSettings | None = None, **overrides) -> confluent_kafka.Consumer:
    """A consumer that never commits on its own and starts at the beginning."""
    cluster = cluster_settings(cluster)
    conf = cluster.librdkafka_config() | {
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    conf.update(overrides)
    with translated("creating a consumer", cluster):
        return confluent_kafka.Consumer(conf)


def producer(cluster: ClusterSettings | None = None, **overrides) -> confluent_kafka.Producer:
    """An idempotent acks=all producer that partitions keys as Java and KafkaJS do."""
    cluster = cluster_settings(cluster)
    conf = cluster.librdkafka_config() | {
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
    }
    conf.update(overrides)
    with translated("creating a producer", cluster):
        return confluent_kafka.Producer(conf)


# --- cluster metadata -------------------------------------------------------


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


def describe_brokers(cluster: ClusterSettings | None = None) -> list[BrokerInfo]:
    cluster = cluster_settings(cluster)
    admin = admin_client(cluster)
    with translated("describing the cluster", cluster):
        description = admin.describe_cluster(request_timeout=cluster.request_timeout).result(
            timeout=cluster.request_timeout
        )
    controller_id = description.controller.id if description.controller else None
    return sorted(
        (BrokerInfo(node.id, node.host, node.port, node.rack, node.id == controller_id) for node in description.nodes),
        key=lambda broker: broker.id,
    )


def list_topics(cluster: ClusterSettings | None = None, admin=None) -> dict[str, TopicInfo]:
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


def broker_count(cluster: ClusterSettings | None = None, admin=None) -> int:
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    with translated("reading cluster metadata", cluster):
        return len(admin.list_topics(timeout=cluster.request_timeout).brokers)


def describe_topic_configs(
    names: Iterable[str], cluster: ClusterSettings | None = None, admin=None
) -> dict[str, dict[str, tuple[str | None, str]]]:
    """Every config of every named topic: {topic: {key: (value, source)}} in one request."""
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    resources = [kafka_admin.ConfigResource(kafka_admin.ResourceType.TOPIC, name) for name in names]
    if not resources:
        return {}
    result = {}
    with translated("describing topic configs", cluster):
        futures = admin.describe_configs(resources, request_timeout=cluster.request_timeout)
        for resource, future in futures.items():
            entries = future.result(timeout=cluster.request_timeout)
            result[resource.name] = {
                key: (entry.value, getattr(entry.source, "name", str(entry.source))) for key, entry in entries.items()
            }
    return result


@dataclass(frozen=True)
class NewTopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]


def _wait_all(futures: dict, what: str, cluster: ClusterSettings) -> dict[str, KafkaClientError]:
    """Wait for per-item futures; return the failures by item instead of stopping at the first."""
    failures = {}
    for item, future in futures.items():
        try:
            with translated(f"{what} {item}", cluster):
                future.result(timeout=cluster.request_timeout * 3)
        except KafkaClientError as exc:
            if isinstance(exc, KafkaUnavailable):
                raise
            failures[str(item)] = exc
    return failures


def create_topics(specs: Iterable[NewTopicSpec], cluster: ClusterSettings | None = None, admin=None):
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    new_topics = [
        kafka_admin.NewTopic(s.name, s.partitions, s.replication_factor, config=dict(s.configs)) for s in specs
    ]
    if not new_topics:
        return {}
    with translated("creating topics", cluster):
        futures = admin.create_topics(new_topics, request_timeout=cluster.request_timeout)
    return _wait_all(futures, "creating topic", cluster)


def delete_topics(names: Iterable[str], cluster: ClusterSettings | None = None, admin=None):
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    names = list(names)
    if not names:
        return {}
    with translated("deleting topics", cluster):
        futures = admin.delete_topics(names, request_timeout=cluster.request_timeout)
    return _wait_all(futures, "deleting topic", cluster)


def grow_partitions(counts: dict[str, int], cluster: ClusterSettings | None = None, admin=None):
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    if not counts:
        return {}
    with translated("adding partitions", cluster):
        futures = admin.create_partitions(
            [kafka_admin.NewPartitions(name, count) for name, count in counts.items()],
            request_timeout=cluster.request_timeout,
        )
    return _wait_all(futures, "adding partitions to", cluster)


def set_topic_configs(changes: dict[str, dict[str, str]], cluster: ClusterSettings | None = None, admin=None):
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
    return _wait_all({resource.name: future for resource, future in futures.items()}, "altering configs of", cluster)
