"""Recording lag history after each mirror sync, and thinning it out.

Lag is summed per group and topic from the mirror's GroupOffset rows. The time lag is the age
of the message at the committed offset, the largest over the topic's partitions, as of the sync:
the group page's definition (topics/stuck.py), so the two pages agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from opsportal import kafka
from topics import stuck
from topics.models import GroupOffset, Topic

from .models import LagPoint, LagSeries

log = logging.getLogger(__name__)

RAW_KEPT = timedelta(hours=48)
CHUNK = 500


def record(now: datetime | None = None) -> int:
    """One point per (group, topic) of the live mirror; returns how many were written."""
    now = now or timezone.now()
    rows = (
        GroupOffset.objects.filter(group__vanished_at__isnull=True, lag__isnull=False)
        .values("group__group_id", "topic")
        .annotate(lag=Sum("lag"), end=Sum("end_offset"))
        .order_by()
    )
    current = {(r["group__group_id"], r["topic"]): (max(r["lag"], 0), r["end"] or 0) for r in rows}
    if not current:
        return 0
    series_rows = _series(current, now)
    with transaction.atomic():
        LagSeries.objects.bulk_create(
            series_rows,
            update_conflicts=True,
            unique_fields=["group_id", "topic"],
            update_fields=["lag", "end_offset", "sampled_at", "caught_up_at", "time_lag"],
        )
        series = LagSeries.objects.filter(sampled_at=now)
        LagPoint.objects.bulk_create(
            [
                LagPoint(series_id=pk, at=now, lag=lag, lag_max=lag, end_offset=end, time_lag=time_lag)
                for pk, lag, end, time_lag in series.values_list("pk", "lag", "end_offset", "time_lag")
            ],
            batch_size=2000,
            ignore_conflicts=True,
        )
    return len(current)


def _series(current: dict[tuple[str, str], tuple[int, int]], now: datetime) -> list[LagSeries]:
    """The (group, topic) rows to write; caught_up_at holds the oldest committed message's time."""
    ages = time_lags()
    previous = {(g, t): at for g, t, at in LagSeries.objects.values_list("group_id", "topic", "caught_up_at")}
    rows = []
    for (g, t), (lag_now, end) in current.items():
        # Caught up: no time lag. Behind with its message unread (Kafka down): the last known one, grown;
        # with none known, unknown (None: "–" on the overview, no /metrics series), never a false 0.
        oldest = now if lag_now == 0 else ages.get((g, t)) or previous.get((g, t))
        seconds = max((now - oldest).total_seconds(), 0.0) if oldest else None
        rows.append(LagSeries(group_id=g, topic=t, lag=lag_now, end_offset=end, sampled_at=now,
                              caught_up_at=oldest, time_lag=seconds))  # fmt: skip
    return rows


def time_lags() -> dict[tuple[str, str], datetime]:
    """Per (group, topic) behind its end, the timestamp of the oldest message at a committed offset.

    The time lag is the age of that message: the age of the message at the committed offset, the
    largest over the partitions, as the group page shows it live (topics/stuck.py). Read from Kafka
    for the mirrored topics only, within one request timeout; what Kafka did not answer in time is left
    out (the caller keeps the last known age).
    """
    behind = GroupOffset.objects.filter(
        group__vanished_at__isnull=True, lag__gt=0,
        topic__in=Topic.objects.filter(vanished_at__isnull=True).values("name"),
    ).values_list("group__group_id", "topic", "partition", "committed_offset")  # fmt: skip
    positions = [(g, t, p, o) for g, t, p, o in behind]
    try:
        times = stuck.committed_message_times(((t, p), o) for _, t, p, o in positions).times
    except kafka.KafkaClientError:
        log.warning("time lags not read: Kafka could not answer", exc_info=True)
        return {}
    oldest: dict[tuple[str, str], int] = {}
    for g, t, p, o in positions:
        ms = times.get(((t, p), o))
        if ms is not None:
            oldest[(g, t)] = min(ms, oldest.get((g, t), ms))
    return {key: datetime.fromtimestamp(ms / 1000, tz=UTC) for key, ms in oldest.items()}


