"""Odd bytes, exact-once storage and committed offsets, against the real broker."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from unittest import mock

import pytest
from django.db import connection

from deadletter import store
from deadletter.models import DeadLetterRecord
from opsportal import kafka
from opsportal.kafka.testing import produce_records
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


def test_records_read_again_after_a_lost_offset_commit_are_not_stored_twice(produce, drain, dlq_topic, group_names):
    produce(dlq_topic, [(b"k", b"v", samples.karafka_headers())] * 5)
    drain()
    again = drain(group_id=group_names("test-drain-again"))  # a group that never committed reads all again
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


# Committed batch by batch, as in production: inside a test's transaction the insert-or-ignore's
# temporary table (dropped at commit) would outlive the batch.
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the straight COPY path is PostgreSQL's")
def test_a_straight_copy_that_meets_rows_another_drain_stored_meanwhile_falls_back_to_insert_or_ignore(
    produce, drain, dlq_topic, group_names, caplog
):
    """Two drains on one topic (another group): the second stores rows after the first looked at
    the highest stored offset, so the first one's next straight COPY meets them. No patching."""
    produce(dlq_topic, [(b"k", b"v", samples.karafka_headers())] * 13)
    other = []

    def another_drain_after_the_first_batch(result):
        if not other:  # 0..7: the first batch's rows again, and some the first drain has not stored yet
            other.append(drain(group_id=group_names("test-drain-other"), max_records=8, batch_size=8))

    with caplog.at_level(logging.INFO, logger="deadletter.store"):
        first = drain(batch_size=5, on_batch=another_drain_after_the_first_batch)

    (second,) = other
    assert second.consumed == 8 and second.inserted >= 3
    assert (first.consumed, first.already_stored) == (13, second.inserted)
    assert first.inserted + second.inserted == 13
    assert "some positions were stored meanwhile; inserting with ON CONFLICT" in caplog.text
    assert sorted(DeadLetterRecord.objects.filter(dlq_topic=dlq_topic).values_list("offset", flat=True)) == list(
        range(13)
    )
    assert reviews_of(dlq_topic) == {"new": 13}  # rows new to the insert-or-ignore have their Review too


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the straight COPY path is PostgreSQL's")
def test_rows_new_to_an_insert_or_ignore_each_get_their_review(produce, drain, dlq_topic, group_names):
    produce(dlq_topic, [(b"k", b"v", samples.karafka_headers())] * 5)
    drain()
    produce(dlq_topic, [(b"k", b"v", samples.karafka_headers())] * 3)
    # As if another writer stored the rows after this run looked (the public seam StoredHighs.stored_high):
    # the straight COPY meets the five stored rows; insert-or-ignore stores the three new ones.
    with mock.patch.object(store.StoredHighs, "stored_high", return_value=-1):
        again = drain(group_id=group_names("test-drain-again"))
    assert (again.consumed, again.inserted, again.already_stored) == (8, 3, 5)
    assert reviews_of(dlq_topic) == {"new": 8}


def test_offsets_are_committed_per_partition_of_a_three_partition_topic(
    make_topic, produce, drain, group_names, cluster
):
    topic = make_topic(partitions=3, prefix="test.dlq3")
    group = group_names("test-drain3")
    for partition, count in ((0, 7), (1, 0), (2, 12)):
        if count:
            produce_records(
                kafka.producer(cluster), topic, [(b"k", b"v", samples.billing_headers())] * count, partition, cluster
            )

    first = drain(topic=topic, group_id=group, batch_size=4)

    assert (first.consumed, first.inserted) == (19, 19)
    offsets, failures = kafka.committed_offsets([group], cluster)
    assert not failures
    # Each partition at its own end; the empty one has nothing to commit.
    assert {p: o for (t, p), o in offsets[group].items() if t == topic and o >= 0} == {0: 7, 2: 12}
    stored = Counter(DeadLetterRecord.objects.filter(dlq_topic=topic).values_list("partition", flat=True))
    assert stored == {0: 7, 2: 12}

    produce_records(kafka.producer(cluster), topic, [(b"k", b"v", ())] * 3, 1, cluster)
    again = drain(topic=topic, group_id=group)

    assert (again.consumed, again.inserted, again.already_stored) == (3, 3, 0)  # only partition 1's new records
    offsets, _ = kafka.committed_offsets([group], cluster)
    assert {p: o for (t, p), o in offsets[group].items() if t == topic and o >= 0} == {0: 7, 1: 3, 2: 12}


def reviews_of(dlq_topic: str) -> dict[str, int]:
    """Review statuses of the topic's records; a record without a Review counts as "none"."""
    statuses = DeadLetterRecord.objects.filter(dlq_topic=dlq_topic).values_list("review__status", flat=True)
    return dict(Counter(status or "none" for status in statuses))
