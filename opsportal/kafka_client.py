"""The portal's only door to Kafka: the one module that imports confluent_kafka.

Clients are built from settings when asked for, never at import time, so a
Celery worker creates them after its prefork (librdkafka does not survive
fork()). Every librdkafka failure leaves this module as a KafkaClientError
that says which bootstrap servers were tried, what failed and what to check.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

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
    except concurrent.futures.TimeoutError as exc:
        # An admin future that outlived its wait: the brokers are slow or gone.
        raise KafkaUnavailable(
            f"Kafka did not answer in time: {what} on {cluster.bootstrap_servers}. " + _hint(cluster),
            code="TIMED_OUT",
            retriable=True,
        ) from exc


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
        # Wait longer than the request may take, so librdkafka's own timeout error wins the race.
        description = admin.describe_cluster(request_timeout=cluster.request_timeout).result(
            timeout=cluster.request_timeout * 2
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
    """Every config of every named topic: {topic: {key: (value, source)}} in one request; any failure raises."""
    configs, failures = describe_topic_configs_each(names, cluster, admin=admin)
    if failures:
        raise next(iter(failures.values()))
    return configs


@dataclass(frozen=True)
class NewTopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]


def _results(futures: dict, describe, cluster: ClusterSettings, key=lambda item: item) -> tuple[dict, dict]:
    """Wait for per-item futures: (results, failures) by key(item), instead of stopping at the
    first failure. An unreachable cluster still raises: then nothing about any item is known."""
    results, failures = {}, {}
    for item, future in futures.items():
        try:
            with translated(describe(item), cluster):
                results[key(item)] = future.result(timeout=cluster.request_timeout * 3)
        except KafkaUnavailable:
            raise
        except KafkaClientError as exc:
            failures[key(item)] = exc
    return results, failures


def _wait_all(futures: dict, what: str, cluster: ClusterSettings) -> dict[str, KafkaClientError]:
    return _results(futures, lambda item: f"{what} {item}", cluster, key=str)[1]


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


# --- offsets and consumer groups ---------------------------------------------

Position = tuple[str, int]  # (topic, partition)


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


def _offset_spec(which: str | int):
    if which == "earliest":
        return kafka_admin.OffsetSpec.earliest()
    if which == "latest":
        return kafka_admin.OffsetSpec.latest()
    return kafka_admin.OffsetSpec.for_timestamp(int(which))


def list_offsets(
    positions: Iterable[Position], which: str | int, cluster: ClusterSettings | None = None, admin=None
) -> tuple[dict[Position, int], dict[Position, KafkaClientError]]:
    """Earliest, latest, or first-at-or-after a timestamp (epoch ms) for many partitions in one request.

    A timestamp past the last record gives -1, as Kafka does. Failures are returned per partition.
    """
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    request = {TopicPartition(topic, partition): _offset_spec(which) for topic, partition in positions}
    if not request:
        return {}, {}
    with translated("listing offsets", cluster):
        futures = admin.list_offsets(request, request_timeout=cluster.request_timeout)
    results, failures = _results(
        futures,
        lambda tp: f"listing offsets of {tp.topic}[{tp.partition}]",
        cluster,
        key=lambda tp: (tp.topic, tp.partition),
    )
    offsets = {position: info.offset for position, info in results.items()}
    return offsets, failures


def list_group_ids(cluster: ClusterSettings | None = None, admin=None) -> list[str]:
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    with translated("listing consumer groups", cluster):
        result = admin.list_consumer_groups(request_timeout=cluster.request_timeout).result(
            timeout=cluster.request_timeout * 3
        )
    return sorted(listing.group_id for listing in result.valid)


def describe_groups(
    group_ids: Iterable[str], cluster: ClusterSettings | None = None, admin=None
) -> tuple[dict[str, GroupInfo], dict[str, KafkaClientError]]:
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    group_ids = list(group_ids)
    if not group_ids:
        return {}, {}
    with translated("describing consumer groups", cluster):
        futures = admin.describe_consumer_groups(group_ids, request_timeout=cluster.request_timeout)
    descriptions, failures = _results(futures, lambda group_id: f"describing consumer group {group_id}", cluster)
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
    group_ids: Iterable[str], cluster: ClusterSettings | None = None, admin=None
) -> tuple[dict[str, dict[Position, int]], dict[str, KafkaClientError]]:
    """Every committed offset of each group. librdkafka takes one group per request,
    so the requests are sent together and awaited after."""
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    futures = {}
    with translated("listing committed offsets", cluster):
        for group_id in group_ids:
            request = [confluent_kafka.ConsumerGroupTopicPartitions(group_id)]
            futures.update(admin.list_consumer_group_offsets(request, request_timeout=cluster.request_timeout))
    results, failures = _results(futures, lambda group_id: f"listing committed offsets of group {group_id}", cluster)
    offsets = {}
    for group_id, result in results.items():
        offsets[group_id] = {
            (tp.topic, tp.partition): tp.offset for tp in result.topic_partitions if tp.error is None and tp.offset >= 0
        }
    return offsets, failures


def alter_committed_offsets(
    group_id: str, new_offsets: dict[Position, int], cluster: ClusterSettings | None = None, admin=None
) -> dict[Position, KafkaClientError | None]:
    """Commit new offsets for an empty group; the outcome per partition (None = done).

    The broker refuses a group with members (UNKNOWN_MEMBER_ID, per partition or for the
    whole request); either way every partition's outcome is reported, never half-silently.
    """
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    partitions = [TopicPartition(topic, partition, offset) for (topic, partition), offset in new_offsets.items()]
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


# --- records -----------------------------------------------------------------

Headers = tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: Headers


def poll_records(consumer_client, max_records: int, timeout: float, cluster: ClusterSettings | None = None):
    """Up to max_records from an assigned or subscribed consumer, as plain Records."""
    return [Record(*raw[:6], tuple(raw[6])) for raw in poll_raw(consumer_client, max_records, timeout, cluster)]


def commit_positions(consumer_client, positions: dict[Position, int], cluster: ClusterSettings | None = None) -> None:
    """Commit synchronously (the next offset to read per partition); raise on any partition's failure."""
    cluster = cluster_settings(cluster)
    offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in positions.items()]
    if not offsets:
        return
    with translated("committing offsets", cluster):
        result = consumer_client.commit(offsets=offsets, asynchronous=False)
    for tp in result or ():
        if tp.error is not None:
            raise translate_error(tp.error, f"committing {tp.topic}[{tp.partition}]", cluster)


