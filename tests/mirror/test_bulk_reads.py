"""The sync's bulk reads answer exactly what the plain, per-future calls answer."""

from __future__ import annotations

import pytest

from opsportal import kafka_client
from topics.models import Topic
from topics.sync import _differs

pytestmark = pytest.mark.django_db


def test_bulk_offsets_equal_the_per_partition_futures_and_report_each_failure(ready_topic, produce, cluster):
    name = ready_topic(partitions=3)
    produce(name, 1, 5)
    positions = [(name, 0), (name, 1), (name, 2), ("mirror.no-such-topic", 0)]

    bulk = kafka_client.list_offsets_bulk(positions, ("earliest", "latest"), cluster, chunk=2)
    plain = kafka_client.list_offsets_batched(positions, ("earliest", "latest"), cluster)

    for spec in ("earliest", "latest"):
        assert bulk[spec][0] == plain[spec][0]
        assert set(bulk[spec][1]) == set(plain[spec][1]) == {("mirror.no-such-topic", 0)}
        assert isinstance(bulk[spec][1][("mirror.no-such-topic", 0)], kafka_client.KafkaClientError)
    assert bulk["latest"][0][(name, 1)] == 5


def test_bulk_configs_equal_the_per_topic_answer(ready_topic, cluster):
    name = ready_topic(configs={"retention.ms": "3600000"})

    assert kafka_client.describe_topic_configs_bulk([name], cluster) == kafka_client.describe_topic_configs_each(
        [name], cluster
    )


def test_a_changed_config_is_written_by_the_next_sync(ready_topic, sync, cluster):
    name = ready_topic(configs={"retention.ms": "3600000"})
    sync()

    assert kafka_client.set_topic_configs({name: {"retention.ms": "7200000"}}, cluster) == {}
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
