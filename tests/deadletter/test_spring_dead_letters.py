"""Dead letters written by the real Spring Kafka (spring-kafka from Maven Central), drained and decoded.

SpringDeadLetters.java runs Spring's listener containers with ErrorHandlingDeserializer on key and value
and its DeadLetterPublishingRecoverer against the real cluster: a value that fails to deserialize, a key
that fails to deserialize, a listener exception with a nested cause, and a record dead-lettered twice.
What Spring wrote is read back from the dead-letter topic by Kafka's Java consumer, and every field the
drain decoded is compared with those headers.
"""

from __future__ import annotations

import pytest

from deadletter.models import DeadLetterRecord

from .spring_kafka import WrittenRecord, write_dead_letters

pytestmark = pytest.mark.django_db

DESERIALIZATION_EXCEPTION = "org.springframework.kafka.support.serializer.DeserializationException"
LISTENER_FAILED = "org.springframework.kafka.listener.ListenerExecutionFailedException"
DECODED_FIELDS = (
    "convention",
    "original_topic",
    "original_partition",
    "original_offset",
    "original_timestamp_ms",
    "consumer_group",
    "error_type",
    "error_message",
    "stack_trace",
    "retry_count",
    "failed_at",
    "decode_error",
)


def text(value: bytes | None) -> str:
    return "" if value is None else value.decode()


def as_spring_wrote_it(record: WrittenRecord) -> dict:
    """Every decoded field, taken straight from the headers Spring wrote (ByteBuffer.putInt/putLong for
    numbers, UTF-8 for the rest); the first kafka_dlt-original-* is the true origin. Spring writes a key's
    failure under kafka_dlt-key-exception-* and then no kafka_dlt-exception-fqcn."""

    def first(name: str) -> bytes | None:
        values = record.values(name)
        return values[0] if values else None

    def last(name: str) -> bytes | None:
        values = record.values(name)
        return values[-1] if values else None

    def number(name: str) -> int | None:
        value = first(name)
        return None if value is None else int.from_bytes(value, "big", signed=True)

    error = "kafka_dlt-" if record.values("kafka_dlt-exception-fqcn") else "kafka_dlt-key-"
    return {
        "convention": "spring-kafka",
        "original_topic": text(first("kafka_dlt-original-topic")),
        "original_partition": number("kafka_dlt-original-partition"),
        "original_offset": number("kafka_dlt-original-offset"),
        "original_timestamp_ms": number("kafka_dlt-original-timestamp"),
        "consumer_group": text(first("kafka_dlt-original-consumer-group")),
        # Spring's wrapper says nothing about the failure: its cause class is the error type.
        "error_type": text(
            last("kafka_dlt-exception-cause-fqcn")
            if text(last(f"{error}exception-fqcn")) == LISTENER_FAILED and last("kafka_dlt-exception-cause-fqcn")
            else last(f"{error}exception-fqcn")
        ),
        "error_message": text(last(f"{error}exception-message")),
        "stack_trace": text(last(f"{error}exception-stacktrace")),
        "retry_count": None,
        "failed_at": None,
        "decode_error": "",
    }


def test_dead_letters_written_by_spring_kafka_are_decoded_as_spring_wrote_them(
    make_topic, group_names, cluster, dlq_topic, drain
):
    source, hop = make_topic(prefix="test.spring.source"), make_topic(prefix="test.spring.hop")
    group, hop_group = group_names("test-spring"), group_names("test-spring-hop")

    run = write_dead_letters(cluster.bootstrap_servers, source, hop, dlq_topic, group, hop_group)
    assert drain().inserted == 4

    written = {record.key: record for record in run.records}
    assert sorted(written) == [b"acc_1001", b"acc_3003", b"acc_4004", b"acc_x2002"]
    rows = {bytes(row.key): row for row in DeadLetterRecord.objects.filter(dlq_topic=dlq_topic)}
    mismatches = []
    for key, record in written.items():
        row = rows[key]
        # The drain keeps what Kafka holds: every header, in order, and the position.
        assert row.raw_headers() == record.headers, key
        assert (row.partition, row.offset) == (record.partition, record.offset), key
        expected = as_spring_wrote_it(record)
        decoded = {name: getattr(row, name) for name in DECODED_FIELDS}
        mismatches += [
            (key, name, decoded[name], expected[name]) for name in DECODED_FIELDS if decoded[name] != expected[name]
        ]
    assert mismatches == [], f"decoded differently from Spring's headers (Java took {run.seconds:.1f}s)"

    # Each case is the one it claims to be, and the decoded fields say so.
    value, key_failure = rows[b"acc_1001"], rows[b"acc_x2002"]
    assert (value.error_type, value.error_message) == (DESERIALIZATION_EXCEPTION, "failed to deserialize")
    assert "Caused by: org.apache.kafka.common.errors.SerializationException: not a JSON event" in value.stack_trace

    # The key's failure: only the key variant of the exception headers, plus the shared cause class.
    spring_key_headers = written[b"acc_x2002"]
    assert [name for name, _ in spring_key_headers.headers if "exception" in name] == [
        "kafka_dlt-key-exception-fqcn",
        "kafka_dlt-exception-cause-fqcn",
        "kafka_dlt-key-exception-message",
        "kafka_dlt-key-exception-stacktrace",
    ]
    assert (key_failure.error_type, key_failure.error_message) == (DESERIALIZATION_EXCEPTION, "failed to deserialize")
    assert key_failure.stack_trace.startswith(f"{DESERIALIZATION_EXCEPTION}: failed to deserialize\n")
    # The cause classes stay: in the stack trace, and the cause header among the raw headers.
    assert "Caused by: org.apache.kafka.common.errors.SerializationException: not an account id: acc_x2002" in (
        key_failure.stack_trace
    )
    assert "Caused by: java.lang.NumberFormatException" in key_failure.stack_trace
    assert ("kafka_dlt-exception-cause-fqcn", DESERIALIZATION_EXCEPTION.encode()) in key_failure.raw_headers()
    assert (key_failure.original_topic, key_failure.original_offset, key_failure.consumer_group) == (source, 1, group)

    nested = rows[b"acc_3003"]
    assert (nested.error_type, nested.error_message) == (
        "java.lang.IllegalStateException",
        "Listener failed; ledger rejected account acc_3003",
    )
    assert ("kafka_dlt-exception-cause-fqcn", b"java.lang.IllegalStateException") in nested.raw_headers()
    assert nested.stack_trace.startswith(LISTENER_FAILED)  # the wrapper stays visible on the record page
    assert "Caused by: java.lang.IllegalStateException: ledger rejected account acc_3003" in nested.stack_trace
    assert "Caused by: java.lang.ArithmeticException: balance 12 below 100" in nested.stack_trace

    # Twice: two sets of kafka_dlt-original-*; the first is the true origin, the exception the latest hop's.
    twice = written[b"acc_4004"]
    assert twice.values("kafka_dlt-original-topic") == [source.encode(), hop.encode()]
    assert twice.values("kafka_dlt-original-consumer-group") == [group.encode(), hop_group.encode()]
    row = rows[b"acc_4004"]
    assert (row.original_topic, row.original_offset, row.consumer_group) == (source, 3, group)
    assert row.error_message == "Listener failed; retry of acc_4004 failed again"
