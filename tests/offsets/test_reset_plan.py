"""offsets/reset.py without a cluster: input parsing, the spec, the plan's JSON and table, the
shift arithmetic and the apply summary, with their exact messages (what the operator reads)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from offsets import reset
from offsets.reset import (
    ApplyResult,
    PartitionOutcome,
    PartitionPlan,
    ResetPlan,
    ResetSpec,
    ResetType,
    Scope,
    TopicScope,
)
from opsportal.kafka import GroupInfo, KafkaClientError
from opsportal.kafka.groups import GroupMember


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(reset.ResetError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def test_datetimes_are_read_in_their_zone_to_the_millisecond():
    assert reset.parse_datetime("1970-01-01T00:00:00Z") == 0
    assert reset.parse_datetime(" 1970-01-01T00:00:00.001Z ") == 1
    assert reset.parse_datetime("1970-01-01T01:00+01:00") == 0
    assert reset.parse_datetime("1970-01-01T00:00:01-0000") == 1000
    assert reset.parse_datetime("2026-01-31T08:00:00.123456Z") == 1769846400123


def test_datetime_refusals_say_why():
    assert refused(reset.parse_datetime, "nope") == (
        "'nope' is not a date-time; use YYYY-MM-DDTHH:MM:SS.sss with a zone, e.g. 2026-01-31T08:00:00.000+01:00"
    )
    assert refused(reset.parse_datetime, "2026-01-31T08:00") == (
        "'2026-01-31T08:00' has no time zone; add Z for UTC or an offset such as +01:00"
    )
    assert refused(reset.parse_datetime, "2026-13-01T08:00Z").startswith(
        "'2026-13-01T08:00Z' is not a valid date-time: "
    )
    assert refused(reset.parse_datetime, "1969-12-31T23:59:59.999Z") == (
        "'1969-12-31T23:59:59.999Z' is before 1970-01-01T00:00:00Z; Kafka has no records before then"
    )


def test_durations_are_iso_and_positive():
    assert reset.parse_duration("pt30m") == timedelta(minutes=30)
    assert reset.parse_duration(" P1DT2H3M4.5S ") == timedelta(days=1, hours=2, minutes=3, seconds=4.5)
    assert reset.parse_duration("PT0.001S") == timedelta(milliseconds=1)
    assert refused(reset.parse_duration, "6h") == (
        "'6h' is not a duration; use ISO-8601 PnDTnHnMnS, e.g. PT30M, PT6H or P1DT12H"
    )
    for text in ("P", "PT", "P1DT"):
        assert refused(reset.parse_duration, text).startswith(f"{text!r} is not a duration")
    assert refused(reset.parse_duration, "PT0S") == "'PT0S' is zero; a duration back from now must be positive"
    assert refused(reset.parse_duration, "P99999D") == (
        "'P99999D' reaches back before 1970-01-01; use --to-earliest to start from the beginning"
    )
    assert refused(reset.parse_duration, "P999999999999D").startswith("'P999999999999D' reaches back before")


def test_offsets_are_whole_numbers():
    assert reset.parse_offset(" 12 ", allow_negative=False) == 12
    assert reset.parse_offset("0", allow_negative=False) == 0
    assert reset.parse_offset("-3", allow_negative=True) == -3
    assert refused(reset.parse_offset, "1.5", allow_negative=True) == "'1.5' is not a whole number"
    assert refused(reset.parse_offset, "-1", allow_negative=False) == "offset -1 is negative; offsets start at 0"


def test_a_scope_is_parsed_and_written_back():
    scope = Scope.parse([" billing:2,0,2 ", "audit"])
    assert scope == Scope(False, (TopicScope("billing", (0, 2)), TopicScope("audit", None)))
    assert str(scope) == "billing:0,2 audit"
    assert str(Scope.parse([], all_topics=True)) == "--all-topics"
    assert Scope.parse([], all_topics=True) == Scope(True, ())
    assert Scope.parse(["t:0"]).topics == (TopicScope("t", (0,)),)
    message = "choose either all topics or one or more topics (T or T:0,1)"
    assert refused(Scope.parse, [], all_topics=False) == message
    assert refused(Scope.parse, ["t"], all_topics=True) == message


def test_bad_topic_arguments_say_why():
    assert refused(Scope.parse, [":1"]) == "':1' names no topic; use T or T:0,1"
    assert refused(Scope.parse, ["t:x"]) == "'t:x': partitions must be whole numbers separated by commas, e.g. t:0,1"
    assert refused(Scope.parse, ["t:1,-1"]) == "'t:1,-1': partition numbers start at 0"


def test_only_the_valued_reset_types_need_a_value():
    valued = {ResetType.TO_DATETIME, ResetType.BY_DURATION, ResetType.TO_OFFSET, ResetType.SHIFT_BY}
    assert {kind for kind in ResetType if kind.needs_value} == valued


def test_a_spec_is_built_checked_and_described():
    scope = Scope.parse(["t"])
    spec = ResetSpec.build(" g ", scope, "shift-by", " -5 ")
    assert spec == ResetSpec("g", scope, ResetType.SHIFT_BY, "-5")
    assert spec.describe() == "--shift-by -5"
    earliest = ResetSpec.build("g", scope, "to-earliest", "ignored")
    assert earliest.value == "" and earliest.describe() == "--to-earliest"
    assert ResetSpec.build("g", scope, "to-offset", "3").describe() == "--to-offset 3"
    assert ResetSpec.build("g", scope, "by-duration", "PT1H").value == "PT1H"
    assert ResetSpec.build("g", scope, "to-datetime", "2026-01-01T00:00Z").value == "2026-01-01T00:00Z"
    assert ResetSpec.build("g", scope, "to-latest", None).value == ""


def test_a_bad_spec_is_refused_before_any_request():
    scope = Scope.parse(["t"])
    assert refused(ResetSpec.build, "  ", scope, "to-latest") == "a consumer group id is required"
    assert refused(ResetSpec.build, "g", scope, "to-nowhere") == (
        "'to-nowhere' is not a reset type (to-earliest, to-latest, to-current, to-datetime, by-duration, "
        "to-offset, shift-by)"
    )
    assert refused(ResetSpec.build, "g", scope, "to-offset", "  ") == "--to-offset needs a value"
    assert refused(ResetSpec.build, "g", scope, "to-offset", None) == "--to-offset needs a value"
    assert refused(ResetSpec.build, "g", scope, "to-offset", "-1") == "offset -1 is negative; offsets start at 0"
    assert refused(ResetSpec.build, "g", scope, "shift-by", "x") == "'x' is not a whole number"
    assert "no time zone" in refused(ResetSpec.build, "g", scope, "to-datetime", "2026-01-01T00:00")
    assert "is zero" in refused(ResetSpec.build, "g", scope, "by-duration", "PT0S")


def test_delta_is_what_is_read_again_or_skipped():
    assert PartitionPlan("t", 0, 10, 4).delta == 6
    assert PartitionPlan("t", 0, 10, 4).delta_text == "+6 read again"
    assert PartitionPlan("t", 0, 4, 10).delta_text == "-6 skipped"
    assert PartitionPlan("t", 0, 4, 4).delta_text == "0"
    assert PartitionPlan("t", 0, None, 4).delta is None
    assert PartitionPlan("t", 0, None, 4).delta_text == "-"
    assert PartitionPlan("t", 0, 0, 1).delta_text == "-1 skipped"
    assert PartitionPlan("t", 0, 1, 0).delta_text == "+1 read again"


def plan() -> ResetPlan:
    spec = ResetSpec(
        "g", Scope(False, (TopicScope("orders", (0, 1)), TopicScope("audit", None))), ResetType.SHIFT_BY, "-2"
    )
    return ResetPlan(
        spec,
        (PartitionPlan("orders", 0, 10, 8), PartitionPlan("orders", 1, None, 0, "no committed offset; latest used")),
        group_state="EMPTY",
    )


def test_a_plan_goes_to_json_and_back_unchanged():
    data = plan().to_json()
    assert data == {
        "group_id": "g",
        "scope": {
            "all_topics": False,
            "topics": [{"topic": "orders", "partitions": (0, 1)}, {"topic": "audit", "partitions": None}],
        },
        "reset_type": "shift-by",
        "value": "-2",
        "group_state": "EMPTY",
        "partitions": [
            {"topic": "orders", "partition": 0, "current": 10, "new": 8, "warning": "", "end": None},
            {
                "topic": "orders",
                "partition": 1,
                "current": None,
                "new": 0,
                "warning": "no committed offset; latest used",
                "end": None,
            },
        ],
    }
    assert ResetPlan.from_json(data) == plan()
    listed = {**data, "scope": {"all_topics": True, "topics": [{"topic": "a", "partitions": [2, 3]}]}}
    del listed["group_state"]
    back = ResetPlan.from_json(listed)
    assert back.spec.scope == Scope(True, (TopicScope("a", (2, 3)),))
    assert back.group_state == ""
    assert back.spec.reset_type is ResetType.SHIFT_BY


def test_a_plan_maps_positions_to_offsets():
    assert plan().new_offsets == {("orders", 0): 8, ("orders", 1): 0}
    assert plan().current_offsets == {("orders", 0): 10, ("orders", 1): None}


def test_the_table_aligns_its_columns():
    assert plan().table() == (
        "TOPIC   PARTITION  CURRENT  NEW  DELTA          WARNING\n"
        "orders  0          10       8    +2 read again\n"
        "orders  1          -        0    -              no committed offset; latest used"
    )


def test_a_shift_moves_every_committed_offset():
    committed = {("t", 0): 10, ("t", 1): 3}
    assert reset._shifted([("t", 0), ("t", 1)], committed, -2) == {("t", 0): 8, ("t", 1): 1}
    assert reset._shifted([("t", 1)], committed, 4) == {("t", 1): 7}
    assert refused(reset._shifted, [("t", 0), ("t", 2), ("u", 0)], committed, 1) == (
        "cannot shift t[2], u[0]: the group has no committed offset there"
    )


def test_a_busy_group_names_its_members():
    group = GroupInfo(
        "g", "STABLE", "consumer", 1,
        (GroupMember("m1", "c1", "/10.0.0.1", ()), GroupMember("m2", "c2", "/10.0.0.2", ())),
    )  # fmt: skip
    assert reset._busy_message(group) == (
        "consumer group 'g' is STABLE with 2 member(s): c1 m1 on /10.0.0.1; c2 m2 on /10.0.0.2. "
        "Offsets can only be reset while the group is empty: stop its consumers first."
    )
    assert reset.GroupNotResettable("x", group).group is group
    assert str(reset.GroupNotResettable("busy", group)) == "busy"
    assert reset.GroupNotResettable("x").group is None


def test_the_apply_result_counts_the_failed_partitions():
    ok = PartitionOutcome("t", 0, 5, 2, 2)
    bad = PartitionOutcome("t", 1, 5, 2, 5, "REBALANCE_IN_PROGRESS: busy")
    assert ApplyResult((ok, ok)).status == "applied"
    assert ApplyResult((ok, ok)).summary() == "2 partition(s) reset"
    assert ApplyResult((ok, bad)).status == "partially_applied"
    assert ApplyResult((ok, bad)).summary() == "1 of 2 partition(s) NOT reset: t[1]: REBALANCE_IN_PROGRESS: busy"
    assert ApplyResult((bad, bad)).status == "failed"
    assert ApplyResult((bad, bad)).summary() == (
        "2 of 2 partition(s) NOT reset: t[1]: REBALANCE_IN_PROGRESS: busy; t[1]: REBALANCE_IN_PROGRESS: busy"
    )


def test_a_broker_error_is_written_for_the_operator():
    assert reset._error_text(None) == ""
    assert reset._error_text(KafkaClientError("joined", code="UNKNOWN_MEMBER_ID")) == (
        "UNKNOWN_MEMBER_ID: a consumer joined the group; the broker refused the reset of this partition"
    )
    assert reset._error_text(KafkaClientError("busy", code="REBALANCE_IN_PROGRESS")) == "REBALANCE_IN_PROGRESS: busy"
    assert reset._error_text(KafkaClientError("lost")) == "error: lost"
