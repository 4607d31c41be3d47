from __future__ import annotations

import json

import pytest

from deadletter.models import Status
from opsportal.kafka import KafkaClientError
from republish import publish
from republish.edits import EditRejected, check_edit
from republish.headers import REPLAY_HEADERS
from republish.models import AuditEntry, Replay
from republish.partitioner import partition_for_key
from republish.publish import republish

from .conftest import billing_event, read_partition

pytestmark = pytest.mark.django_db


def headers_of(record) -> dict[str, bytes | None]:
    return dict(record.headers)


def test_it_republishes_to_the_original_topic_on_the_java_partition(dead_letters, operator, cluster, original_topic):
    value = billing_event("acc_42")
    (row,) = dead_letters([(b"acc_42", value)])

    outcome = republish([row], user=operator)

    assert (outcome.republished, outcome.failed, outcome.uncertain) == (1, 0, 0)
    replay = Replay.objects.get(record=row)
    expected_partition = partition_for_key(b"acc_42", 10)
    assert (replay.state, replay.target_topic, replay.target_partition) == (
        "republished",
        original_topic,
        expected_partition,
    )
    landed = [r for r in read_partition(cluster, original_topic, expected_partition) if r.offset == replay.offset]
    assert len(landed) == 1
    assert (landed[0].key, landed[0].value) == (b"acc_42", value)
    headers = headers_of(landed[0])
    assert headers["traceparent"] == b"00-abc-def-01"
    assert not [name for name in headers if name.startswith(("x-original-", "x-error-")) or name == "x-consumer-group"]
    assert headers["x-replay-id"] == str(replay.replay_id).encode()
    assert headers["x-replayed-from"] == f"{row.dlq_topic}/0/{row.offset}".encode()
    assert headers["x-replay-count"] == b"1"
    assert headers["x-replayed-by"] == b"olga-operator"
    row.refresh_from_db()
    assert row.status == Status.REPUBLISHED and row.review.replay_id == replay.replay_id
    audit = AuditEntry.objects.get(action="republish")
    assert audit.user == operator and audit.record_ids == [row.pk] and audit.replay_ids == [str(replay.replay_id)]


def test_it_republishes_to_another_topic(dead_letters, operator, cluster, make_topic):
    other = make_topic(partitions=3, prefix="test.other")
    (row,) = dead_letters([(b"acc_7", billing_event("acc_7"))])

    republish([row], user=operator, target_topic=other)

    replay = Replay.objects.get(record=row)
    assert replay.target_topic == other and replay.target_partition == partition_for_key(b"acc_7", 3)
    (landed,) = read_partition(cluster, other, replay.target_partition)
    assert landed.value == bytes(row.value) and landed.offset == replay.offset


def test_an_edited_republish_sends_the_edit_and_keeps_the_original_on_the_row(dead_letters, operator, cluster):
    original = billing_event("acc_9", amount="1.00")
    (row,) = dead_letters([(b"acc_9", original)])
    edited_value = json.dumps(json.loads(original) | {"amount": "10.00"})
    edit = check_edit(bytes(row.value), row.raw_headers(), edited_value, '[["traceparent", "00-new-01"]]')

    republish([row], user=operator, edit=edit)

    replay = Replay.objects.get(record=row)
    (landed,) = [
        r for r in read_partition(cluster, replay.target_topic, replay.target_partition) if r.offset == replay.offset
    ]
    assert landed.value == edited_value.encode()
    assert headers_of(landed)["traceparent"] == b"00-new-01"
    row.refresh_from_db()
    assert bytes(row.value) == original
    diff = AuditEntry.objects.get(action="edited_republish").details["diff"].splitlines()
    # Laid out one member per line (issue 17): the changed member is the changed line.
    assert [line for line in diff if line[:1] in "+-" and '"amount"' in line] == [
        '-  "amount": "1.00"',
        '+  "amount": "10.00"',
    ]


def test_an_untouched_edit_keeps_every_byte_and_numbers_as_written():
    original = b'{"amount":100.10,"fee":12345678901234567.89,"n":1E2}'
    headers = [("x-error-type", b"E"), ("trace", b"t-1")]

    edit = check_edit(original, headers, original.decode(), '[["trace", "t-1"]]')

    assert edit.value == original
    assert edit.diff == ""


def test_a_tombstone_left_empty_stays_null_and_binary_values_cannot_be_edited():
    assert check_edit(None, [], "", "[]").value is None
    with pytest.raises(EditRejected, match="binary"):
        check_edit(b"\xff\xfe", [], "x", "[]")


def test_an_edit_that_breaks_json_is_rejected():
    with pytest.raises(EditRejected, match="not"):
        check_edit(b'{"a": 1}', [], '{"a": ', "[]")
    with pytest.raises(EditRejected, match="x-replay-id"):
        check_edit(b'{"a": 1}', [], '{"a": 2}', '[["x-replay-id", "forged"]]')


def test_a_second_republish_of_a_republished_row_is_skipped(dead_letters, operator, cluster):
    (row,) = dead_letters([(b"acc_1", billing_event("acc_1"))])
    republish([row], user=operator)
    row.refresh_from_db()

    outcome = republish([row], user=operator)

    assert (outcome.republished, outcome.skipped) == (0, 1)
    replay = Replay.objects.get(record=row)
    copies = [
        r
        for r in read_partition(cluster, replay.target_topic, replay.target_partition)
        if dict(r.headers).get("x-replayed-from") == f"{row.dlq_topic}/0/{row.offset}".encode()
    ]
    assert len(copies) == 1


def test_replay_headers_are_replaced_not_stacked(dead_letters, operator, cluster):
    (row,) = dead_letters([(b"acc_3", billing_event("acc_3"))])
    row.headers = row.headers + [["x-replay-count", "Mg=="], ["x-replay-id", "b2xk"]]  # "2", "old"
    row.save(update_fields=["headers"])

    republish([row], user=operator)

    replay = Replay.objects.get(record=row)
    (landed,) = [
        r for r in read_partition(cluster, replay.target_topic, replay.target_partition) if r.offset == replay.offset
    ]
    names = [name for name, _ in landed.headers]
    assert [n for n in names if n in REPLAY_HEADERS] == list(REPLAY_HEADERS)
    assert dict(landed.headers)["x-replay-count"] == b"3"


def test_a_producer_that_cannot_be_made_claims_nothing(dead_letters, operator, monkeypatch):
    (row,) = dead_letters([(b"acc_noproducer", billing_event("acc_noproducer"))])

    def no_producer():
        raise KafkaClientError("creating a producer failed: bad bootstrap.servers")

    monkeypatch.setattr(publish, "republish_producer", no_producer)

    with pytest.raises(KafkaClientError, match="creating a producer failed"):
        republish([row], user=operator)

    row.refresh_from_db()
    assert row.status == Status.NEW and not Replay.objects.filter(record=row).exists()
