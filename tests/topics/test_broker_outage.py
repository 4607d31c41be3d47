"""Stops a broker of the shared 3-broker cluster: marked cluster_changes, so it runs after every other test."""

from __future__ import annotations

import subprocess
import sys

import pytest

from opsportal import kafka
from topics.models import Broker, Topic

from .conftest import ROOT, wait_for

pytestmark = [pytest.mark.django_db, pytest.mark.cluster_changes]

STOPPED = 2


def local_kafka(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "devtools" / "local_kafka.py"), *args], check=True, timeout=180)


def all_in_sync(cluster) -> bool:
    return all(len(p.isr) == len(p.replicas) for topic in kafka.list_topics(cluster).values() for p in topic.partitions)


def test_stopping_a_broker_shows_its_partitions_under_replicated_until_it_is_back(ready_topic, sync, cluster):
    name = ready_topic(partitions=3)  # RF 3 on 3 brokers: every partition has a replica on the stopped one
    sync()  # the mirror knows the broker before it stops
    try:
        local_kafka("stop-broker", "--node", str(STOPPED))
        wait_for(
            lambda: all(STOPPED not in p.isr for p in kafka.list_topics(cluster)[name].partitions),
            timeout=60,
            what=f"broker {STOPPED} out of the ISR",
        )

        sync()

        topic = Topic.objects.get(name=name)
        assert topic.under_replicated_partitions == 3
        assert topic.offline_partitions == 0
        assert all(p.under_replicated and STOPPED not in p.isr for p in topic.partitions.all())
        assert Broker.objects.get(broker_id=STOPPED).is_up is False
    finally:
        local_kafka("start-broker", "--node", str(STOPPED))
        # Leave the shared cluster as found: every partition of every topic fully in sync.
        wait_for(lambda: all_in_sync(cluster), timeout=180, what="full ISR after the restart")

    sync()

    topic = Topic.objects.get(name=name)
    assert topic.under_replicated_partitions == 0
    assert not topic.partitions.filter(under_replicated=True).exists()
    assert Broker.objects.get(broker_id=STOPPED).is_up is True
