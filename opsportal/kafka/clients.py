"""Client construction from settings.

Clients are built when asked for, never at import time, so a Celery worker
creates them after its prefork (librdkafka does not survive fork()).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import confluent_kafka
from confluent_kafka import admin as kafka_admin

from opsportal.kafka.errors import EventLogger, connection_events, translated

# librdkafka logs every refused connection; our errors already say what failed,
# so its chatter goes to a logger that only speaks when set to (LOGGING in settings).
LIBRDKAFKA_LOG = logging.getLogger("librdkafka")
if LIBRDKAFKA_LOG.level == logging.NOTSET:
    LIBRDKAFKA_LOG.setLevel(logging.CRITICAL)

AdminClient = kafka_admin.AdminClient
Consumer = confluent_kafka.Consumer
Producer = confluent_kafka.Producer


class LibrdkafkaConfig(dict[str, Any]):
    """A client's configuration; its repr hides the password, as it may show in a traceback or DEBUG page."""

    def __repr__(self) -> str:
        return repr({key: "********" if key == "sasl.password" else value for key, value in self.items()})


@dataclass(frozen=True)
class ClusterSettings:
    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    # Kept out of repr: a settings object ends up in tracebacks and DEBUG pages.
    sasl_password: str | None = field(default=None, repr=False)
    ssl_ca_location: str | None = None
    request_timeout: float = 10.0
    extra: dict[str, Any] = field(default_factory=dict)

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

    def librdkafka_config(self) -> LibrdkafkaConfig:
        conf = LibrdkafkaConfig(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "security.protocol": self.security_protocol,
                # Fail fast when nothing listens, instead of librdkafka's endless retry.
                "socket.connection.setup.timeout.ms": int(self.request_timeout * 1000),
                "reconnect.backoff.max.ms": 2000,
                # What the brokers refused (login, TLS, protocol) reaches requests only as a
                # timeout; these note it so the error can say so (errors.explain_refusal).
                "error_cb": connection_events(self).on_error,
                "logger": EventLogger(LIBRDKAFKA_LOG, connection_events(self)),
            }
        )
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


def admin_client(cluster: ClusterSettings | None = None) -> AdminClient:
    cluster = cluster_settings(cluster)
    client = kafka_admin.AdminClient(cluster.librdkafka_config())
    connection_events(cluster).watch(client)
    return client


def consumer(group_id: str, cluster: ClusterSettings | None = None, **overrides: Any) -> Consumer:
    """A consumer that never commits on its own and starts at the beginning."""
    cluster = cluster_settings(cluster)
    conf = cluster.librdkafka_config()  # updated, not merged with |, which would make a plain dict
    conf.update({"group.id": group_id, "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    conf.update(overrides)
    with translated("creating a consumer", cluster):
        return confluent_kafka.Consumer(conf)


def producer(cluster: ClusterSettings | None = None, **overrides: Any) -> Producer:
    """An idempotent acks=all producer that partitions keys as Java and KafkaJS do."""
    cluster = cluster_settings(cluster)
    conf = cluster.librdkafka_config()
    conf.update({"enable.idempotence": True, "acks": "all", "partitioner": "murmur2_random"})
    conf.update(overrides)
    with translated("creating a producer", cluster):
        return confluent_kafka.Producer(conf)
