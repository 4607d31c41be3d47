"""Operator-readable errors: every librdkafka failure leaves the Kafka package as one of these.

librdkafka tells a request only "timed out" or "transport failure" when the brokers refuse the
login, the TLS handshake or the protocol; the cause goes to the client's error callback and log.
`ConnectionEvents` keeps those per connection, and a failure that looks like "unreachable" is
explained from them: authentication, TLS, protocol mismatch, each naming what to fix.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

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


AUTHORIZATION_CODES = {
    confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED: "topic",
    confluent_kafka.KafkaError.GROUP_AUTHORIZATION_FAILED: "group",
    confluent_kafka.KafkaError.CLUSTER_AUTHORIZATION_FAILED: "cluster",
    confluent_kafka.KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "transactional id",
}


class KafkaClientError(Exception):
    """A Kafka operation failed; the message is written for an operator.

    `reason` is a few words without hosts or names, for places that must not show them (/readyz).
    """

    def __init__(self, message: str, *, code: str | None = None, retriable: bool = False, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.retriable = retriable
        self.reason = reason or (code or "failed")


class KafkaUnavailable(KafkaClientError):
    """No broker answered: the cluster is down, unreachable or misconfigured."""


class ConnectionRefused(KafkaUnavailable):
    """The brokers answered but refused the connection: login, TLS handshake or protocol. Not retriable."""


class AuthorizationFailed(KafkaClientError):
    """The user is logged in but lacks an ACL for this operation on this resource."""


class NotEnoughReplicas(KafkaClientError):
    """acks=all could not be met: fewer in-sync replicas than min.insync.replicas."""


# "sasl_ssl://127.0.0.1:9192/1: ..." or "127.0.0.1:9092/bootstrap: ...": the broker a line is about.
BROKER_IN_TEXT = re.compile(r"([\w.-]+|\[[0-9a-fA-F:]+\]):(\d+)/(?:\d+|bootstrap)")
# How long an error callback's event explains a failure: a request waits at most a few timeouts.
EVENT_WINDOW_SECONDS = 120.0


class ConnectionEvents:
    """The recent refusals librdkafka reported for one connection (error callback and FAIL logs)."""

    def __init__(self) -> None:
        self._events: deque[tuple[float, str, str]] = deque(maxlen=50)
        self._lock = threading.Lock()
        # Admin clients serve their callbacks only in poll(): polled before explaining a failure.
        self._pollable: weakref.WeakSet[Any] = weakref.WeakSet()

    def on_error(self, error: confluent_kafka.KafkaError) -> None:
        if error.code() in (confluent_kafka.KafkaError._AUTHENTICATION, confluent_kafka.KafkaError._SSL):
            self._add(error.name(), error.str())
        elif error.code() == confluent_kafka.KafkaError._TRANSPORT and "PLAINTEXT broker listener" in error.str():
            self._add("PLAINTEXT_LISTENER", error.str())

    def on_log(self, text: str) -> None:
        # A TLS or SASL listener hangs up on a plaintext client's first request, and says nothing else.
        if "closed by peer" in text and "APIVERSION_QUERY" in text:
            self._add("CLOSED_AT_FIRST_REQUEST", text)

    def _add(self, kind: str, text: str) -> None:
        with self._lock:
            self._events.append((time.monotonic(), kind, text))

    def watch(self, client: Any) -> None:
        self._pollable.add(client)

    def recent(self) -> list[tuple[str, str]]:
        for client in list(self._pollable):
            client.poll(0)
        since = time.monotonic() - EVENT_WINDOW_SECONDS
        with self._lock:
            return [(kind, text) for at, kind, text in self._events if at >= since]


class EventLogger:
    """librdkafka's `logger`: forwards to the librdkafka Python logger and notes refusals."""

    def __init__(self, logger: logging.Logger, events: ConnectionEvents) -> None:
        self.logger = logger
        self.events = events

    def log(self, level: int, message: str, *args: Any) -> None:
        self.events.on_log(message % args if args else message)
        self.logger.log(level, message, *args)


_EVENTS: dict[tuple[object, ...], ConnectionEvents] = {}
_EVENTS_LOCK = threading.Lock()


def connection_events(cluster: ClusterSettings) -> ConnectionEvents:
    """The events of this connection: same servers, protocol, user, password and CA file."""
    key = (
        cluster.bootstrap_servers,
        cluster.security_protocol,
        cluster.sasl_mechanism,
        cluster.sasl_username,
        hash(cluster.sasl_password),  # a changed password is a new connection; the hash stays in memory
        cluster.ssl_ca_location,
    )
    with _EVENTS_LOCK:
        return _EVENTS.setdefault(key, ConnectionEvents())


