from __future__ import annotations

import pytest
from django.core.management import call_command
from django.utils import timezone

from opsportal import kafka
from topics.models import Broker, ConsumerGroup, GroupOffset, Partition, Topic
from topics.sync import SyncResult, read_cluster, write_mirror

from .conftest import topic_ready, wait_for

pytestmark = pytest.mark.django_db


def test_it_mirrors_partitions_configs_and_offsets_exactly(ready_topic, produce, sync, cluster):
    configs = {"retention.ms": "3600000", "cleanup.policy": "compact", "min.insync.replicas": "2"}
    name = ready_topic(partitions=3, configs=configs)
    produced = {0: 4, 1: 7}  # partition 2 stays empty
    for partition, count in produced.items():
        produce(name, partition, count)

    sync()

    topic = Topic.objects.get(name=name)
    assert (topic.partition_count, topic.replication_factor) == (3, 3)
    assert (topic.retention_ms, topic.cleanup_policy, topic.min_insync_replicas) == ("3600000", "compact", "2")
    assert topic.configs["retention.ms"] == ["3600000", "DYNAMIC_TOPIC_CONFIG"]
    live_configs = kafka.describe_topic_configs([name], cluster)[0][name]
    assert topic.configs == {key: [value, source] for key, (value, source) in live_configs.items()}
    assert topic.approx_messages == sum(produced.values())
    assert (topic.is_internal, topic.vanished_at, topic.under_replicated_partitions) == (False, None, 0)
    mirrored = {p.number: p for p in topic.partitions.all()}
    assert {n: (p.earliest_offset, p.latest_offset) for n, p in mirrored.items()} == {
        0: (0, produced[0]),
        1: (0, produced[1]),
        2: (0, 0),
    }
    live = kafka.list_topics(cluster)[name]
    assert {n: (p.leader, p.replicas, p.isr) for n, p in mirrored.items()} == {
        p.number: (p.leader, list(p.replicas), list(p.isr)) for p in live.partitions
    }


def test_it_marks_a_deleted_topic_vanished_and_brings_it_back_when_recreated(ready_topic, sync, cluster):
    name = ready_topic(partitions=2)
    sync()
    assert kafka.delete_topics([name], cluster) == {}
    wait_for(lambda: name not in kafka.list_topics(cluster), what=f"{name} deleted")

    result = sync()

    topic = Topic.objects.get(name=name)
    assert topic.vanished_at is not None
    assert result.vanished >= 1
    # Re-create it smaller; deletion finishes in the background, so retry while the name is still taken.
    spec = kafka.NewTopicSpec(name, 1, 3, {})
    wait_for(lambda: kafka.create_topics([spec], cluster) == {}, what=f"{name} re-created")
    wait_for(lambda: topic_ready(name, 1, cluster), what=f"{name} ready")

    sync()

    topic.refresh_from_db()
    assert topic.vanished_at is None
    assert topic.partition_count == 1
    assert list(topic.partitions.values_list("number", flat=True)) == [0]


def test_a_second_write_of_the_same_cluster_changes_nothing(ready_topic, produce, commit, group_names):
    name = ready_topic(partitions=2)
    produce(name, 0, 3)
    commit(group_names(), {(name, 0): 1})
    snapshot = read_cluster()
    first = SyncResult()
    write_mirror(snapshot, timezone.now(), first)
    mirrored = list(Partition.objects.filter(topic__name=name).values())

    second = SyncResult()
    write_mirror(snapshot, timezone.now(), second)

    assert first.created > 0
    assert (second.created, second.updated, second.vanished) == (0, 0, 0)
    assert list(Partition.objects.filter(topic__name=name).values()) == mirrored


def test_the_command_prints_what_it_created(ready_topic, capsys):
    name = ready_topic()

    call_command("sync_topics")

    out = capsys.readouterr().out
    rows = sum(model.objects.count() for model in (Broker, Topic, Partition, ConsumerGroup, GroupOffset))
    assert f"created {rows}," in out
    assert f"{Topic.objects.count()} topics" in out
    assert Topic.objects.filter(name=name).exists()
