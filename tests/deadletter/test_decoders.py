"""Each producer family's headers decoded as pure functions on bytes: fast, no broker, no database.

The same samples go through the real broker and the drain in test_drain_conventions.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from deadletter import decoders
from tests.deadletter import samples


def test_billing_text_headers_are_read_as_decimal_text_whatever_their_length():
    decoded = decoders.decode_headers(samples.billing_headers(offset=12345678))
    assert (decoded.convention, decoded.original_topic, decoded.original_partition) == (
        "billing",
        "billing.transaction.events",
        3,
    )
    assert (decoded.original_offset, decoded.original_timestamp_ms) == (12345678, 1764000000000)
    assert (decoded.consumer_group, decoded.error_type, decoded.retry_count) == (
        "ledger-service",
        "InsufficientFundsError",
        3,
    )
    assert decoded.failed_at == datetime(2026, 11, 24, 10, 0, 5, 123000, tzinfo=UTC)
    assert decoded.errors == []


def test_spring_kafka_partition_and_offset_are_big_endian_even_when_they_look_like_text():
    decoded = decoders.decode_headers(samples.spring_kafka_headers(offset=0x3132333435363738))
    assert decoded.convention == "spring-kafka"
    assert (decoded.original_partition, decoded.original_offset) == (7, 0x3132333435363738)
    assert decoded.original_timestamp_ms == 1764000000123


def test_spring_retry_topic_attempts_in_four_bytes_or_one():
    assert decoders.decode_headers(samples.spring_retry_headers()).retry_count == 4
    old = [h for h in samples.spring_retry_headers() if h[0] != "retry_topic-attempts"]
    assert decoders.decode_headers([*old, ("retry_topic-attempts", b"\x03")]).retry_count == 3


def test_spring_cloud_stream_x_original_headers_are_binary():
    decoded = decoders.decode_headers(samples.spring_cloud_stream_headers())
    assert decoded.convention == "spring-cloud-stream"
    assert (decoded.original_partition, decoded.original_offset) == (5, 3_000_000_000)


def test_kafka_connect_streams_smallrye_and_karafka_are_recognised():
    assert decoders.decode_headers(samples.kafka_connect_headers()).original_offset == 12345678
    streams = decoders.decode_headers(samples.kafka_streams_headers())
    assert (streams.convention, streams.original_offset, streams.error_message) == ("kafka-streams", None, "")
    assert decoders.decode_headers(samples.smallrye_headers()).original_offset == 42
    assert decoders.decode_headers(samples.karafka_headers()).consumer_group == "karafka-app"


def test_a_value_of_the_wrong_length_is_noted_never_raised():
    headers = samples.spring_kafka_headers()
    headers[2] = ("kafka_dlt-original-offset", b"123")
    decoded = decoders.decode_headers(headers)
    assert decoded.original_offset is None
    assert any("expected a 8-byte big-endian integer, got 3 bytes" in error for error in decoded.errors)


def test_a_returned_replay_is_recognised_by_its_replay_id_and_a_bad_one_noted():
    replay = uuid.uuid4()
    assert decoders.decode_headers([("x-replay-id", str(replay).encode())]).replay_id == replay
    bad = decoders.decode_headers([("x-replay-id", b"not-a-uuid")])
    assert bad.replay_id is None and any("not a UUID" in error for error in bad.errors)


def test_unknown_headers_decode_to_nothing():
    decoded = decoders.decode_headers([("content-type", b"application/json")])
    assert (decoded.convention, decoded.original_topic, decoded.error_type) == ("unknown", "", "")
