"""Every producer convention, produced to the real broker with its real encoding, drained and decoded."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from deadletter.models import DeadLetterRecord, Review
from tests.deadletter import samples

pytestmark = pytest.mark.django_db


def drain_one(produce, drain, dlq_topic, headers, key=b"acc_42", value=b"{}") -> DeadLetterRecord:
    produce(dlq_topic, [(key, value, headers)])
    result = drain()
    assert result.inserted == 1
    return DeadLetterRecord.objects.get(dlq_topic=dlq_topic)


def test_it_reads_the_billing_text_headers_and_event_fields(produce, drain, dlq_topic):
    row = drain_one(produce, drain, dlq_topic, samples.billing_headers(offset=12345678), value=samples.billing_event())
    assert (row.convention, row.original_topic, row.original_partition) == ("billing", "billing.transaction.events", 3)
    # "12345678" is 8 characters, the length of a Java long: read as decimal text all the same.
    assert row.original_offset == 12345678
    assert row.original_timestamp_ms == 1764000000000
    assert (row.consumer_group, row.error_type, row.retry_count) == ("ledger-service", "InsufficientFundsError", 3)
    assert row.failed_at == datetime(2026, 11, 24, 10, 0, 5, 123000, tzinfo=UTC)
    assert "Ledger.apply" in row.stack_trace
    assert (row.account_id, row.event_type) == ("acc_42", "TransactionCompleted")
    assert (row.amount, row.currency) == ("100.00", "USD")
    assert (row.correlation_id, row.saga_id) == ("corr-1", "saga-9")
    assert row.event_id and row.decode_error == ""
    assert row.fingerprint and "#" in row.fingerprint_text


def test_it_reads_spring_kafka_big_endian_partition_and_offset(produce, drain, dlq_topic):
    row = drain_one(produce, drain, dlq_topic, samples.spring_kafka_headers(offset=0x3132333435363738))
    assert row.convention == "spring-kafka"
    assert (row.original_topic, row.original_partition) == ("billing.account.events", 7)
    # These 8 bytes are also the ASCII text "12345678": the family, not the length, decides.
    assert row.original_offset == 0x3132333435363738
    assert row.original_timestamp_ms == 1764000000123
    assert row.consumer_group == "accounts"
    assert row.error_type == "java.lang.IllegalStateException"  # the cause, not Spring's wrapper
    assert row.error_message == "Listener failed; account 991 locked"


def test_it_reads_spring_retry_topic_attempts_and_biginteger_timestamps(produce, drain, dlq_topic):
    row = drain_one(produce, drain, dlq_topic, samples.spring_retry_headers())
    assert row.convention == "spring-retry-topic"
    assert (row.original_topic, row.original_partition, row.original_offset) == ("billing.saga.events", 2, 77)
    assert (row.retry_count, row.error_type) == (4, "java.net.SocketTimeoutException")
    assert row.decode_error == ""


def test_it_reads_one_byte_attempts_from_old_spring_retry_topics(produce, drain, dlq_topic):
    headers = [h for h in samples.spring_retry_headers() if h[0] != "retry_topic-attempts"]
    row = drain_one(produce, drain, dlq_topic, [*headers, ("retry_topic-attempts", b"\x03")])
    assert row.retry_count == 3


def test_it_reads_spring_cloud_stream_binary_x_original_headers(produce, drain, dlq_topic):
    row = drain_one(produce, drain, dlq_topic, samples.spring_cloud_stream_headers())
    assert row.convention == "spring-cloud-stream"
    assert (row.original_partition, row.original_offset) == (5, 3_000_000_000)
    assert row.original_timestamp_ms == 1764000000500
    assert row.error_type == "org.springframework.messaging.MessageHandlingException"


def test_it_reads_kafka_connect_decimal_strings(produce, drain, dlq_topic):
    row = drain_one(produce, drain, dlq_topic, samples.kafka_connect_headers())
    assert row.convention == "kafka-connect"
    assert row.original_topic == "billing.transaction.events"
    assert (row.original_partition, row.original_offset) == (9, 12345678)
    assert row.error_type == "org.apache.kafka.connect.errors.DataException"


def test_it_reads_kafka_streams_with_a_null_message_and_unknown_offset(produce, drain, dlq_topic):
    row = drain_one(produce, drain, dlq_topic, samples.kafka_streams_headers())
    assert row.convention == "kafka-streams"
    assert (row.original_topic, row.original_partition, row.original_offset) == ("billing.saga.events", 4, None)
    assert row.error_message == ""
    assert row.headers[1] == ["__streams.errors.message", None]


def test_it_reads_smallrye_reason_and_cause(produce, drain, dlq_topic):
    row = drain_one(produce, drain, dlq_topic, samples.smallrye_headers())
    assert row.convention == "smallrye"
    assert (row.original_topic, row.original_partition, row.original_offset) == ("billing.transaction.events", 1, 42)
    assert row.error_message == "Payment rejected for order 55"
    assert "TimeoutException" in row.stack_trace


def test_it_reads_karafka_source_headers(produce, drain, dlq_topic):
    row = drain_one(produce, drain, dlq_topic, samples.karafka_headers())
    assert (row.convention, row.original_offset, row.consumer_group) == ("karafka", 100, "karafka-app")


def test_repeated_headers_take_the_first_as_the_true_origin_and_keep_all_raw(produce, drain, dlq_topic):
    second_hop = [
        ("kafka_dlt-original-topic", b"billing.retry.events"),
        ("kafka_dlt-original-partition", samples.int32(0)),
        ("kafka_dlt-original-offset", samples.int64(5)),
    ]
    headers = samples.spring_kafka_headers(offset=99) + second_hop + [("trace", None), ("trace", None)]
    row = drain_one(produce, drain, dlq_topic, headers)
    assert (row.original_topic, row.original_partition, row.original_offset) == ("billing.account.events", 7, 99)
    assert [name for name, _ in row.headers] == [name for name, _ in headers]
    assert row.raw_headers() == headers


def test_a_record_with_no_known_headers_is_stored_as_unknown(produce, drain, dlq_topic):
    row = drain_one(produce, drain, dlq_topic, [("content-type", b"application/json")])
    assert (row.convention, row.original_topic, row.error_type) == ("unknown", "", "")


def test_a_spring_header_of_the_wrong_length_is_written_on_the_row(produce, drain, dlq_topic):
    headers = samples.spring_kafka_headers()
    headers[2] = ("kafka_dlt-original-offset", b"123")  # text where Spring writes 8 bytes
    row = drain_one(produce, drain, dlq_topic, headers)
    assert row.original_offset is None
    assert "kafka_dlt-original-offset: expected a 8-byte big-endian integer, got 3 bytes" in row.decode_error
    assert base64.b64decode(row.headers[2][1]) == b"123"


def test_a_record_that_came_back_after_republish_flags_its_original(produce, drain, dlq_topic):
    import uuid

    from republish.models import Replay

    replay = uuid.uuid4()
    produce(dlq_topic, [(b"k", b"{}", samples.billing_headers())])
    drain()
    (original,) = DeadLetterRecord.objects.filter(dlq_topic=dlq_topic)
    # As a republish leaves it: the replay is found by its id in the Replay table.
    Replay.objects.create(
        replay_id=replay, record=original, state="republished", target_topic="t", target_partition=0, start_offset=0
    )
    Review.objects.filter(pk=original.pk).update(replay_id=replay, status="republished")
    produce(dlq_topic, [(b"k", b"{}", [*samples.billing_headers(), ("x-replay-id", str(replay).encode())])])
    drain()
    original, returned = DeadLetterRecord.objects.filter(dlq_topic=dlq_topic).order_by("offset")
    assert returned.returned_replay_id == replay
    original.refresh_from_db()
    assert original.failed_again
