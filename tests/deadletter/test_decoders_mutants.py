"""What the sample-based decoder tests leave open (found by ./dev mutants): each reader's exact
value and note, the family chosen by each marker header, the key/value error variants, the
column limits, the headers table and the business fields. Pure functions on bytes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from deadletter import decoders
from deadletter.decoders import _Names


@pytest.fixture(autouse=True)
def _no_cached_answers():
    # _plan and fingerprint are memoised: a result cached by an earlier test must not answer for this one.
    decoders._plan.cache_clear()
    decoders.fingerprint.cache_clear()
    yield
    decoders._plan.cache_clear()
    decoders.fingerprint.cache_clear()


def read(reader, value):
    errors: list[str] = []
    return reader(value, errors, "h"), errors


def test_names_know_their_first_and_last_place():
    names = _Names(["a", "b", "a", "c"])
    assert names.first == {"a": 0, "b": 1, "c": 3}
    assert names.last == {"a": 2, "b": 1, "c": 3}
    assert "b" in names and "d" not in names
    assert names.has_prefix("c") and not names.has_prefix("x")


def test_text_is_utf8_with_a_note_when_it_is_not():
    assert read(decoders._text, None) == ("", [])
    assert read(decoders._text, "ø".encode()) == ("ø", [])
    assert read(decoders._text, b"a\xffb") == ("a\ufffdb", ["h: not UTF-8, shown with replacement characters"])
    assert read(decoders._text, b"a\x00b") == ("a\ufffdb", [])
    assert decoders.clean_text("plain") == "plain"


def test_decimal_text_with_minus_one_for_unknown():
    assert read(decoders._decimal, None) == (None, [])
    assert read(decoders._decimal, b" 42 ") == (42, [])
    assert read(decoders._decimal, b"-2") == (-2, [])
    assert read(decoders._decimal, b"-1") == (None, [])
    assert read(decoders._decimal, b"0") == (0, [])
    assert read(decoders._decimal, b"0x1f") == (None, ["h: '0x1f' is not a decimal number"])
    assert read(decoders._decimal, b"9" * 50) == (int("9" * 50), [])
    assert read(decoders._decimal, b"x" * 50) == (None, [f"h: {'x' * 40!r} is not a decimal number"])


def test_fixed_ints_are_big_endian_signed_of_one_size():
    assert read(decoders._int32, b"\x00\x00\x01\x02") == (258, [])
    assert read(decoders._int32, b"\xff\xff\xff\xfe") == (-2, [])
    assert read(decoders._int32, None) == (None, [])
    assert read(decoders._int32, b"\x00" * 8) == (None, ["h: expected a 4-byte big-endian integer, got 8 bytes"])
    assert read(decoders._int64, b"\x00" * 7 + b"\x05") == (5, [])
    assert read(decoders._int64, b"\x00" * 4) == (None, ["h: expected a 8-byte big-endian integer, got 4 bytes"])


def test_attempts_in_one_byte_or_four():
    assert read(decoders._attempts, b"\x03") == (3, [])
    assert read(decoders._attempts, b"\xff") == (255, [])
    assert read(decoders._attempts, b"\x00\x00\x00\x07") == (7, [])
    assert read(decoders._attempts, None) == (None, [])
    assert read(decoders._attempts, b"\x00\x01") == (None, ["h: expected a 4-byte big-endian integer, got 2 bytes"])


def test_big_integers_are_twos_complement():
    assert read(decoders._big_integer, b"\x01\x00") == (256, [])
    assert read(decoders._big_integer, b"\xff") == (-1, [])
    assert read(decoders._big_integer, None) == (None, [])
    assert read(decoders._big_integer, b"") == (None, ["h: empty BigInteger"])


def test_iso_times_with_z_an_offset_or_no_zone():
    assert read(decoders._iso_time, None) == (None, [])
    assert read(decoders._iso_time, b" 2026-01-02T03:04:05Z ") == (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), [])
    plus_one = timezone(timedelta(hours=1))
    assert read(decoders._iso_time, b"2026-01-02T03:04:05+01:00") == (
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=plus_one),
        [],
    )
    moment, errors = read(decoders._iso_time, b"2026-01-02T03:04:05")
    assert (moment, moment.tzinfo, errors) == (
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        UTC,
        ["h: no time zone, read as UTC"],
    )
    assert read(decoders._iso_time, b"soon" * 20) == (None, [f"h: {('soon' * 10)!r} is not an ISO-8601 time"])


@pytest.mark.parametrize(
    ("names", "convention"),
    [
        (["x-error-type", "x-exception-fqcn"], "billing"),
        (["x-exception-fqcn", "kafka_dlt-original-topic"], "spring-cloud-stream"),
        (["retry_topic-attempts", "kafka_dlt-original-topic"], "spring-retry-topic"),
        (["kafka_original-topic"], "spring-retry-topic"),
        (["kafka_dlt-original-topic", "__connect.errors.topic"], "spring-kafka"),
        (["kafka_dlt-exception-fqcn"], "spring-kafka"),
        (["kafka_dlt-key-exception-fqcn"], "spring-kafka"),
        (["__connect.errors.x", "__streams.errors.topic"], "kafka-connect"),
        (["__streams.errors.x", "dead-letter-reason"], "kafka-streams"),
        (["dead-letter-x", "source_topic"], "smallrye"),
        (["source_topic"], "karafka"),
        (["x-original-topic"], "unknown"),
        ([], "unknown"),
    ],
)
def test_the_family_is_chosen_by_its_most_specific_marker(names, convention):
    assert decoders.choose_family(_Names(names)).convention == convention
    assert decoders.decode_headers([(n, None) for n in names]).convention == convention


def test_readers_cover_origin_error_and_key_error_headers():
    readers = decoders.SPRING_KAFKA_FAMILY.readers()
    assert readers["kafka_dlt-original-partition"] is decoders._int32
    assert readers["kafka_dlt-original-offset"] is decoders._int64
    assert readers["kafka_dlt-exception-message"] is decoders._text
    assert readers["kafka_dlt-key-exception-message"] is decoders._text
    assert decoders.SPRING_CLOUD_STREAM_FAMILY.key_error == {}
    assert decoders.SPRING_RETRY_FAMILY.key_error["error_type"] == ("kafka_key-exception-fqcn", decoders._text)


def test_spring_kafka_reads_every_origin_field():
    decoded = decoders.decode_headers(
        [
            ("kafka_dlt-original-topic", b"orders"),
            ("kafka_dlt-original-partition", (2).to_bytes(4, "big")),
            ("kafka_dlt-original-offset", (9).to_bytes(8, "big")),
            ("kafka_dlt-original-timestamp", (1234).to_bytes(8, "big")),
            ("kafka_dlt-original-consumer-group", b"g"),
            ("kafka_dlt-exception-fqcn", b"E"),
            ("kafka_dlt-exception-message", b"m"),
            ("kafka_dlt-exception-stacktrace", b"s"),
        ]
    )
    assert (decoded.original_topic, decoded.original_partition, decoded.original_offset) == ("orders", 2, 9)
    assert (decoded.original_timestamp_ms, decoded.consumer_group) == (1234, "g")
    assert (decoded.error_type, decoded.error_message, decoded.stack_trace) == ("E", "m", "s")
    assert decoded.errors == []


def test_the_origin_is_the_first_occurrence_and_the_error_the_last():
    decoded = decoders.decode_headers(
        [
            ("x-error-type", b"First"),
            ("x-original-topic", b"t1"),
            ("x-error-type", b"Second"),
            ("x-original-topic", b"t2"),
        ]
    )
    assert (decoded.original_topic, decoded.error_type) == ("t1", "Second")


def test_the_key_variant_is_read_only_when_it_was_written_last():
    key = [("kafka_dlt-key-exception-fqcn", b"KeyError"), ("kafka_dlt-key-exception-message", b"bad key")]
    value = [("kafka_dlt-exception-fqcn", b"ValueError"), ("kafka_dlt-exception-message", b"bad value")]
    only_key = decoders.decode_headers(key)
    assert (only_key.error_type, only_key.error_message) == ("KeyError", "bad key")
    assert decoders.decode_headers(key + value).error_type == "ValueError"
    assert decoders.decode_headers(value + key).error_type == "KeyError"
    # The shared cause header is not a value variant: it does not outweigh a later key failure.
    shared = [("kafka_dlt-exception-cause-fqcn", b"C")]
    assert decoders.decode_headers(key + shared).error_type == "KeyError"
    assert decoders.decode_headers(value).error_type == "ValueError"


def test_the_error_table_with_and_without_key_variants():
    family = decoders.SPRING_KAFKA_FAMILY
    assert decoders._error_table(family, _Names([])) == family.error
    assert decoders._error_table(family, _Names(["kafka_dlt-key-exception-fqcn"])) == family.error | family.key_error
    assert decoders._error_table(decoders.BILLING_FAMILY, _Names(["x-error-type"])) is decoders.BILLING_FAMILY.error


def test_steps_carry_the_column_limits():
    steps = decoders._steps(
        decoders.BILLING_FAMILY, _Names(["x-original-partition", "x-retry-count", "x-original-topic"])
    )
    assert {step[0]: (step[1], step[3], step[4]) for step in steps} == {
        "original_partition": (0, "x-original-partition", 2**31),
        "retry_count": (1, "x-retry-count", 2**31),
        "original_topic": (2, "x-original-topic", None),
    }


@pytest.mark.parametrize(
    ("header", "text", "attribute", "kept"),
    [
        ("x-original-partition", b"2147483647", "original_partition", True),
        ("x-original-partition", b"2147483648", "original_partition", False),
        ("x-original-partition", b"-2147483648", "original_partition", True),
        ("x-original-partition", b"-2147483649", "original_partition", False),
        ("x-original-offset", b"9223372036854775807", "original_offset", True),
        ("x-original-offset", b"9223372036854775808", "original_offset", False),
        ("x-original-timestamp", b"9223372036854775808", "original_timestamp_ms", False),
        ("x-retry-count", b"2147483648", "retry_count", False),
    ],
)
def test_a_value_the_column_cannot_hold_is_an_error_not_a_value(header, text, attribute, kept):
    decoded = decoders.decode_headers([("x-error-type", b"E"), (header, text)])
    assert getattr(decoded, attribute) == (int(text) if kept else None)
    assert decoded.errors == ([] if kept else [f"{header}: {int(text)} is out of range"])
    assert decoded.error_type == "E"


def test_a_retry_topic_dlt_hop_falls_back_to_the_kafka_dlt_origin():
    dlt = [
        ("retry_topic-attempts", b"\x02"),
        ("kafka_dlt-original-topic", b"orders"),
        ("kafka_dlt-original-partition", (1).to_bytes(4, "big")),
    ]
    decoded = decoders.decode_headers(dlt)
    assert (decoded.convention, decoded.original_topic, decoded.original_partition, decoded.retry_count) == (
        "spring-retry-topic",
        "orders",
        1,
        2,
    )
    own = decoders.decode_headers([("kafka_original-topic", b"own"), *dlt])
    assert (own.original_topic, own.original_partition) == ("own", None)
    blank = decoders.decode_headers([("kafka_original-topic", b""), *dlt])
    assert blank.original_topic == "orders"
    assert decoders._plan(("retry_topic-attempts",)).fallback == ()


def test_smallrye_writes_its_cause_as_the_stack_trace():
    base = [("dead-letter-reason", b"boom")]
    both = decoders.decode_headers(
        [*base, ("dead-letter-cause-class-name", b"IOE"), ("dead-letter-cause", b"disk"), ("dead-letter-cause", b"net")]
    )
    assert (both.error_message, both.stack_trace) == ("boom", "Caused by: IOE: net")
    assert decoders.decode_headers([*base, ("dead-letter-cause", b"disk")]).stack_trace == "Caused by: : disk"
    assert decoders.decode_headers([*base, ("dead-letter-cause-class-name", b"IOE")]).stack_trace == "Caused by: IOE:"
    assert decoders.decode_headers(base).stack_trace == ""
    bad = decoders.decode_headers([*base, ("dead-letter-cause-class-name", b"\xff"), ("dead-letter-cause", b"\xfe")])
    assert bad.errors == [
        "dead-letter-cause-class-name: not UTF-8, shown with replacement characters",
        "dead-letter-cause: not UTF-8, shown with replacement characters",
    ]
    assert decoders._plan(("x-error-type",)).cause is None
    assert decoders._plan(("dead-letter-reason",)).cause == (None, None)


def test_the_last_replay_id_is_read_and_a_bad_one_noted():
    first, last = uuid.uuid4(), uuid.uuid4()
    headers = [("x-replay-id", str(first).encode()), ("x-replay-id", f" {last} ".encode())]
    assert decoders.decode_headers(headers).replay_id == last
    bad = decoders.decode_headers([("x-replay-id", b"n" * 50)])
    assert (bad.replay_id, bad.errors) == (None, [f"x-replay-id: {'n' * 40!r} is not a UUID"])
    assert decoders.decode_headers([("x-error-type", b"E")]).replay_id is None


def test_names_given_by_the_caller_are_used_and_a_decoder_failure_is_written_not_raised():
    headers = [("a", b"orders"), ("b", b"E")]
    decoded = decoders.decode_headers(headers, names=("x-original-topic", "x-error-type"))
    assert (decoded.convention, decoded.original_topic, decoded.error_type) == ("billing", "orders", "E")
    broken = decoders.decode_headers([("x-error-type", b"E")], names=("x-error-type", "x-original-topic"))
    assert broken.convention == "billing"
    assert broken.errors == ["decoder failed: IndexError: list index out of range"]


def test_the_headers_table_shows_each_value_as_its_family_encodes_it():
    assert decoders.describe_header("spring-kafka", "kafka_dlt-original-offset", None) == "null"
    assert decoders.describe_header("spring-kafka", "kafka_dlt-original-offset", (7).to_bytes(8, "big")) == "7"
    assert decoders.describe_header("spring-kafka", "kafka_dlt-original-partition", b"\x00\x01") == (
        " (kafka_dlt-original-partition: expected a 4-byte big-endian integer, got 2 bytes)"
    )
    assert decoders.describe_header("spring-retry-topic", "retry_topic-backoff-timestamp", b"\x01\x00") == "256"
    assert decoders.describe_header("spring-retry-topic", "kafka_dlt-original-partition", (3).to_bytes(4, "big")) == "3"
    assert decoders.describe_header("billing", "x-original-partition", b"-1") == ""
    assert decoders.describe_header("billing", "other", b"\xffx") == (
        "\ufffdx (other: not UTF-8, shown with replacement characters)"
    )
    assert decoders.describe_header("no-such-family", "kafka_dlt-original-offset", b"\x00") == "\ufffd"
    assert decoders.describe_header("billing", "x-failed-at", b"2026-01-02T03:04:05Z") == "2026-01-02 03:04:05+00:00"


def test_a_reader_that_raises_is_shown_not_raised(monkeypatch):
    def broken(value, errors, name):
        raise ValueError("nope")

    monkeypatch.setitem(decoders._EXTRA_READERS, "unknown", {"h": broken})
    assert decoders.describe_header("unknown", "h", b"x") == "(cannot decode: nope)"


def test_messages_are_normalised_for_grouping():
    assert decoders.normalise_message(" acc_42 failed at 3.5 ") == "acc_# failed at #"
    assert decoders.normalise_message(f"id {uuid.UUID(int=1)} x") == "id # x"
    assert decoders.normalise_message("ptr 0xDEADbeef and deadbeef0123 and cafe") == "ptr # and # and cafe"
    assert decoders.normalise_message("a" * 3000) == "a" * 500
    assert decoders.normalise_message("a" * 1999 + " 1") == "a" * 500
    assert decoders.normalise_message("a" * 1998 + " 12") == "a" * 500


def test_the_fingerprint_groups_by_type_and_normalised_message():
    digest, normalised = decoders.fingerprint("E", "acc_1 failed")
    assert normalised == "acc_# failed"
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert decoders.fingerprint("E", "acc_2 failed")[0] == digest
    assert decoders.fingerprint("F", "acc_1 failed")[0] != digest
    assert digest == _blake2b("E\nacc_# failed")


def _blake2b(text: str) -> str:
    import hashlib

    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def test_business_fields_from_the_envelope_and_the_flat_events():
    envelope = (
        b'  {"eventId": "e1", "eventType": "Charged", "aggregateId": "", "accountId": "acc_1",'
        b' "metadata": {"correlationId": "c1", "sagaId": "s1", "transactionId": "t9"},'
        b' "payload": {"amount": {"value": 12.50, "currency": "EUR"}, "transactionId": "t1"}}'
    )
    assert decoders.read_business(envelope) == decoders.Business(
        event_id="e1", event_type="Charged", account_id="acc_1", correlation_id="c1", saga_id="s1",
        transaction_id="t1", amount="12.50", currency="EUR", is_json=True,
    )  # fmt: skip
    flat = b'{"accountId": 7, "amount": 1.10, "currency": "' + b"X" * 40 + b'", "sagaId": null, "eventId": [1]}'
    business = decoders.read_business(flat)
    assert (business.account_id, business.amount, business.currency, business.saga_id, business.event_id) == (
        "7", "1.10", "X" * 16, "", ""
    )  # fmt: skip
    long_amount = decoders.read_business(b'{"amount": "' + b"9" * 300 + b'", "eventId": "' + b"e" * 300 + b'"}')
    assert (long_amount.amount, long_amount.event_id) == ("9" * 64, "e" * 255)
    assert decoders.read_business(b'{"payload": {"accountId": "p"}, "correlationId": "c"}').account_id == "p"


def test_non_json_and_non_objects():
    assert decoders.read_business(None) == decoders.Business()
    assert decoders.read_business(b"") == decoders.Business()
    assert decoders.read_business(b"plain") == decoders.Business()
    assert decoders.read_business(b"{broken") == decoders.Business()
    assert decoders.read_business(b"[1, 2]") == decoders.Business(is_json=True)
    assert decoders.read_business(b"\n[") == decoders.Business()
    assert decoders.read_business('{"eventId": "ü"}'.encode("utf-16-le")).event_id == "ü"
    assert decoders.read_business(b'{"eventId": "\xed\xa0\x80"}').event_id == "\ud800"
    assert decoders.read_business(b"[" * 100000 + b"]" * 100000) == decoders.Business()


def test_scalars_are_text_and_containers_are_blank():
    assert decoders._scalar(None) == ""
    assert decoders._scalar({"a": 1}) == ""
    assert decoders._scalar([1]) == ""
    assert decoders._scalar(False) == "False"
    assert decoders._scalar(0) == "0"
    assert decoders._scalar("a\x00" * 200) == ("a\ufffd" * 200)[:255]
    assert decoders._first({"a": {"b": ""}, "c": "x"}, (("a", "b"), ("c",))) == "x"
    assert decoders._first({"a": "s"}, (("a", "b"),)) == ""


def test_a_value_that_is_not_utf8_is_noted_under_its_header_name_by_every_text_reader():
    note = "h: not UTF-8, shown with replacement characters"
    assert read(decoders._decimal, b"\xff1") == (None, [note, "h: '\ufffd1' is not a decimal number"])
    assert read(decoders._decimal, b"\xff") == (None, [note, "h: '\ufffd' is not a decimal number"])
    assert read(decoders._iso_time, b"\xff") == (None, [note, "h: '\ufffd' is not an ISO-8601 time"])
    bad = decoders.decode_headers([("x-replay-id", b"\xff")])
    assert bad.errors == [
        "x-replay-id: not UTF-8, shown with replacement characters",
        "x-replay-id: '\ufffd' is not a UUID",
    ]


def test_the_headers_table_joins_several_notes():
    assert decoders.describe_header("billing", "x-original-partition", b"\xff") == (
        " (x-original-partition: not UTF-8, shown with replacement characters; "
        "x-original-partition: '\ufffd' is not a decimal number)"
    )


def test_only_the_first_2000_characters_of_a_message_are_normalised():
    assert decoders.normalise_message(" " * 2000 + "x") == ""
    assert decoders.normalise_message(" " * 1999 + "x") == "x"
