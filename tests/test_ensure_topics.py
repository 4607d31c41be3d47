from __future__ import annotations

import time

import pytest
from django.core.management import CommandError, call_command

from opsportal import kafka
from topics import spec as topic_spec
from topics.provisioning import ensure_topics
from topics.spec import BILLING_CONFIGS, TopicSpec


def wait_for(condition, timeout: float = 10.0):
    """Metadata changes reach each broker a moment after the controller accepts them."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def read_back(name: str, cluster) -> tuple[int, int, dict]:
    # A new topic reaches each broker's metadata a moment apart: wait until several reads in a row see it.
    wait_for(lambda: all(name in kafka.list_topics(cluster) for _ in range(6)))
    topic = kafka.list_topics(cluster)[name]
    configs = kafka.describe_topic_configs([name], cluster)[0][name]
    return len(topic.partitions), topic.replication_factor, {k: v for k, (v, _source) in configs.items()}


@pytest.fixture
def specs(topic_names, monkeypatch):
    """Four topics shaped like the billing ones, under unique names."""
    shaped = tuple(
        TopicSpec(topic_names(f"billing-test.{s.name}"), s.partitions, s.replication_factor, dict(s.configs))
        for s in topic_spec.TOPICS
    )
    monkeypatch.setattr(topic_spec, "TOPICS", shaped)
    return shaped


def test_it_creates_the_billing_topics_as_specified(specs, cluster, capsys):
    call_command("ensure_topics")

    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["created"] * 4
    for spec in specs:
        partitions, replication_factor, configs = read_back(spec.name, cluster)
        assert partitions == spec.partitions
        assert replication_factor == 3
        assert configs["min.insync.replicas"] == "2"
        assert configs["retention.ms"] == "-1"
    assert [s.partitions for s in specs] == [10, 10, 5, 1]


def test_a_second_run_reports_ok_and_changes_nothing(specs, cluster, capsys):
    call_command("ensure_topics")
    before = {spec.name: read_back(spec.name, cluster) for spec in specs}
    capsys.readouterr()

    call_command("ensure_topics")

    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["ok"] * 4
    assert {spec.name: read_back(spec.name, cluster) for spec in specs} == before


def test_dry_run_creates_nothing_and_fails(specs, cluster, capsys):
    with pytest.raises(CommandError, match="the cluster does not match topics/spec.py"):
        call_command("ensure_topics", "--dry-run")

    assert "would create" in capsys.readouterr().out
    assert not set(kafka.list_topics(cluster)) & {spec.name for spec in specs}


def test_a_topic_altered_by_hand_is_drift_and_exits_non_zero(specs, cluster, capsys):
    call_command("ensure_topics")
    saga = specs[2]
    assert kafka.set_topic_configs({saga.name: {"retention.ms": "3600000"}}, cluster) == {}
    # Each broker applies the change a moment apart; wait until several reads in a row see it.
    wait_for(lambda: all(read_back(saga.name, cluster)[2]["retention.ms"] == "3600000" for _ in range(6)))
    capsys.readouterr()

    with pytest.raises(CommandError, match="does not match"):
        call_command("ensure_topics")

    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(saga.name))
    assert "drift" in row and "retention.ms=3600000, spec -1" in row
    assert read_back(saga.name, cluster)[2]["retention.ms"] == "3600000"


def test_apply_grows_partitions_and_restores_configs(topic_names, cluster):
    name = topic_names("grow")
    kafka.create_topics([kafka.NewTopicSpec(name, 2, 3, {"retention.ms": "1000"})], cluster)
    wait_for(lambda: name in kafka.list_topics(cluster))
    spec = TopicSpec(name, 4)

    drift = ensure_topics((spec,), cluster=cluster)
    assert drift.outcomes[0].status == "drift" and not drift.ok
    assert read_back(name, cluster)[0] == 2

    fixed = ensure_topics((spec,), apply=True, cluster=cluster)

    assert fixed.outcomes[0].status == "fixed" and fixed.ok
    assert "per-account ordering across the change is not guaranteed" in fixed.warnings[0]
    wait_for(lambda: read_back(name, cluster)[0] == 4 and read_back(name, cluster)[2]["retention.ms"] == "-1")
    assert ensure_topics((spec,), cluster=cluster).outcomes[0].status == "ok"


def test_apply_cannot_shrink_partitions_and_stays_drift(topic_names, cluster):
    name = topic_names("shrink")
    kafka.create_topics([kafka.NewTopicSpec(name, 3, 3, dict(BILLING_CONFIGS))], cluster)
    wait_for(lambda: name in kafka.list_topics(cluster))

    report = ensure_topics((TopicSpec(name, 2),), apply=True, cluster=cluster)

    assert report.outcomes[0].status == "drift"
    assert "cannot shrink" in report.outcomes[0].details[0]
    assert read_back(name, cluster)[0] == 3


def test_the_replication_factor_is_capped_on_a_smaller_cluster():
    from topics.provisioning import fit_to_cluster

    fitted, warning = fit_to_cluster(TopicSpec("billing.saga.events", 5), brokers=1)

    assert fitted.replication_factor == 1
    assert fitted.configs["min.insync.replicas"] == "1"
    assert "replication factor capped 3 -> 1" in warning