def explain_refusal(what: str, cluster: ClusterSettings) -> ConnectionRefused | None:
    """A failure that looked like "unreachable", explained by what the brokers refused, if they did."""
    events = connection_events(cluster).recent()
    for kind, explain in (
        ("_AUTHENTICATION", _authentication_failed),
        ("_SSL", _tls_failed),
        ("PLAINTEXT_LISTENER", _tls_to_plaintext),
        ("CLOSED_AT_FIRST_REQUEST", _plaintext_to_tls),
    ):
        texts = [text for event, text in events if event == kind]
        if texts and (message := explain(cluster, _brokers_in(texts))):
            return ConnectionRefused(f"{message} (while {what})", code=kind.lstrip("_"), reason=_REASONS[kind])
    return None


_REASONS = {
    "_AUTHENTICATION": "authentication failed",
    "_SSL": "TLS handshake failed",
    "PLAINTEXT_LISTENER": "protocol mismatch",
    "CLOSED_AT_FIRST_REQUEST": "protocol mismatch",
}


def _brokers_in(texts: list[str]) -> str:
    found = dict.fromkeys(f"{m.group(1)}:{m.group(2)}" for text in texts if (m := BROKER_IN_TEXT.search(text)))
    return ", ".join(found) or "the bootstrap servers"


def _authentication_failed(cluster: ClusterSettings, brokers: str) -> str:
    return (
        f"Kafka authentication failed for user {cluster.sasl_username} with mechanism {cluster.sasl_mechanism} "
        f"on {brokers}. Check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM against the "
        "user's credentials on the cluster"
    )


def _tls_failed(cluster: ClusterSettings, brokers: str) -> str:
    ca = (
        f"the CA file {cluster.ssl_ca_location} (KAFKA_SSL_CA_LOCATION)"
        if cluster.ssl_ca_location
        else "the system's CA certificates, as KAFKA_SSL_CA_LOCATION is not set"
    )
    return (
        f"The TLS handshake with {brokers} failed: the brokers' certificate could not be verified with {ca}. "
        "Point KAFKA_SSL_CA_LOCATION at the CA that signed the brokers' certificates"
    )


def _tls_to_plaintext(cluster: ClusterSettings, brokers: str) -> str:
    return (
        f"Protocol mismatch: KAFKA_SECURITY_PROTOCOL={cluster.security_protocol} starts TLS, but {brokers} "
        "closed the TLS handshake: it looks like a PLAINTEXT listener. Point KAFKA_BOOTSTRAP_SERVERS at the "
        f"{cluster.security_protocol} listener, or set KAFKA_SECURITY_PROTOCOL to what this one speaks"
    )


def _plaintext_to_tls(cluster: ClusterSettings, brokers: str) -> str | None:
    if cluster.security_protocol not in ("PLAINTEXT", "SASL_PLAINTEXT"):
        return None
    return (
        f"Protocol mismatch: KAFKA_SECURITY_PROTOCOL={cluster.security_protocol}, but {brokers} hung up on "
        "the first request: it looks like an SSL or SASL_SSL listener. Set KAFKA_SECURITY_PROTOCOL (and the "
        "SASL/SSL settings) to what it speaks, or point KAFKA_BOOTSTRAP_SERVERS at the plaintext listener"
    )


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
        return explain_refusal(what, cluster) or KafkaUnavailable(
            f"Kafka unreachable: {what} failed on {cluster.bootstrap_servers} ({name}: {detail}). " + _hint(cluster),
            code=name,
            retriable=True,
            reason="unreachable",
        )
    if code in AUTHORIZATION_CODES:
        kind, user = AUTHORIZATION_CODES[code], cluster.sasl_username or "ANONYMOUS"
        return AuthorizationFailed(
            f"Not authorized: {what} was refused, {kind} authorization failed for user {user} ({name}). "
            f"An ACL is missing: grant {user} this operation on that {kind}",
            code=name,
            reason=f"not authorized ({name})",
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
        raise explain_refusal(what, cluster) or KafkaUnavailable(
            f"Kafka did not answer in time: {what} on {cluster.bootstrap_servers}. " + _hint(cluster),
            code="TIMED_OUT",
            retriable=True,
            reason="unreachable",
        ) from exc
