"""Operator-readable errors: every librdkafka failure leaves the Kafka package as one of these."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import confluent_kafka

if TYPE_CHECKING:
    from opsportal.kafka.clients import ClusterSettings

UNREACHABLE_CODES = {
    confluent_kafka.KafkaError._TRANSPORT,
    confluent_kafka.KafkaError._TIMED_OUT,
    confluent_kafka.KafkaError._ALL_BROKERS_DOWN,
    confluent_kafka.KafkaError._RESOLVE,
}
NOT_ENOUGH_REPLICAS_CODES = {
    confluent_kafka.KafkaError.NOT_ENOUGH_REPLICAS,
    confluent_kafka.KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
}


class KafkaClientError(Exception):
    """A Kafka operation failed; the message is written for an operator."""

    def __init__(self, message: str, *, code: str | None = None, retriable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retriable = retriable


class KafkaUnavailable(KafkaClientError):
    """No broker answered: the cluster is down, unreachable or misconfigured."""


class NotEnoughReplicas(KafkaClientError):
    """acks=all could not be met: fewer in-sync replicas than min.insync.replicas."""


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
    code, name, detail = kafka_error.code(), kafka_error.name(), kafka_error.str()
    if code in UNREACHABLE_CODES:
        return KafkaUnavailable(
            f"Kafka unreachable: {what} failed on {cluster.bootstrap_servers} ({name}: {detail}). " + _hint(cluster),
            code=name,
            retriable=True,
        )
    if code in NOT_ENOUGH_REPLICAS_CODES:
        return NotEnoughReplicas(
            f"{what} failed: not enough in-sync replicas ({name}). Fewer brokers hold the "
            "partition than min.insync.replicas requires; bring the stopped brokers back, then retry.",
            code=name,
            retriable=True,
        )
    return KafkaClientError(
        f"{what} failed on {cluster.bootstrap_servers}: {name}: {detail}",
        code=name,
        retriable=bool(kafka_error.retriable()),
    )


@contextmanager
def translated(what: str, cluster: ClusterSettings) -> Iterator[None]:
    try:
        yield
    except confluent_kafka.KafkaException as exc:  # KafkaError is a value, never raised
        raise translate_error(exc, what, cluster) from exc
    except concurrent.futures.TimeoutError as exc:
        # An admin future that outlived its wait: the brokers are slow or gone.
        raise KafkaUnavailable(
            f"Kafka did not answer in time: {what} on {cluster.bootstrap_servers}. " + _hint(cluster),
            code="TIMED_OUT",
            retriable=True,
        ) from exc
