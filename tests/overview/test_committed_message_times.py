"""Reading the messages at committed offsets after each sync stays within one request timeout:
one deadline over all rounds, and a partition that failed is not asked again."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from django.conf import settings as django_settings

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from topics import stuck


def _recording() -> tuple[list[dict[str, Any]], Any]:
    """The real read_windows, each call's windows and timeout recorded."""
    calls: list[dict[str, Any]] = []
    real = kafka.read_windows

    def read(client: Any, windows: Any, timeout: float, cluster: Any = None) -> kafka.WindowRead:
        calls.append({"windows": set(windows), "timeout": timeout})
        return real(client, windows, timeout, cluster)

    return calls, read


def test_a_partition_that_failed_is_not_asked_again_and_each_round_gets_what_is_left(make_topic, cluster):
    topic = make_topic(2, 2, {"min.insync.replicas": "1"}, prefix="msgtimes")
    producer = kafka.producer(cluster)
    for partition in (0, 1):
        produce_records(producer, topic, [(b"k", b"v", ())] * 3, partition, cluster)
    calls, real_read = _recording()

    def read(client: Any, windows: Any, timeout: float, cluster: Any = None) -> kafka.WindowRead:
        result = real_read(client, windows, timeout, cluster)
        if (topic, 1) in windows:  # as when its leader is down
            result.records[(topic, 1)] = []
            result.failures[(topic, 1)] = kafka.KafkaClientError("no leader")
        return result

    with patch("opsportal.kafka.read_windows", side_effect=read):
        found = stuck.committed_message_times(((topic, p), o) for p in (0, 1) for o in (0, 1, 2))

    assert found.failed == {(topic, 1)}
    assert sorted(found.times) == [((topic, 0), 0), ((topic, 0), 1), ((topic, 0), 2)]
    assert [call["windows"] for call in calls] == [{(topic, 0), (topic, 1)}, {(topic, 0)}, {(topic, 0)}]
    timeouts = [call["timeout"] for call in calls]
    assert timeouts == sorted(timeouts, reverse=True) and timeouts[0] <= django_settings.KAFKA_REQUEST_TIMEOUT
    assert found.rounds == 3


def test_no_round_starts_after_the_one_deadline(make_topic, cluster, settings):
    settings.KAFKA_REQUEST_TIMEOUT = 1.0
    topic = make_topic(1, 2, {"min.insync.replicas": "1"}, prefix="msgtimes")
    produce_records(kafka.producer(cluster), topic, [(b"k", b"v", ())] * 3, 0, cluster)
    calls, read = _recording()

    # Partition 5 does not exist: Kafka never answers for it, so the first round takes the whole budget.
    with patch("opsportal.kafka.read_windows", side_effect=read):
        found = stuck.committed_message_times([((topic, 0), 0), ((topic, 0), 1), ((topic, 0), 2), ((topic, 5), 0)])

    assert found.rounds == len(calls) == 1
    assert list(found.times) == [((topic, 0), 0)]
    assert found.failed == set()
    assert calls[0]["timeout"] <= 1.0
