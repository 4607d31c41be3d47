"""Browsing consumers are kept between requests of a process, and only when nothing can leak into the next.

A new consumer costs a page more than reading its records (connecting, the first metadata request,
the close); a kept one must never carry a partition, a failure or a parent process's threads along.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from opsportal import kafka
from opsportal.kafka import browse
from opsportal.kafka.testing import produce_records


@pytest.fixture(autouse=True)
def empty_pool():
    kafka.close_idle_browse_consumers()
    yield
    kafka.close_idle_browse_consumers()


@pytest.fixture
def topic(cluster, make_topic) -> str:
    name = make_topic(partitions=1, prefix="test.browse-pool")
    produce_records(kafka.producer(cluster), name, [(b"k", b"v%d" % n, ()) for n in range(30)], cluster=cluster)
    return name


def closed(client: kafka.Consumer) -> bool:
    try:
        client.assignment()
    except RuntimeError:  # confluent-kafka: "Consumer closed"
        return True
    return False


def test_a_session_that_ended_cleanly_hands_its_consumer_to_the_next_which_reads_the_right_records(cluster, topic):
    with kafka.browse_session(cluster) as first:
        before = kafka.read_windows(first, {(topic, 0): (20, 30)}, 10.0, cluster)
    with kafka.browse_session(cluster) as second:
        after = kafka.read_windows(second, {(topic, 0): (0, 10)}, 10.0, cluster)

    assert second is first
    assert [r.offset for r in before.records[(topic, 0)]] == list(range(20, 30))
    assert [r.value for r in after.records[(topic, 0)]] == [b"v%d" % n for n in range(10)]
    assert second.assignment() == []


def test_a_session_that_raised_closes_its_consumer(cluster):
    with pytest.raises(RuntimeError, match="the page failed"), kafka.browse_session(cluster) as failed:
        raise RuntimeError("the page failed")

    with kafka.browse_session(cluster) as next_one:
        assert next_one is not failed
    assert closed(failed)


def test_a_consumer_left_holding_partitions_is_closed_not_kept(cluster, topic):
    with kafka.browse_session(cluster) as holding:
        kafka.assign(holding, {(topic, 0): 0})

    with kafka.browse_session(cluster) as next_one:
        assert next_one is not holding
    assert closed(holding)


def test_other_cluster_settings_never_get_a_kept_consumer(cluster):
    with kafka.browse_session(cluster) as kept:
        pass
    other = dataclasses.replace(cluster, request_timeout=cluster.request_timeout + 1)

    with kafka.browse_session(other) as for_other:
        assert for_other is not kept
    with kafka.browse_session(cluster) as same:
        assert same is kept


def test_an_idle_consumer_past_its_age_is_closed_when_the_next_request_comes(cluster, monkeypatch):
    with kafka.browse_session(cluster) as idle:
        pass
    monkeypatch.setattr(browse, "POOL_IDLE_SECONDS", -1.0)

    with kafka.browse_session(cluster) as fresh:
        assert fresh is not idle
    assert closed(idle)


def test_a_fork_closes_the_idle_consumers_first_so_a_child_starts_with_none(cluster):
    with kafka.browse_session(cluster) as before_fork:
        pass

    child = os.fork()
    if child == 0:  # the child: an empty pool and a lock it can take; leaves without running any cleanup
        os._exit(0 if browse._POOL._idle == [] and browse._POOL._lock.acquire(timeout=5) else 1)
    _, status = os.waitpid(child, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert closed(before_fork)  # closed in the parent before the fork: no child inherits a live client
    with kafka.browse_session(cluster) as after_fork:
        assert after_fork is not before_fork


def test_the_pool_keeps_at_most_its_size_and_closes_the_rest(cluster, monkeypatch):
    monkeypatch.setattr(browse, "POOL_SIZE", 1)
    with kafka.browse_session(cluster) as outer, kafka.browse_session(cluster) as inner:
        assert inner is not outer  # two requests at once: two consumers

    # The inner session ended first and filled the pool; the outer one found it full.
    assert not closed(inner)
    assert closed(outer)
