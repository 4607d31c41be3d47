from __future__ import annotations

import time

import pytest

from opsportal import kafka
from topics.models import ConsumerGroup

from .conftest import describe_group_with_kafka_tool

pytestmark = pytest.mark.django_db


@pytest.fixture
def lagging_group(ready_topic, produce, commit, group_names):
    """A topic with known records and a group with known commits: (group, produced, committed)."""
    name = ready_topic(partitions=2)
    produced = {(name, 0): 10, (name, 1): 6}
    committed = {(name, 0): 3, (name, 1): 6}
    for (topic, partition), count in produced.items():
        produce(topic, partition, count)
    group = group_names()
    commit(group, committed)
    return group, produced, committed


def test_it_mirrors_a_groups_committed_offsets_and_lag(lagging_group, sync):
    group_id, produced, committed = lagging_group

    sync()

    group = ConsumerGroup.objects.get(group_id=group_id)
    offsets = {(o.topic, o.partition): (o.committed_offset, o.end_offset, o.lag) for o in group.offsets.all()}
    assert offsets == {pos: (committed[pos], produced[pos], produced[pos] - committed[pos]) for pos in produced}
    assert group.total_lag == sum(produced[pos] - committed[pos] for pos in produced)
    assert (group.state, group.member_count, group.sync_error) == ("EMPTY", 0, "")


def test_its_lag_equals_what_kafka_consumer_groups_describe_reports(lagging_group, sync):
    group_id, _, _ = lagging_group

    sync()

    reported = describe_group_with_kafka_tool(group_id)
    mirrored = ConsumerGroup.objects.get(group_id=group_id).offsets.all()
    assert reported, "kafka-consumer-groups reported no partitions"
    assert {(o.topic, o.partition): (o.committed_offset, o.end_offset, o.lag) for o in mirrored} == reported


def test_an_active_member_is_counted_and_its_lag_matches_the_tool(ready_topic, produce, group_names, sync, cluster):
    name = ready_topic(partitions=1)
    produce(name, 0, 5)
    group_id = group_names()
    member = kafka.consumer(group_id, cluster)
    try:
        member.subscribe([name])
        records: list[kafka.Record] = []
        deadline = time.monotonic() + 30
        while len(records) < 2:
            assert time.monotonic() < deadline, f"the member read {len(records)} of 2 records in 30 s"
            records += kafka.poll(member, 2 - len(records), 1.0, cluster)
        kafka.commit_positions(member, {(name, 0): records[-1].offset + 1}, cluster)

        sync()
        reported = describe_group_with_kafka_tool(group_id)
    finally:
        member.close()

    group = ConsumerGroup.objects.get(group_id=group_id)
    assert (group.state, group.member_count, group.protocol_type) == ("STABLE", 1, "consumer")
    assert group.coordinator in {b.id for b in kafka.describe_brokers(cluster)}
    assert {(o.topic, o.partition): (o.committed_offset, o.end_offset, o.lag) for o in group.offsets.all()} == reported
    assert group.total_lag == 3


def test_one_groups_failure_is_recorded_and_the_others_still_sync(
    lagging_group, group_names, commit, sync, monkeypatch
):
    broken_id, produced, committed = lagging_group
    sync()
    healthy_id = group_names("mirror-healthy")
    commit(healthy_id, committed)
    commit(broken_id, {pos: 0 for pos in committed})
    real = kafka.committed_offsets

    def one_group_fails(group_ids, cluster=None, admin=None):
        offsets, failures = real(group_ids, cluster, admin=admin)
        offsets.pop(broken_id, None)
        failures[broken_id] = kafka.KafkaClientError("simulated COORDINATOR_NOT_AVAILABLE")
        return offsets, failures

    monkeypatch.setattr(kafka, "committed_offsets", one_group_fails)
    result = sync()

    assert result.errors >= 1
    assert any(broken_id in message and "simulated" in message for message in result.error_messages)
    broken = ConsumerGroup.objects.get(group_id=broken_id)
    assert "simulated" in broken.sync_error
    # Its offsets are the previous sync's, not half-written ones.
    assert {(o.topic, o.partition): o.committed_offset for o in broken.offsets.all()} == committed
    healthy = ConsumerGroup.objects.get(group_id=healthy_id)
    assert healthy.sync_error == ""
    assert healthy.total_lag == sum(produced[pos] - committed[pos] for pos in produced)
