"""Spring's dead letters for keys that failed to deserialize, decoded from bytes (no Kafka, no database).

Header names and order as Spring Kafka 4.1's DeadLetterPublishingRecoverer writes them (seen on the real
cluster by test_spring_dead_letters.py): for a key it writes kafka_dlt-key-exception-fqcn, the shared
kafka_dlt-exception-cause-fqcn, kafka_dlt-key-exception-message and -stacktrace, and no value variant.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from deadletter import decoders

Headers = list[tuple[str, bytes | None]]

DESER = b"org.springframework.kafka.support.serializer.DeserializationException"
KEY_STACK = (
    b"org.springframework.kafka.support.serializer.DeserializationException: failed to deserialize\n"
    b"\tat org.springframework.kafka.support.serializer.SerializationUtils.deserializationException(...)\n"
    b"Caused by: org.apache.kafka.common.errors.SerializationException: not an account id: acc_x2002\n"
    b'Caused by: java.lang.NumberFormatException: For input string: "x2002"\n'
)


def origin(topic: bytes = b"billing.account.events", offset: int = 41, group: bytes = b"accounts") -> Headers:
    return [
        ("kafka_dlt-original-topic", topic),
        ("kafka_dlt-original-partition", (6).to_bytes(4, "big")),
        ("kafka_dlt-original-offset", offset.to_bytes(8, "big")),
        ("kafka_dlt-original-timestamp", (1764000000123).to_bytes(8, "big")),
        ("kafka_dlt-original-timestamp-type", b"CreateTime"),
        ("kafka_dlt-original-consumer-group", group),
    ]


def key_failure(prefix: str = "kafka_dlt-", message: bytes = b"failed to deserialize") -> Headers:
    return [
        (f"{prefix}key-exception-fqcn", DESER),
        (f"{prefix}exception-cause-fqcn", DESER),
        (f"{prefix}key-exception-message", message),
        (f"{prefix}key-exception-stacktrace", KEY_STACK),
    ]


def value_failure(fqcn: bytes, message: bytes, stack: bytes, cause: bytes | None = None) -> Headers:
    return [
        ("kafka_dlt-exception-fqcn", fqcn),
        ("kafka_dlt-exception-cause-fqcn", cause or fqcn),
        ("kafka_dlt-exception-message", message),
        ("kafka_dlt-exception-stacktrace", stack),
    ]


def test_a_key_that_failed_to_deserialize_gives_type_message_and_stack_trace():
    headers = [("traceparent", b"00-abc"), *key_failure(), *origin()]
    decoded = decoders.decode_headers(headers)
    assert decoded.convention == "spring-kafka"
    assert decoded.error_type == DESER.decode()
    assert decoded.error_message == "failed to deserialize"
    assert decoded.stack_trace == KEY_STACK.decode()
    # The cause classes are kept in the stack trace (the cause header stays among the raw headers).
    assert "Caused by: org.apache.kafka.common.errors.SerializationException: not an account id" in decoded.stack_trace
    assert (decoded.original_topic, decoded.original_partition, decoded.original_offset) == (
        "billing.account.events",
        6,
        41,
    )
    assert (decoded.original_timestamp_ms, decoded.consumer_group) == (1764000000123, "accounts")
    assert decoded.errors == []


def test_a_key_failure_without_original_headers_is_still_spring_kafka():
    """setHeadersToAdd can leave the kafka_dlt-original-* out; the key exception alone marks the family."""
    decoded = decoders.decode_headers(key_failure())
    assert (decoded.convention, decoded.error_type, decoded.original_topic) == ("spring-kafka", DESER.decode(), "")


def test_a_key_failure_without_a_message_leaves_the_message_blank():
    """Spring writes no message header when the exception has none."""
    headers = [h for h in key_failure() if h[0] != "kafka_dlt-key-exception-message"] + origin()
    decoded = decoders.decode_headers(headers)
    assert (decoded.error_type, decoded.error_message, decoded.stack_trace) == (DESER.decode(), "", KEY_STACK.decode())


def test_key_and_value_failing_together_read_the_value_variant():
    """Spring writes the key variant, then the value one, in one hop: as before the fix, the value is read."""
    value = value_failure(DESER, b"failed to deserialize", b"value stack")
    decoded = decoders.decode_headers([*key_failure(), *value, *origin()])
    assert (decoded.error_type, decoded.stack_trace) == (DESER.decode(), "value stack")


def test_a_key_failure_on_a_later_hop_wins_over_an_earlier_value_failure():
    """Spring replaces only the exception headers of the variant it writes: the other hop's variant stays."""
    first_hop = [*value_failure(b"java.lang.IllegalStateException", b"hop one", b"stack one"), *origin()]
    decoded = decoders.decode_headers([*first_hop, *key_failure(), *origin(b"billing.account.events-dlt", 0)])
    assert (decoded.error_type, decoded.error_message, decoded.stack_trace) == (
        DESER.decode(),
        "failed to deserialize",
        KEY_STACK.decode(),
    )
    assert (decoded.original_topic, decoded.original_offset) == ("billing.account.events", 41)  # the true origin


