"""A group with members is never reset, and a consumer racing the reset is reported per partition."""

from __future__ import annotations

import pytest

from offsets import reset, service
from offsets.models import OffsetReset

from .conftest import active_consumer, committed


def _spec(scenario, reset_type: str = "to-earliest") -> reset.ResetSpec:
    return reset.ResetSpec.build(scenario.group, reset.Scope.parse([scenario.topic]), reset_type)


def test_a_group_with_an_active_consumer_is_refused_with_its_state_and_members(scenario, cluster):
    with active_consumer(scenario.group, scenario.topic):
        with pytest.raises(reset.GroupNotResettable) as refused:
            reset.plan_reset(_spec(scenario), cluster)

    message = str(refused.value)
    assert "STABLE" in message and "1 member(s)" in message and "rdkafka" in message
    assert refused.value.group.members
    assert committed(scenario.group, cluster) == scenario.initial_offsets


@pytest.mark.django_db
def test_a_consumer_joining_after_the_preview_makes_the_apply_refuse_and_audit_it(scenario, cluster):
    plan = reset.plan_reset(_spec(scenario), cluster)

    with active_consumer(scenario.group, scenario.topic):
        row = service.submit(plan, None, requested_by_name="test", cluster=cluster)

    assert row.status == OffsetReset.Status.REFUSED
    assert "member(s)" in row.detail
    assert committed(scenario.group, cluster) == scenario.initial_offsets


@pytest.mark.django_db
def test_a_consumer_joining_after_the_recheck_gets_unknown_member_id_per_partition(scenario, cluster, monkeypatch):
    """The narrowest race: the group was empty at the recheck, a consumer joins before the commit."""
    plan = reset.plan_reset(_spec(scenario), cluster)
    real_recheck, joined = reset.recheck, []

    def recheck_then_a_consumer_joins(*args, **kwargs):
        result = real_recheck(*args, **kwargs)
        joined.append(active_consumer(scenario.group, scenario.topic))
        joined[0].__enter__()
        return result

    monkeypatch.setattr(reset, "recheck", recheck_then_a_consumer_joins)
    try:
        row = service.submit(plan, None, requested_by_name="test", cluster=cluster)
    finally:
        joined[0].__exit__(None, None, None)

    assert row.status == OffsetReset.Status.FAILED
    assert [p["error"].split(":")[0] for p in row.partitions] == ["UNKNOWN_MEMBER_ID"] * 3
    assert "3 of 3 partition(s) NOT reset" in row.detail
    assert committed(scenario.group, cluster) == scenario.initial_offsets


@pytest.mark.django_db
def test_offsets_committed_since_the_preview_make_the_apply_refuse(scenario, cluster):
    plan = reset.plan_reset(_spec(scenario), cluster)
    moved = {(scenario.topic, 0): 6}
    assert cluster and reset.kafka.alter_committed_offsets(scenario.group, moved, cluster) == {
        (scenario.topic, 0): None
    }

    row = service.submit(plan, None, requested_by_name="test", cluster=cluster)

    assert row.status == OffsetReset.Status.REFUSED
    assert "changed since the preview" in row.detail
    assert committed(scenario.group, cluster) == scenario.initial_offsets | moved
