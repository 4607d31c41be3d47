"""A broker down: the other partitions are still browsed and searched, the failed one is named.

Stops a broker of the shared cluster (marked cluster_changes: runs after every other test), as short as it can.
"""

from __future__ import annotations

import os
import re
import signal
import uuid

import pytest

from devtools import local_kafka
from opsportal import kafka
from opsportal.kafka.testing import produce_records

from .browse_support import browse_url, error, get, search_url, shown
from .conftest import topic_ready, wait_for

pytestmark = [pytest.mark.django_db, pytest.mark.cluster_changes]

PER_PARTITION = 4
FAILED = re.compile(r'<p class="errornote browse-failure">Partition (\d+) could not be read: (.*?)</p>', re.S)


@pytest.fixture
def spread_topic(cluster):
    """Replication 1, three partitions: each partition lives on one broker only, four records in each."""
    name = f"browse.broker-down-{uuid.uuid4().hex[:8]}"
    assert kafka.create_topics([kafka.NewTopicSpec(name, 3, 1, {})], cluster) == {}
    wait_for(lambda: topic_ready(name, 3, cluster), what=f"{name} ready")
    producer = kafka.producer(cluster)
    for p in range(3):
        records = [(f"k{p}-{i}".encode(), f'{{"n": "p{p}-{i}"}}'.encode(), ()) for i in range(PER_PARTITION)]
        produce_records(producer, name, records, p, cluster)
    yield name
    kafka.delete_topics([name], cluster)


def leaders(cluster, name: str) -> dict[int, int]:
    return {p.number: p.leader for p in kafka.list_topics(cluster)[name].partitions}


def crash(node: local_kafka.Node) -> None:
    """SIGKILL, as a broker that dies: the metadata names it the leader until the controller fences it."""
    pid = node.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    local_kafka.stop_node(node)  # waits for the process to go, forgets its pid


def assert_others_shown(page: str, alive: set[int], failed: set[int]) -> None:
    assert error(page) == "", error(page)
    assert {p for p, _ in shown(page)} == alive
    assert len(shown(page)) == PER_PARTITION * len(alive)
    named = dict(FAILED.findall(page))
    assert set(map(int, named)) == failed, named
    assert all(named[str(p)] for p in failed)


def test_a_stopped_leader_fails_only_its_partitions(admin_client, spread_topic, cluster, settings):
    settings.KAFKA_REQUEST_TIMEOUT = 3.0  # a broker that does not answer costs a timeout: keep it down briefly
    led_by = leaders(cluster, spread_topic)
    stopped = led_by[max(led_by)]  # the leader of the last partition; any broker would do
    failed = {p for p, leader in led_by.items() if leader == stopped}
    alive = set(led_by) - failed
    assert alive, f"every partition on broker {stopped}: {led_by}"
    node = local_kafka.nodes(3)[stopped - 1]
    crash(node)
    try:
        # First while the metadata still names the dead broker, then once its partitions have no leader.
        pages = [get(admin_client, browse_url(topic=spread_topic, partition="all", start="oldest"))]
        pages.append(get(admin_client, search_url(topic=spread_topic, kind="text", value='"p')))
        wait_for(lambda: all(leaders(cluster, spread_topic)[p] < 0 for p in failed), what=f"{failed} leaderless")
        pages.append(get(admin_client, browse_url(topic=spread_topic, partition="all", start="newest")))
        # A dead letter's "original message" link: the failed partition alone, at an offset.
        one = min(failed)
        alone = get(admin_client, browse_url(topic=spread_topic, partition=one, start="offset", offset=1))
    finally:
        local_kafka.start_node(node)
        local_kafka.wait_for_metadata(3)
    for page in pages:
        assert_others_shown(page, alive, failed)
    assert_others_shown(alone, set(), {one})
    wait_for(lambda: min(leaders(cluster, spread_topic).values()) >= 0, timeout=120, what="leaders back")