def test_a_value_failure_on_a_later_hop_wins_over_an_earlier_key_failure():
    later = value_failure(b"org.springframework.kafka.listener.ListenerExecutionFailedException", b"hop two", b"s2")
    headers = [*key_failure(), *origin(), *later, *origin(b"billing.account.events-dlt", 0)]
    decoded = decoders.decode_headers(headers)
    assert (decoded.error_type, decoded.error_message, decoded.stack_trace) == (
        "org.springframework.kafka.listener.ListenerExecutionFailedException",
        "hop two",
        "s2",
    )


def test_retryable_topic_dead_letters_read_kafka_key_exception_headers():
    """@RetryableTopic's recoverer names the key variant kafka_key-exception-* (its DLPR factory)."""
    headers = [
        ("kafka_original-topic", b"billing.saga.events"),
        ("kafka_original-partition", (2).to_bytes(4, "big")),
        ("kafka_original-offset", (77).to_bytes(8, "big")),
        *key_failure(prefix="kafka_"),
        ("retry_topic-attempts", (1).to_bytes(4, "big")),
    ]
    decoded = decoders.decode_headers(headers)
    assert decoded.convention == "spring-retry-topic"
    assert (decoded.error_type, decoded.error_message, decoded.stack_trace) == (
        DESER.decode(),
        "failed to deserialize",
        KEY_STACK.decode(),
    )
    assert (decoded.original_topic, decoded.retry_count) == ("billing.saga.events", 1)


def test_the_headers_table_shows_the_key_exception_headers_as_text():
    for name, value in key_failure():
        assert decoders.describe_header("spring-kafka", name, value) == value.decode()


def test_a_key_exception_header_that_is_not_utf8_is_noted_on_the_row():
    headers = [*origin(), ("kafka_dlt-key-exception-fqcn", b"bad \xff class")]
    decoded = decoders.decode_headers(headers)
    assert decoded.error_type == "bad \ufffd class"
    assert decoded.errors == ["kafka_dlt-key-exception-fqcn: not UTF-8, shown with replacement characters"]


SPRING_NAMES = [name for name, _ in [*origin(), *key_failure(), *key_failure("kafka_")]] + [
    "kafka_dlt-exception-fqcn",
    "kafka_dlt-exception-message",
    "kafka_dlt-exception-stacktrace",
    "kafka_original-topic",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SPRING_NAMES), st.one_of(st.none(), st.binary(max_size=20))), max_size=20))
def test_any_mix_of_key_and_value_exception_headers_decodes_without_raising(headers):
    decoded = decoders.decode_headers(headers)
    assert not [error for error in decoded.errors if error.startswith("decoder failed")]
    assert decoded.convention in decoders.FAMILIES