@dataclass
class Thinned:
    hours_rolled: int = 0
    raw_deleted: int = 0
    hourly_deleted: int = 0


def downsample(now: datetime | None = None) -> Thinned:
    """Roll raw points into hourly ones (max and last), then drop what the retention allows.

    Each completed hour still held raw is (re)rolled, so a run missed or repeated changes nothing.
    """
    now = now or timezone.now()
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    retention = timedelta(days=settings.LAG_HISTORY_RETENTION_DAYS)
    done = Thinned()
    for series_ids in _series_chunks():
        done.hours_rolled += _roll_up(series_ids, this_hour)
        raw = LagPoint.objects.filter(series_id__in=series_ids, hourly=False, at__lt=now - RAW_KEPT)
        done.raw_deleted += raw.delete()[0]
        old = LagPoint.objects.filter(series_id__in=series_ids, hourly=True, at__lt=now - retention)
        done.hourly_deleted += old.delete()[0]
    # A series with no point left (a group gone for longer than the retention) goes too.
    LagSeries.objects.filter(sampled_at__lt=now - retention).delete()
    return done


def _series_chunks() -> list[list[int]]:
    ids = list(LagSeries.objects.order_by("pk").values_list("pk", flat=True))
    return [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]


def _roll_up(series_ids: list[int], this_hour: datetime) -> int:
    """Hourly rows for the completed hours since the last one rolled up (that one again: it may
    have been rolled while still filling), from the raw points still kept."""
    last_rolled = LagPoint.objects.filter(series_id__in=series_ids, hourly=True).aggregate(t=Max("at"))["t"]
    raw = LagPoint.objects.filter(series_id__in=series_ids, hourly=False, at__lt=this_hour)
    if last_rolled is not None:
        raw = raw.filter(at__gte=last_rolled)
    hours = list(
        raw.annotate(hour=TruncHour("at"))
        .values("series_id", "hour")
        .annotate(lag_max=Max("lag"), last=Max("at"))
        .order_by()
    )
    if not hours:
        return 0
    # The last point of each hour, fetched by its time: one query, not one per hour.
    last = {
        (point.series_id, point.at): point
        for point in raw.filter(at__in={h["last"] for h in hours}).only(
            "series_id", "at", "lag", "end_offset", "time_lag"
        )
    }
    rows = []
    for h in hours:
        point = last[(h["series_id"], h["last"])]
        rows.append(
            LagPoint(
                series_id=h["series_id"], at=h["hour"], hourly=True, lag=point.lag, lag_max=h["lag_max"],
                end_offset=point.end_offset, time_lag=point.time_lag,
            )
        )  # fmt: skip
    LagPoint.objects.bulk_create(
        rows,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["series", "hourly", "at"],
        update_fields=["lag", "lag_max", "end_offset", "time_lag"],
    )
    return len(rows)


def sparklines(group_ids: list[str], hours: int = 24) -> dict[str, list[int]]:
    """Per group, its lag summed over topics at each of the last `hours` hours (hourly max), oldest first."""
    now = timezone.now()
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    # Series first, then their points by series id: the points' unique index serves each one.
    groups = dict(LagSeries.objects.filter(group_id__in=group_ids).values_list("pk", "group_id"))
    points = LagPoint.objects.filter(series_id__in=list(groups), hourly=True, at__gte=start)
    lines = {gid: [0] * hours for gid in group_ids}
    for series_id, at, lag_max in points.values_list("series_id", "at", "lag_max"):
        index = int((at - start).total_seconds() // 3600)
        if 0 <= index < hours:
            lines[groups[series_id]][index] += lag_max
    current = LagSeries.objects.filter(group_id__in=group_ids).values("group_id").annotate(total=Sum("lag"))
    for row in current:
        lines[row["group_id"]][-1] = max(lines[row["group_id"]][-1], row["total"])
    return lines
