"""For every reset type the preview equals Kafka's own --dry-run, and applying commits exactly the preview."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from offsets import reset, service
from offsets.models import OffsetReset

from .conftest import HOUR_MS, committed, kafka_tool_dry_run


def _between_records(now_ms: int) -> str:
    """5.5 hours ago, written in a +02:00 zone: p0/p1's first record at or after it is offset 5."""
    moment = datetime.fromtimestamp((now_ms - 5.5 * HOUR_MS) / 1000, UTC).astimezone(timezone(timedelta(hours=2)))
    return moment.isoformat(timespec="milliseconds")


CASES = [
    # reset type, value, scope (None = the scenario's topic), partitions expected to carry a warning
    pytest.param("to-earliest", None, ["--all-topics"], set(), id="to-earliest-all-topics"),
    pytest.param("to-latest", None, None, set(), id="to-latest"),
    pytest.param("to-current", None, None, {2}, id="to-current-uncommitted-partition-goes-to-latest"),
    pytest.param("to-datetime", "between", None, {2}, id="to-datetime-empty-after-goes-to-latest"),
    pytest.param("by-duration", "PT5H30M", None, {2}, id="by-duration"),
    pytest.param("to-offset", "7", None, {2}, id="to-offset-clamped-to-latest"),
    pytest.param("shift-by", "3", [":0,1"], {1}, id="shift-by-forward-clamped-to-latest"),
    pytest.param("shift-by", "-6", [":0"], {0}, id="shift-by-back-clamped-to-earliest"),
]


def _scope_args(scenario, scope: list[str] | None) -> list[str]:
    if scope == ["--all-topics"]:
        return ["--all-topics"]
    return [scenario.topic + suffix for suffix in (scope or [""])]


@pytest.mark.django_db
@pytest.mark.parametrize(("reset_type", "value", "scope", "warned"), CASES)
def test_preview_equals_kafka_tool_and_apply_commits_the_preview(scenario, cluster, reset_type, value, scope, warned):
    value = _between_records(scenario.now_ms) if value == "between" else value
    topic_args = _scope_args(scenario, scope)
    all_topics = topic_args == ["--all-topics"]
    spec = reset.ResetSpec.build(scenario.group, reset.Scope.parse([] if all_topics else topic_args, all_topics),
                                 reset_type, value)  # fmt: skip

    plan = reset.plan_reset(spec, cluster)
    scope_flags = ["--all-topics"] if all_topics else [a for t in topic_args for a in ("--topic", t)]
    expected = kafka_tool_dry_run(scenario.group, f"--{reset_type}", *([value] if value else []), *scope_flags)

    assert plan.new_offsets == expected
    assert {p.partition for p in plan.partitions if p.warning} == warned
    row = service.submit(plan, None, requested_by_name="test", cluster=cluster)
    assert row.status == OffsetReset.Status.APPLIED, row.detail
    assert committed(scenario.group, cluster) == scenario.initial_offsets | plan.new_offsets


def test_preview_shows_current_new_and_records_read_again_or_skipped(scenario, cluster):
    spec = reset.ResetSpec.build(scenario.group, reset.Scope.parse([scenario.topic]), "to-offset", "7")

    rows = {p.partition: p for p in reset.plan_reset(spec, cluster).partitions}

    assert (rows[0].current, rows[0].new, rows[0].delta_text) == (4, 7, "-3 skipped")
    assert (rows[1].current, rows[1].new, rows[1].delta_text) == (10, 7, "+3 read again")
    assert (rows[2].current, rows[2].new, rows[2].delta_text) == (None, 4, "-")
    assert "clamped to 4" in rows[2].warning