def assign(consumer_client, positions: dict[Position, int]) -> None:
    """Read exactly these partitions from these offsets (no group rebalancing)."""
    consumer_client.assign([TopicPartition(t, p, o) for (t, p), o in positions.items()])


class OutgoingRecord(NamedTuple):
    """A tuple: a bulk republish makes one per record, and a frozen dataclass costs several times more."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    partition: int | None = None  # None: the producer's partitioner (murmur2, as Java) decides


class Delivery(NamedTuple):
    partition: int | None
    offset: int | None
    error: KafkaClientError | None = None
    # False only when the broker certainly did not write it; a timeout or a lost
    # connection may have written it, so the caller must not simply retry.
    maybe_written: bool = True


# Errors after which the record is certainly not in the log.
NOT_WRITTEN_CODES = {
    confluent_kafka.KafkaError.NOT_ENOUGH_REPLICAS,
    confluent_kafka.KafkaError.MSG_SIZE_TOO_LARGE,
    confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART,
    confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED,
    confluent_kafka.KafkaError.INVALID_RECORD,
    confluent_kafka.KafkaError.RECORD_LIST_TOO_LARGE,
    confluent_kafka.KafkaError._UNKNOWN_PARTITION,
    confluent_kafka.KafkaError._UNKNOWN_TOPIC,
}


class PendingDeliveries:
    """Records handed to the producer whose acknowledgements may still be on their way.

    A caller can do other work (claim the next chunk) while librdkafka delivers
    these in the background, then `wait()` for exactly these records, unlike
    `flush()`, which also waits for everything produced after them.
    """

    def __init__(self, producer_client, cluster: ClusterSettings) -> None:
        self._producer = producer_client
        self._cluster = cluster
        self._delivered: dict[int, tuple] = {}
        self._refused: dict[int, Delivery] = {}
        self.count = 0

    def _on_delivery_of(self, index: int):
        # Deliveries complete per partition batch, not in produce order; index them.
        return lambda error, message: self._delivered.__setitem__(index, (error, message))

    def produce(self, records: Iterable[OutgoingRecord]) -> None:
        producer_client, cluster = self._producer, self._cluster
        with translated("producing", cluster):
            for record in records:
                while True:
                    try:
                        producer_client.produce(
                            record.topic,
                            record.value,
                            record.key,
                            # -1, librdkafka's "unassigned": its partitioner (murmur2, as Java) decides.
                            partition=-1 if record.partition is None else record.partition,
                            headers=record.headers if type(record.headers) is list else list(record.headers),
                            on_delivery=self._on_delivery_of(self.count),
                        )
                        break
                    except BufferError:
                        producer_client.poll(0.1)  # the local queue is full: let deliveries drain it
                    except confluent_kafka.KafkaException as exc:
                        # Refused before it was queued (too large, unknown partition): never written.
                        where = f"producing to {record.topic}[{record.partition}]"
                        error = translate_error(exc, where, cluster)
                        self._refused[self.count] = Delivery(None, None, error, maybe_written=False)
                        break
                self.count += 1
                if self.count % 100 == 0:
                    producer_client.poll(0)

    def wait(self, timeout: float | None = None) -> list[Delivery]:
        """Each record's outcome in produce order; one without a report by the timeout may have been written."""
        deadline = time.monotonic() + (timeout if timeout is not None else self._cluster.request_timeout * 6)
        with translated("producing", self._cluster):
            while len(self._delivered) + len(self._refused) < self.count and time.monotonic() < deadline:
                self._producer.poll(0.05)
        return [
            self._refused.get(index) or _delivery(self._delivered.get(index), self._cluster)
            for index in range(self.count)
        ]


