"""Fixtures of the overview's tests: mirror rows and dead letters made in the database, and the
real drain and republish fixtures of the republish tests where a test needs the whole path."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from tests.browser.conftest import browser, page  # noqa: F401
from tests.republish.conftest import dead_letters, operator, original_topic  # noqa: F401
from tests.topics.conftest import commit, sync  # noqa: F401 - real offsets and a real sync
from topics.models import Broker, ConsumerGroup, GroupOffset, SyncRun, Topic


def make_group(group_id: str, lags: dict[tuple[str, int], tuple[int, int]], state: str = "Stable") -> ConsumerGroup:
    """A mirrored group with {(topic, partition): (committed, end)}."""
    now = timezone.now()
    total = sum(end - committed for committed, end in lags.values())
    group = ConsumerGroup.objects.create(group_id=group_id, state=state, total_lag=total, last_synced=now)
    GroupOffset.objects.bulk_create(
        GroupOffset(group=group, topic=t, partition=p, committed_offset=c, end_offset=e, lag=e - c)
        for (t, p), (c, e) in lags.items()
    )
    return group


def set_offsets(group: ConsumerGroup, topic: str, partition: int, committed: int, end: int) -> None:
    GroupOffset.objects.filter(group=group, topic=topic, partition=partition).update(
        committed_offset=committed, end_offset=end, lag=end - committed
    )


@pytest.fixture
def mirror(db) -> dict[str, object]:
    """Three brokers (one down), two topics (one under-replicated), a fresh sync run."""
    now = timezone.now()
    for broker_id, up in ((1, True), (2, True), (3, False)):
        Broker.objects.create(broker_id=broker_id, host="127.0.0.1", port=9091 + broker_id, is_up=up,
                              is_controller=broker_id == 1, last_seen=now)  # fmt: skip
    Topic.objects.create(name="billing.a", partition_count=3, replication_factor=3, last_synced=now,
                         under_replicated_partitions=2)  # fmt: skip
    Topic.objects.create(name="billing.b", partition_count=3, replication_factor=3, last_synced=now)
    run = SyncRun.objects.create(finished_at=now, duration=0.5, created=0, updated=0, vanished=0, errors=0)
    return {"run": run, "now": now}


def hours_ago(hours: float, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(hours=hours)
