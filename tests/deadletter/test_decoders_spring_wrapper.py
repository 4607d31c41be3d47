"""Spring's ListenerExecutionFailedException is a wrapper: the error type is its cause class (no Kafka)."""

from __future__ import annotations

from deadletter import decoders
from tests.deadletter import samples
from tests.deadletter.test_decoders_spring_keys import DESER, key_failure, origin

WRAPPER = "org.springframework.kafka.listener.ListenerExecutionFailedException"


def test_a_wrapped_failure_takes_its_type_and_fingerprint_from_the_cause():
    decoded = decoders.decode_headers(samples.spring_kafka_headers())
    assert decoded.error_type == "java.lang.IllegalStateException"
    assert decoded.error_message == "Listener failed; account 991 locked"  # as Spring wrote it
    assert decoded.error_cause == "java.lang.IllegalStateException"
    other = [*samples.spring_kafka_headers()[:-4], ("kafka_dlt-exception-fqcn", WRAPPER.encode())]
    other += [("kafka_dlt-exception-cause-fqcn", b"org.springframework.dao.DataIntegrityViolationException")]
    other += samples.spring_kafka_headers()[-2:]
    assert decoders.decode_headers(other).error_type == "org.springframework.dao.DataIntegrityViolationException"
    assert decoders.fingerprint(decoded.error_type, decoded.error_message) != decoders.fingerprint(
        decoders.decode_headers(other).error_type, decoded.error_message
    )


def test_a_wrapper_without_a_cause_header_stays_the_error_type():
    headers = [h for h in samples.spring_kafka_headers() if h[0] != "kafka_dlt-exception-cause-fqcn"]
    assert decoders.decode_headers(headers).error_type == WRAPPER


def test_a_key_deserialization_failure_is_the_real_failure_not_unwrapped():
    decoded = decoders.decode_headers([*key_failure(), *origin()])
    assert decoded.error_type == DESER.decode()


def test_a_cause_beside_a_non_wrapper_changes_nothing():
    headers = [
        ("kafka_dlt-original-topic", b"billing.account.events"),
        ("kafka_dlt-exception-fqcn", b"java.lang.IllegalArgumentException"),
        ("kafka_dlt-exception-cause-fqcn", b"java.lang.NumberFormatException"),
    ]
    assert decoders.decode_headers(headers).error_type == "java.lang.IllegalArgumentException"