def produce_started(
    producer_client, records: Iterable[OutgoingRecord], cluster: ClusterSettings | None = None
) -> PendingDeliveries:
    """Hand records to the producer without waiting for their acknowledgements."""
    pending = PendingDeliveries(producer_client, cluster_settings(cluster))
    pending.produce(records)
    return pending


def produce_each(
    producer_client, records: Iterable[OutgoingRecord], cluster: ClusterSettings | None = None, flush_timeout=None
) -> list[Delivery]:
    """Produce records, wait for all, and return each one's outcome in produce order."""
    return produce_started(producer_client, records, cluster).wait(flush_timeout)


def _delivery(outcome: tuple | None, cluster: ClusterSettings) -> Delivery:
    if outcome is None:
        error = KafkaClientError("no delivery report before the flush timed out; it may have been written")
        return Delivery(None, None, error)
    error, message = outcome
    if error is None:
        return Delivery(message.partition(), message.offset())
    where = f"producing to {message.topic()}[{message.partition()}]"
    return Delivery(
        None, None, translate_error(error, where, cluster), maybe_written=error.code() not in NOT_WRITTEN_CODES
    )


def produce_records(
    producer_client, topic: str, records: Iterable[tuple], partition: int | None = None, cluster=None
) -> list[tuple[int, int]]:
    """Produce (key, value, headers) tuples, wait for all, return (partition, offset) of each.

    Any failed delivery raises, naming how many may not have been written.
    """
    outgoing = (OutgoingRecord(topic, key, value, headers or (), partition) for key, value, headers in records)
    deliveries = produce_each(producer_client, outgoing, cluster)
    failed = [d for d in deliveries if d.error is not None]
    if failed:
        raise KafkaClientError(
            f"{len(failed)} of {len(deliveries)} records to {topic} may not have been written: {failed[0].error}"
        )
    return [(d.partition, d.offset) for d in deliveries]


# --- mirror sync (topics/sync.py) ----------------------------------------------


def describe_topic_configs_each(
    names: Iterable[str], cluster: ClusterSettings | None = None, admin=None
) -> tuple[dict[str, dict[str, tuple[str | None, str]]], dict[str, KafkaClientError]]:
    """Like describe_topic_configs, in one request, but one topic's failure (say it was deleted
    a moment ago) is returned per topic instead of failing the whole batch."""
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    resources = [kafka_admin.ConfigResource(kafka_admin.ResourceType.TOPIC, name) for name in names]
    if not resources:
        return {}, {}
    with translated("describing topic configs", cluster):
        futures = admin.describe_configs(resources, request_timeout=cluster.request_timeout)
    results, failures = _results(
        futures, lambda resource: f"describing configs of topic {resource.name}", cluster, key=lambda r: r.name
    )
    configs = {}
    for name, entries in results.items():
        configs[name] = {key: (entry.value, _config_source_name(entry.source)) for key, entry in entries.items()}
    return configs, failures


