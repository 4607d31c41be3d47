from __future__ import annotations

import socket

import pytest

from opsportal import kafka


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_it_raises_unavailable_with_the_bootstrap_list_when_nothing_listens():
    bootstrap = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    nowhere = kafka.ClusterSettings(bootstrap, request_timeout=2.0)

    with pytest.raises(kafka.KafkaUnavailable) as raised:
        kafka.list_topics(nowhere)

    message = str(raised.value)
    assert bootstrap in message
    assert "listing topics" in message
    assert "./dev kafka status" in message


def test_it_lists_the_real_cluster_brokers(cluster):
    brokers = kafka.describe_brokers(cluster)

    assert [(b.id, b.port) for b in brokers] == [(1, 9092), (2, 9093), (3, 9094)]
    assert sum(b.is_controller for b in brokers) == 1


def test_a_config_error_on_one_topic_names_the_topic(make_topic, cluster):
    name = make_topic()

    failures = kafka.set_topic_configs({name: {"min.insync.replicas": "not-a-number"}}, cluster)

    assert name in failures
    assert isinstance(failures[name], kafka.KafkaClientError)
    assert name in str(failures[name])
