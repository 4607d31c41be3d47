"""The sync's bulk reads: offsets and configs of many partitions and topics at once."""

from __future__ import annotations

import pytest

from opsportal import kafka
from topics.models import Topic
from topics.sync import _differs

pytestmark = pytest.mark.django_db


def test_offsets_are_read_in_slices_and_each_failure_is_reported(ready_topic, produce, cluster, monkeypatch):
    name = ready_topic(partitions=3)
    produce(name, 1, 5)
    positions = [(name, 0), (name, 1), (name, 2), ("mirror.no-such-topic", 0)]
    monkeypatch.setattr(kafka.cluster, "OFFSETS_REQUEST_SIZE", 2)

    earliest, earliest_failures = kafka.list_offsets(positions, "earliest", cluster)
    latest, latest_failures = kafka.list_offsets(positions, "latest", cluster)

    assert earliest == {(name, 0): 0, (name, 1): 0, (name, 2): 0}
    assert latest == {(name, 0): 0, (name, 1): 5, (name, 2): 0}
    for failures in (earliest_failures, latest_failures):
        assert set(failures) == {("mirror.no-such-topic", 0)}
        assert isinstance(failures[("mirror.no-such-topic", 0)], kafka.KafkaClientError)


def test_configs_name_their_source_and_a_missing_topic_fails_alone(ready_topic, cluster):
    name = ready_topic(configs={"retention.ms": "3600000"})

    configs, failures = kafka.describe_topic_configs([name, "mirror.no-such-topic"], cluster)

    assert configs[name]["retention.ms"] == ("3600000", "DYNAMIC_TOPIC_CONFIG")
    assert configs[name]["cleanup.policy"][1] == "DEFAULT_CONFIG"
    assert set(failures) == {"mirror.no-such-topic"}


def test_a_changed_config_is_written_by_the_next_sync(ready_topic, sync, cluster):
    name = ready_topic(configs={"retention.ms": "3600000"})
    sync()

    assert kafka.set_topic_configs({name: {"retention.ms": "7200000"}}, cluster) == {}
    result = sync()

    topic = Topic.objects.get(name=name)
    assert result.updated >= 1
    assert (topic.retention_ms, topic.configs["retention.ms"]) == ("7200000", ["7200000", "DYNAMIC_TOPIC_CONFIG"])


def test_json_text_in_another_key_order_is_not_a_change():
    # PostgreSQL's jsonb gives keys back in its own order.
    stored = (1, '{"b": ["2", "DEFAULT_CONFIG"], "a": ["1", "DEFAULT_CONFIG"]}')
    same = (1, '{"a": ["1", "DEFAULT_CONFIG"], "b": ["2", "DEFAULT_CONFIG"]}')
    other = (1, '{"a": ["9", "DEFAULT_CONFIG"], "b": ["2", "DEFAULT_CONFIG"]}')

    assert not _differs(stored, same, [1])
    assert _differs(stored, other, [1])
    assert _differs(stored, (2, same[1]), [1])