def _config_source_name(source: object) -> str:
    """confluent-kafka hands the source over as a bare int (1), not its name (DYNAMIC_TOPIC_CONFIG)."""
    try:
        return kafka_admin.ConfigSource(int(getattr(source, "value", source))).name
    except (TypeError, ValueError):
        return str(source)


def delete_groups(
    group_ids: Iterable[str], cluster: ClusterSettings | None = None, admin=None
) -> dict[str, KafkaClientError]:
    """Delete empty consumer groups (tests and benchmarks clean up after themselves); failures by group."""
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    group_ids = list(group_ids)
    if not group_ids:
        return {}
    with translated("deleting consumer groups", cluster):
        futures = admin.delete_consumer_groups(group_ids, request_timeout=cluster.request_timeout)
    return _wait_all(futures, "deleting consumer group", cluster)


def list_offsets_batched(
    positions: Iterable[Position],
    which: Iterable[str | int],
    cluster: ClusterSettings | None = None,
    admin=None,
    chunk: int = 5000,
) -> dict[str | int, tuple[dict[Position, int], dict[Position, KafkaClientError]]]:
    """list_offsets for many partitions and several specs at once: {which: (offsets, failures)}.

    All requests are sent before any is awaited, in slices: one request of 20,000 partitions
    takes librdkafka seconds to build, and awaiting slices one by one pays each round trip.
    """
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    positions = list(positions)
    pending: dict[str | int, list[dict]] = {}
    with translated("listing offsets", cluster):
        for spec in which:
            pending[spec] = [
                admin.list_offsets(
                    {TopicPartition(t, p): _offset_spec(spec) for t, p in positions[start : start + chunk]},
                    request_timeout=cluster.request_timeout,
                )
                for start in range(0, len(positions), chunk)
            ]
    results: dict[str | int, tuple[dict[Position, int], dict[Position, KafkaClientError]]] = {}
    for spec, batches in pending.items():
        offsets, failures = {}, {}
        for futures in batches:
            for tp, future in futures.items():
                error = future.exception(timeout=cluster.request_timeout * 3)
                if error is None:
                    offsets[(tp.topic, tp.partition)] = future.result().offset
                    continue
                translated_error = translate_error(error, f"listing offsets of {tp.topic}[{tp.partition}]", cluster)
                if isinstance(translated_error, KafkaUnavailable):
                    raise translated_error
                failures[(tp.topic, tp.partition)] = translated_error
        results[spec] = (offsets, failures)
    return results


# --- mirror sync, bulk reads (topics/sync.py) ----------------------------------

# librdkafka's ListOffsets work grows faster than the partitions in one request: 20,000
# partitions took 0.8 s of CPU in 5,000-partition requests and 0.25 s in 500-partition ones.
BULK_OFFSETS_CHUNK = 500


def list_offsets_bulk(
    positions: Iterable[Position],
    which: Iterable[str | int],
    cluster: ClusterSettings | None = None,
    admin=None,
    chunk: int = BULK_OFFSETS_CHUNK,
) -> dict[str | int, tuple[dict[Position, int], dict[Position, KafkaClientError]]]:
    """The same answer as list_offsets_batched, for a fraction of its CPU time.

    AdminClient.list_offsets wraps each partition's answer in its own Python future
    (20,000 partitions and two specs: 40,000 futures, most of a second under the GIL);
    the C call beneath it answers a whole request with one dict, which is read here.
    confluent-kafka is pinned in requirements.txt, and tests/mirror/test_bulk_reads.py
    checks this function against list_offsets_batched on the real cluster.
    """
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    positions, which = list(positions), list(which)
    pending = []
    with translated("listing offsets", cluster):
        for spec in which:
            code = _offset_spec(spec)._value
            for start in range(0, len(positions), chunk):
                request = [TopicPartition(t, p, code) for t, p in positions[start : start + chunk]]
                pending.append((spec, request, _list_offsets_request(admin, request, cluster)))
    results = {spec: ({}, {}) for spec in which}
    for spec, request, future in pending:
        _collect_offsets(future, request, *results[spec], cluster)
    return results


