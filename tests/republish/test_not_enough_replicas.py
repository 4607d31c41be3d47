"""With two of three brokers down, acks=all cannot be met: the operator is told, nothing is marked republished."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from deadletter.models import Status
from opsportal import kafka
from republish.models import Replay
from republish.publish import republish

from .conftest import billing_event

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.django_db, pytest.mark.cluster_changes]


def broker(command: str, node: int) -> None:
    subprocess.run(
        [sys.executable, "devtools/local_kafka.py", command, "--node", str(node)], cwd=ROOT, check=True, timeout=120
    )


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except kafka.KafkaClientError:
            pass
        assert time.monotonic() < deadline, "the cluster did not reach the expected state in time"
        time.sleep(0.5)


def fully_replicated(cluster) -> bool:
    topics = kafka.list_topics(cluster)
    return len(kafka.describe_brokers(cluster)) == 3 and all(
        len(p.isr) == len(p.replicas) and p.leader >= 0 for t in topics.values() for p in t.partitions
    )


def test_republish_with_two_brokers_down_fails_clearly_and_can_be_retried(dead_letters, operator, cluster):
    (row,) = dead_letters([(b"acc_isr", billing_event("acc_isr"))])
    try:
        broker("stop-broker", 2)
        broker("stop-broker", 3)

        outcome = republish([row], user=operator)

        row.refresh_from_db()
        replay = Replay.objects.get(record=row)
        assert (outcome.republished, outcome.failed) == (0, 1)
        assert row.status == Status.FAILED
        assert replay.state == Replay.State.FAILED and replay.offset is None
        assert "not enough in-sync replicas" in replay.error or "no leader" in replay.error
    finally:
        broker("start-broker", 2)
        broker("start-broker", 3)
        wait_until(lambda: fully_replicated(cluster))

    retried = republish([row], user=operator)

    row.refresh_from_db()
    assert retried.republished == 1 and row.status == Status.REPUBLISHED
    assert Replay.objects.filter(record=row, state=Replay.State.REPUBLISHED).count() == 1
