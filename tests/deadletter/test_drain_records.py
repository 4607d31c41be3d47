"""Odd bytes, exact-once storage and committed offsets, against the real broker."""

from __future__ import annotations

import threading
from collections import Counter
from unittest import mock

import pytest
from django.db import connection

from deadletter import store
from deadletter.models import DeadLetterRecord
from tests.deadletter import samples

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


def stored(topic: str) -> list[DeadLetterRecord]:
    return list(DeadLetterRecord.objects.filter(dlq_topic=topic).order_by("offset"))


def test_odd_keys_and_values_are_stored_byte_for_byte(produce, drain, dlq_topic):
    big = b"{" + b"x" * (MIB - 2) + b"}"  # 1 MiB, and not valid JSON
    records = [
        (b"acc_1", None, samples.billing_headers()),  # tombstone
        (None, samples.billing_event(), samples.billing_headers()),  # null key
        (b"\xff\xfe\x00bad", b"\xc3\x28\x00\xff", [("x-error-type", b"\xff\xfeBad"), ("x-error-message", b"\x00")]),
        (b"acc_2", big, samples.spring_kafka_headers()),
        (b"acc_3", b"", samples.kafka_connect_headers()),  # empty value, distinct from null
        (b"acc_4", b"plain text, not json", []),
        (b"", b"[1, 2, 3]", None),  # empty key, JSON that is not an event
    ]
    produce(dlq_topic, records)
    assert drain().inserted == len(records)
    rows = stored(dlq_topic)
    assert [(row.key, row.value) for row in rows] == [(k, v) for k, v, _ in records]
    assert [(row.key_size, row.value_size) for row in rows] == [
        (None if k is None else len(k), None if v is None else len(v)) for k, v, _ in records
    ]
    tombstone, null_key, bad_utf8, one_mib, empty, text, array = rows
    assert tombstone.value is None and tombstone.convention == "billing"
    assert null_key.key is None and null_key.account_id == "acc_42"
    assert bad_utf8.error_type == "\ufffd\ufffdBad" and "not UTF-8" in bad_utf8.decode_error
    assert bad_utf8.error_message == "\ufffd"  # NUL cannot live in PostgreSQL text; the raw header keeps it
    assert bad_utf8.raw_headers()[1] == ("x-error-message", b"\x00")
    assert one_mib.value_size == MIB and one_mib.event_id == "" and one_mib.convention == "spring-kafka"
    assert empty.value == b"" and empty.value_size == 0
    assert text.event_type == "" and text.headers == []
    assert array.event_id == "" and array.key == b""


def test_each_record_is_stored_once_and_the_offset_committed_after(produce, drain, dlq_topic, committed):
    produce(dlq_topic, [(f"acc_{i}".encode(), samples.billing_event(), samples.billing_headers()) for i in range(25)])
    first = drain(batch_size=10)
    assert (first.consumed, first.inserted, first.batches) == (25, 25, 3)
    assert committed(dlq_topic) == 25
    assert drain().consumed == 0
    assert DeadLetterRecord.objects.filter(dlq_topic=dlq_topic).count() == 25
    assert reviews_of(dlq_topic) == {"new": 25}  # each with its Review, written with it


def test_records_read_again_after_a_lost_offset_commit_are_not_stored_twice(produce, drain, dlq_topic, group_id):
    produce(dlq_topic, [(b"k", b"v", samples.karafka_headers())] * 5)
    drain()
    again = drain(group_id=group_id + "-replacement")  # a group that never committed reads all again
    assert (again.consumed, again.inserted, again.already_stored) == (5, 0, 5)
    assert DeadLetterRecord.objects.filter(dlq_topic=dlq_topic).count() == 5


def test_max_records_stops_after_that_many_and_commits_just_those(produce, drain, dlq_topic, committed):
    produce(dlq_topic, [(b"k", b"v", [])] * 30)
    assert drain(max_records=12, batch_size=5).consumed == 12
    assert committed(dlq_topic) == 12
    assert drain().consumed == 18


def test_a_stop_request_finishes_the_current_batch_then_returns(produce, drain, dlq_topic, committed):
    produce(dlq_topic, [(b"k", b"v", [])] * 30)
    stop = threading.Event()
    result = drain(batch_size=10, on_batch=lambda _: stop.set(), stop=stop)
    assert (result.consumed, result.stopped) == (10, True)
    assert committed(dlq_topic) == 10


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the straight COPY path is PostgreSQL's")
def test_a_straight_copy_that_meets_stored_rows_falls_back_to_insert_or_ignore(produce, drain, dlq_topic, group_id):
    produce(dlq_topic, [(b"k", b"v", samples.karafka_headers())] * 5)
    drain()
    # As if another writer stored the rows after this run looked at the highest stored offset.
    with mock.patch.object(store.StoredHighs, "stored_high", return_value=-1):
        again = drain(group_id=group_id + "-replacement")
    assert (again.consumed, again.inserted, again.already_stored) == (5, 0, 5)
    assert DeadLetterRecord.objects.filter(dlq_topic=dlq_topic).count() == 5


def test_rows_new_to_an_insert_or_ignore_each_get_their_review(produce, drain, dlq_topic, group_id):
    produce(dlq_topic, [(b"k", b"v", samples.karafka_headers())] * 5)
    drain()
    produce(dlq_topic, [(b"k", b"v", samples.karafka_headers())] * 3)
    # The straight COPY meets the five stored rows; insert-or-ignore stores the three new ones.
    with mock.patch.object(store.StoredHighs, "stored_high", return_value=-1):
        again = drain(group_id=group_id + "-replacement")
    assert (again.consumed, again.inserted, again.already_stored) == (8, 3, 5)
    assert reviews_of(dlq_topic) == {"new": 8}


def reviews_of(dlq_topic: str) -> dict[str, int]:
    """Review statuses of the topic's records; a record without a Review counts as "none"."""
    statuses = DeadLetterRecord.objects.filter(dlq_topic=dlq_topic).values_list("review__status", flat=True)
    return dict(Counter(status or "none" for status in statuses))
