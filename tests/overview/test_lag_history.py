"""Lag history: a point per group and topic at each sync (time lag: test_time_lag.py),
hourly rollups keeping the maximum and the last value, retention deleting what is older."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from overview import lag
from overview.models import LagPoint, LagSeries
from topics.models import SyncRun

from .conftest import make_group, set_offsets

pytestmark = pytest.mark.django_db


def test_each_sync_records_lag_per_group_and_topic_not_per_partition(django_capture_on_commit_callbacks):
    make_group("billing-ledger", {("t.a", 0): (5, 10), ("t.a", 1): (0, 3), ("t.b", 0): (7, 7)})
    with django_capture_on_commit_callbacks(execute=True):
        SyncRun.objects.create(finished_at=timezone.now(), duration=1, created=0, updated=0, vanished=0, errors=0)
    assert dict(LagSeries.objects.values_list("topic", "lag")) == {"t.a": 8, "t.b": 0}
    assert LagPoint.objects.filter(hourly=False).count() == 2


def test_downsampling_keeps_the_hourly_maximum_and_the_last_value():
    group = make_group("g", {("t", 0): (0, 0)})
    hour = (timezone.now() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    for minute, lag_value in ((0, 10), (20, 90), (40, 30), (59, 20)):
        set_offsets(group, "t", 0, committed=0, end=lag_value)
        lag.record(hour + timedelta(minutes=minute))
    done = lag.downsample(timezone.now())
    rollup = LagPoint.objects.get(hourly=True, at=hour)
    assert (rollup.lag_max, rollup.lag) == (90, 20)
    assert done.hours_rolled == 1
    # A second run changes nothing (the hour is re-rolled to the same values).
    lag.downsample(timezone.now())
    assert LagPoint.objects.filter(hourly=True).count() == 1


def test_raw_points_go_after_48_hours_and_hourly_ones_after_the_retention(settings):
    settings.LAG_HISTORY_RETENTION_DAYS = 30
    make_group("g", {("t", 0): (0, 5)})
    now = timezone.now()
    for age in (timedelta(days=31), timedelta(days=29), timedelta(hours=49), timedelta(hours=47)):
        lag.record(now - age)
    lag.record(now)
    done = lag.downsample(now)
    raw = set(LagPoint.objects.filter(hourly=False).values_list("at", flat=True))
    assert raw == {now - timedelta(hours=47), now}
    hourly = sorted(LagPoint.objects.filter(hourly=True).values_list("at", flat=True))
    assert [now - at < timedelta(days=30) for at in hourly] == [True] * len(hourly)
    assert len(hourly) == 3  # 29 d, 49 h and 47 h ago; the 31-day-old hour is gone
    assert done.hourly_deleted == 1 and done.raw_deleted == 3


def test_a_sparkline_is_the_hourly_maximum_summed_over_topics():
    group = make_group("g", {("t1", 0): (0, 0), ("t2", 0): (0, 0)})
    hour = (timezone.now() - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    set_offsets(group, "t1", 0, 0, 40)
    set_offsets(group, "t2", 0, 0, 2)
    lag.record(hour + timedelta(minutes=1))
    lag.downsample()
    line = lag.sparklines(["g"])["g"]
    assert len(line) == 24 and line[-3] == 42
