"""The pure parts of republish/safety.py: the warnings and findings a record's checks become, the
topic/partition verdict from one metadata read, and the murmur2 comparison. No Kafka, no database
(check() and check_selection() query both and are tested in test_bulk_and_safety.py)."""

from __future__ import annotations

from opsportal.kafka import Record
from opsportal.kafka.cluster import PartitionInfo, TopicInfo
from republish.partitioner import partition_for_key
from republish.safety import Row, Safety, SafetyReport, _key_in, _kinds, _partition_mismatch, topic_problem


def row(**changes) -> Row:
    values = dict(
        pk=1, dlq_topic="billing.dlq", partition=2, offset=40, key=b"acc_42", key_text="acc_42",
        original_topic="billing", original_partition=3, original_offset=7, event_id="ev-1", failed_again=False,
    )  # fmt: skip
    return Row(**{**values, **changes})


def metadata(name: str, partitions: int) -> dict[str, TopicInfo]:
    return {name: TopicInfo(name, tuple(PartitionInfo(n, 1, (1,), (1,)) for n in range(partitions)))}


def test_a_clean_record_has_no_warning():
    assert Safety().warnings == []


def test_each_warning_reads_as_written():
    assert Safety(newer_same_key=3).warnings == ["3 newer event(s) with this key already on the original partition"]
    assert Safety(newer_same_key=3, newer_is_lower_bound=True).warnings == [
        "at least 3 newer event(s) with this key already on the original partition"
    ]
    assert Safety(newer_is_lower_bound=True).warnings == [
        "newer events of this key not fully checked (scan bound reached)"
    ]
    assert Safety(already_republished=True).warnings == ["this event id was already republished"]
    assert Safety(failed_again=True).warnings == ["an earlier replay of it failed again"]
    assert Safety(partition_mismatch=(3, 5)).warnings == [
        "the original was on partition 3, a Java/KafkaJS producer puts this key on 5: "
        "its other events may be on another partition than the replay"
    ]
    assert Safety(missing="topic gone does not exist").warnings == [
        "topic gone does not exist: it is refused when sent unless a target topic is chosen"
    ]
    assert Safety(unreadable="timed out").warnings == ["original partition not readable: timed out"]
    assert Safety(not_checked=True).warnings == [
        "newer events of this key not checked: the page's time budget for Kafka ran out"
    ]


def test_all_warnings_come_in_one_order():
    safety = Safety(
        newer_same_key=1, already_republished=True, failed_again=True, partition_mismatch=(0, 1),
        missing="m", unreadable="u", not_checked=True,
    )  # fmt: skip
    starts = [
        "1 newer",
        "this event id",
        "an earlier replay",
        "the original was",
        "m: it is",
        "original partition",
        "newer events",
    ]
    assert [w[: len(s)] for w, s in zip(safety.warnings, starts, strict=True)] == starts


def test_flagged_counts_the_records_with_a_warning():
    report = SafetyReport({1: Safety(), 2: Safety(failed_again=True), 3: Safety(not_checked=True), 4: Safety()})
    assert report.flagged == 2
    assert SafetyReport().flagged == 0


def test_a_row_names_its_dead_letter_position():
    assert str(row()) == "billing.dlq[2]@40"


def test_topic_problem_names_what_is_wrong():
    known = metadata("billing", 3)
    assert topic_problem("billing", 2, known) == ""
    assert topic_problem("billing", 0, known) == ""
    assert topic_problem("billing", None, known) == ""
    assert topic_problem("billing", 3, known) == "partition 3 of topic billing does not exist"
    assert topic_problem("billing", -1, known) == "partition -1 of topic billing does not exist"
    assert topic_problem("other", 0, known) == "topic other does not exist"
    assert topic_problem("other", None, known) == "topic other does not exist"
    assert topic_problem("bad name", 0, known) == "'bad name' is not a valid Kafka topic name"
    assert topic_problem(".", 0, metadata(".", 1)) == "'.' is not a valid Kafka topic name"
    assert topic_problem("..", 0, metadata("..", 1)) == "'..' is not a valid Kafka topic name"
    assert topic_problem("...", 0, metadata("...", 1)) == ""
    assert topic_problem("x" * 300, 0, {}) == f"{'x' * 100!r} is not a valid Kafka topic name"
    assert topic_problem("", 0, {}) == "'' is not a valid Kafka topic name"


def test_the_murmur2_partition_is_compared_with_the_original_one():
    expected = partition_for_key(b"acc_42", 10)
    assert _partition_mismatch(row(original_partition=expected), 10) is None
    other = (expected + 1) % 10
    assert _partition_mismatch(row(original_partition=other), 10) == (other, expected)
    assert _partition_mismatch(row(key=bytearray(b"acc_42"), original_partition=other), 10) == (other, expected)


def test_no_comparison_without_a_key_an_original_partition_or_a_partition_count():
    assert _partition_mismatch(row(key=None, original_partition=9), 10) is None
    assert _partition_mismatch(row(original_partition=None), 10) is None
    assert _partition_mismatch(row(original_partition=9), None) is None
    assert _partition_mismatch(row(original_partition=9), 0) is None
    # partition 0 is a partition, not "unknown"
    assert _partition_mismatch(row(original_partition=0), 1) is None
    assert _partition_mismatch(row(key=b"", original_partition=0), 1) is None


def test_key_in_selects_the_records_of_the_keys():
    select = _key_in({b"a", b"b"})

    def record(key):
        return Record("t", 0, 0, None, key, None, ())

    assert [select(record(k)) for k in (b"a", b"b", b"c", None)] == [True, True, False, False]


def test_a_clean_row_has_no_finding():
    assert _kinds(row(), Safety()) == {}


def test_each_finding_carries_its_detail():
    assert _kinds(row(), Safety(already_republished=True)) == {"already_republished": "event ev-1"}
    assert _kinds(row(), Safety(failed_again=True)) == {"failed_again": "dead-lettered again after a replay"}
    assert _kinds(row(original_topic=""), Safety()) == {"no_topic": "no original topic in its headers"}
    assert _kinds(row(original_topic=""), Safety(missing="m")) == {"no_topic": "no original topic in its headers"}
    assert _kinds(row(), Safety(missing="topic x does not exist")) == {"no_topic": "topic x does not exist"}
    assert _kinds(row(), Safety(unreadable="timed out")) == {"unreadable": "timed out"}
    assert _kinds(row(), Safety(partition_mismatch=(3, 5))) == {"partition_mismatch": "was on 3, murmur2 puts it on 5"}
    assert _kinds(row(), Safety(newer_same_key=4)) == {"newer_same_key": "4 newer"}
    assert _kinds(row(), Safety(newer_same_key=4, newer_is_lower_bound=True)) == {"newer_same_key": "at least 4 newer"}
    assert _kinds(row(), Safety(newer_is_lower_bound=True)) == {}
    assert _kinds(row(), Safety(not_checked=True)) == {"not_checked": "not read"}


def test_findings_come_together_in_one_order():
    safety = Safety(
        already_republished=True, failed_again=True, missing="m", unreadable="u", partition_mismatch=(1, 2),
        newer_same_key=1, not_checked=True,
    )  # fmt: skip
    assert list(_kinds(row(), safety)) == [
        "already_republished", "failed_again", "no_topic", "unreadable", "partition_mismatch", "newer_same_key",
        "not_checked",
    ]  # fmt: skip