def _list_offsets_request(admin, request: list, cluster: ClusterSettings):
    import concurrent.futures

    future = concurrent.futures.Future()
    future.set_running_or_notify_cancel()
    kafka_admin._AdminClientImpl.list_offsets(admin, request, future, request_timeout=cluster.request_timeout)
    return future


def _collect_offsets(future, request: list, offsets: dict, failures: dict, cluster: ClusterSettings) -> None:
    try:
        with translated("listing offsets", cluster):
            answers = future.result(timeout=cluster.request_timeout * 3)
    except KafkaUnavailable:
        raise
    except KafkaClientError as exc:
        # The whole request failed: every partition in it failed, as the public call reports it.
        failures.update(dict.fromkeys(((tp.topic, tp.partition) for tp in request), exc))
        return
    for tp, answer in answers.items():
        if not isinstance(answer, confluent_kafka.KafkaError):
            offsets[(tp.topic, tp.partition)] = answer.offset
            continue
        error = translate_error(answer, f"listing offsets of {tp.topic}[{tp.partition}]", cluster)
        if isinstance(error, KafkaUnavailable):
            raise error
        failures[(tp.topic, tp.partition)] = error


def describe_topic_configs_bulk(
    names: Iterable[str], cluster: ClusterSettings | None = None, admin=None
) -> tuple[dict[str, dict[str, tuple[str | None, str]]], dict[str, KafkaClientError]]:
    """describe_topic_configs_each for thousands of topics: the same answer, with each
    distinct config source named once instead of once per entry (70,000 at 2,000 topics)."""
    cluster = cluster_settings(cluster)
    admin = admin or admin_client(cluster)
    resources = [kafka_admin.ConfigResource(kafka_admin.ResourceType.TOPIC, name) for name in names]
    if not resources:
        return {}, {}
    with translated("describing topic configs", cluster):
        futures = admin.describe_configs(resources, request_timeout=cluster.request_timeout)
    source_names: dict[object, str] = {}
    configs, failures = {}, {}
    for resource, future in futures.items():
        try:
            with translated(f"describing configs of topic {resource.name}", cluster):
                entries = future.result(timeout=cluster.request_timeout * 3)
        except KafkaUnavailable:
            raise
        except KafkaClientError as exc:
            failures[resource.name] = exc
            continue
        named = {}
        for key, entry in entries.items():
            source = entry.source
            if source not in source_names:
                source_names[source] = _config_source_name(source)
            named[key] = (entry.value, source_names[source])
        configs[resource.name] = named
    return configs, failures


# --- dead-letter drain, hot path (deadletter/drain.py) -------------------------

# (topic, partition, offset, timestamp_ms | None, key, value, headers): Record's fields, in its order.
RawRecord = tuple[str, int, int, int | None, bytes | None, bytes | None, list | tuple]


def poll_raw(
    consumer_client, max_records: int, timeout: float, cluster: ClusterSettings | None = None
) -> list[RawRecord]:
    """poll_records as plain tuples in Record's field order, for a caller reading tens of
    thousands of records a second: a frozen dataclass per record is measurable there.
    The headers are librdkafka's list as it comes (never None), not copied into a tuple."""
    with translated("consuming", cluster_settings(cluster)):
        messages = consumer_client.consume(num_messages=max_records, timeout=timeout)
    records = []
    append = records.append
    not_available = confluent_kafka.TIMESTAMP_NOT_AVAILABLE
    for message in messages:
        error = message.error()
        if error is not None:
            if error.code() == confluent_kafka.KafkaError._PARTITION_EOF:
                continue
            raise translate_error(error, f"consuming {message.topic()}", cluster_settings(cluster))
        timestamp_type, timestamp = message.timestamp()
        append(
            (
                message.topic(),
                message.partition(),
                message.offset(),
                timestamp if timestamp_type != not_available else None,
                message.key(),
                message.value(),
                message.headers() or (),
            )
        )
    return records
