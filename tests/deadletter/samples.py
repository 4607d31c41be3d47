"""Dead-letter records as each producer family really writes them (shared by tests and bench)."""

from __future__ import annotations

import json
import uuid

Headers = list[tuple[str, bytes | None]]


def int32(number: int) -> bytes:
    """Java DataOutput.writeInt / ByteBuffer.putInt: 4 bytes big-endian."""
    return number.to_bytes(4, "big", signed=True)


def int64(number: int) -> bytes:
    """Java ByteBuffer.putLong: 8 bytes big-endian."""
    return number.to_bytes(8, "big", signed=True)


def big_integer(number: int) -> bytes:
    """Java BigInteger.toByteArray(): minimal two's complement, big-endian."""
    return number.to_bytes(number.bit_length() // 8 + 1, "big", signed=True)


def billing_event(account: str = "acc_42", amount: str = "100.00", padding: int = 0) -> bytes:
    event = {
        "eventId": str(uuid.uuid4()),
        "eventType": "TransactionCompleted",
        "aggregateId": account,
        "aggregateType": "Account",
        "version": 7,
        "occurredAt": "2026-11-24T10:00:00Z",
        "payload": {"amount": amount, "currency": "USD", "note": "x" * padding},
        "metadata": {"correlationId": "corr-1", "sagaId": "saga-9"},
    }
    return json.dumps(event).encode()


def billing_headers(offset: int = 1234, message: str = "balance 12 below 100 on acc_42") -> Headers:
    return [
        ("x-original-topic", b"billing.transaction.events"),
        ("x-original-partition", b"3"),
        ("x-original-offset", str(offset).encode()),
        ("x-original-timestamp", b"1764000000000"),
        ("x-consumer-group", b"ledger-service"),
        ("x-error-type", b"InsufficientFundsError"),
        ("x-error-message", message.encode()),
        ("x-error-stack", b"InsufficientFundsError: balance\n    at Ledger.apply (ledger.js:10:5)"),
        ("x-failed-at", b"2026-11-24T10:00:05.123Z"),
        ("x-retry-count", b"3"),
    ]


def spring_kafka_headers(offset: int = 12345678) -> Headers:
    return [
        ("kafka_dlt-original-topic", b"billing.account.events"),
        ("kafka_dlt-original-partition", int32(7)),
        ("kafka_dlt-original-offset", int64(offset)),
        ("kafka_dlt-original-timestamp", int64(1764000000123)),
        ("kafka_dlt-original-timestamp-type", b"CreateTime"),
        ("kafka_dlt-original-consumer-group", b"accounts"),
        ("kafka_dlt-exception-fqcn", b"org.springframework.kafka.listener.ListenerExecutionFailedException"),
        ("kafka_dlt-exception-cause-fqcn", b"java.lang.IllegalStateException"),
        ("kafka_dlt-exception-message", b"Listener failed; account 991 locked"),
        ("kafka_dlt-exception-stacktrace", b"java.lang.IllegalStateException: locked\n\tat A.b(A.java:1)"),
    ]


def spring_retry_headers() -> Headers:
    return [
        ("kafka_original-topic", b"billing.saga.events"),
        ("kafka_original-partition", int32(2)),
        ("kafka_original-offset", int64(77)),
        ("kafka_original-timestamp", int64(1764000000999)),
        ("kafka_original-consumer-group", b"saga-orchestrator"),
        ("kafka_exception-fqcn", b"java.net.SocketTimeoutException"),
        ("kafka_exception-message", b"Read timed out after 3000 ms"),
        ("kafka_exception-stacktrace", b"java.net.SocketTimeoutException: Read timed out"),
        ("retry_topic-attempts", int32(4)),
        ("retry_topic-original-timestamp", big_integer(1764000000999)),
        ("retry_topic-backoff-timestamp", big_integer(1764000004000)),
    ]


def spring_cloud_stream_headers() -> Headers:
    return [
        ("x-original-topic", b"billing.account.events"),
        ("x-original-partition", int32(5)),
        ("x-original-offset", int64(3_000_000_000)),
        ("x-original-timestamp", int64(1764000000500)),
        ("x-original-timestamp-type", b"CreateTime"),
        ("x-exception-fqcn", b"org.springframework.messaging.MessageHandlingException"),
        ("x-exception-message", b"error occurred in message handler"),
        ("x-exception-stacktrace", b"org.springframework.messaging.MessageHandlingException: error"),
    ]


def kafka_connect_headers() -> Headers:
    return [
        ("__connect.errors.topic", b"billing.transaction.events"),
        ("__connect.errors.partition", b"9"),
        ("__connect.errors.offset", b"12345678"),
        ("__connect.errors.connector.name", b"ledger-jdbc-sink"),
        ("__connect.errors.task.id", b"0"),
        ("__connect.errors.stage", b"VALUE_CONVERTER"),
        ("__connect.errors.class.name", b"org.apache.kafka.connect.json.JsonConverter"),
        ("__connect.errors.exception.class.name", b"org.apache.kafka.connect.errors.DataException"),
        ("__connect.errors.exception.message", b"Converting byte[] to Kafka Connect data failed"),
        ("__connect.errors.exception.stacktrace", b"org.apache.kafka.connect.errors.DataException: failed"),
    ]


def kafka_streams_headers() -> Headers:
    return [
        ("__streams.errors.exception", b"org.apache.kafka.common.errors.SerializationException"),
        ("__streams.errors.message", None),
        ("__streams.errors.stacktrace", b"SerializationException\n\tat x"),
        ("__streams.errors.topic", b"billing.saga.events"),
        ("__streams.errors.partition", b"4"),
        ("__streams.errors.offset", b"-1"),
    ]


def smallrye_headers() -> Headers:
    return [
        ("dead-letter-reason", b"Payment rejected for order 55"),
        ("dead-letter-cause", b"timeout"),
        ("dead-letter-exception-class-name", b"io.smallrye.reactive.messaging.ProcessingException"),
        ("dead-letter-cause-class-name", b"java.util.concurrent.TimeoutException"),
        ("dead-letter-topic", b"billing.transaction.events"),
        ("dead-letter-partition", b"1"),
        ("dead-letter-offset", b"42"),
    ]


def karafka_headers() -> Headers:
    return [
        ("source_topic", b"billing.account.events"),
        ("source_partition", b"6"),
        ("source_offset", b"100"),
        ("source_consumer_group", b"karafka-app"),
    ]


MIXED = (
    billing_headers,
    spring_kafka_headers,
    spring_retry_headers,
    spring_cloud_stream_headers,
    kafka_connect_headers,
    kafka_streams_headers,
    smallrye_headers,
    karafka_headers,
)
