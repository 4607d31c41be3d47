"""What the overview shows, each figure with the admin list behind it (a reverse() by URL name
plus the filter that list understands), so a figure and its list always count the same rows."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Max, Q, Sum
from django.urls import reverse
from django.utils import timezone

from deadletter.models import DeadLetterRecord, Status
from offsets.models import OffsetReset
from opsportal import kafka
from republish.models import ReplayJob
from topics.models import Broker, ConsumerGroup, GroupOffset, SyncRun, Topic

from . import lag, tally
from .models import LagSeries

TOP_GROUPS = 10
CHART_FINGERPRINTS = 5
INFLOW_DAYS = 7
# The chart starts at the first hour with a dead letter, but shows at least this many hours:
# a week of hourly bars with all the data in its last hour is a 1-px sliver.
INFLOW_MIN_HOURS = 24
FINGERPRINT_LABEL_CHARS = 70


@dataclass
class Figure:
    label: str
    value: Any
    link: str
    note: str = ""
    alarm: bool = False
    # The value is the number of rows of the list it links to (not an age, an id or a sum).
    countable: bool = True


@dataclass
class Overview:
    cluster: list[Figure] = field(default_factory=list)
    dead_letters: list[Figure] = field(default_factory=list)
    work: list[Figure] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    charts: dict[str, Any] = field(default_factory=dict)


def changelist(name: str, **params: Any) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def build(now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    overview = Overview()
    per_hour = tally.hourly(inflow_start(now))  # the chart's hours and those of the 1 h / 24 h figures
    overview.cluster = cluster()
    overview.dead_letters = dead_letters(now, per_hour)
    overview.work = work()
    overview.groups = groups()
    overview.charts = {
        "inflow": inflow(now, per_hour),
        "sparklines": {row["group_id"]: row["sparkline"] for row in overview.groups},
    }
    return overview


def cluster() -> list[Figure]:
    brokers = dict(Broker.objects.order_by().values_list("is_up").annotate(n=Count("pk")))
    up, down = brokers.get(True, 0), brokers.get(False, 0)
    controller = Broker.objects.filter(is_controller=True, is_up=True).values_list("broker_id", flat=True).first()
    topics = Topic.objects.filter(vanished_at__isnull=True).aggregate(
        under=Count("pk", filter=Q(under_replicated_partitions__gt=0)),
        under_partitions=Sum("under_replicated_partitions"),
        offline=Count("pk", filter=Q(offline_partitions__gt=0)),
        offline_partitions=Sum("offline_partitions"),
    )
    run = SyncRun.latest_run()
    return [
        Figure("brokers up", up, changelist("topics_broker", is_up__exact=1), f"of {up + down} known", alarm=down > 0),
        Figure("brokers down", down, changelist("topics_broker", is_up__exact=0), alarm=down > 0),
        Figure(
            "controller",
            controller if controller is not None else "none",
            changelist("topics_broker", is_controller__exact=1),
            countable=False,
        ),
        Figure(
            "topics under-replicated",
            topics["under"],
            changelist("topics_topic", under_replicated="yes", internal="all"),
            f"{topics['under_partitions'] or 0} partitions",
            alarm=bool(topics["under"]),
        ),
        Figure(
            "topics with offline partitions",
            topics["offline"],
            changelist("topics_topic", offline_partitions__gt=0, internal="all"),
            f"{topics['offline_partitions'] or 0} partitions",
            alarm=bool(topics["offline"]),
        ),
        Figure(
            "mirror age",
            f"{run.age.total_seconds():.0f} s" if run else "never synced",
            changelist("topics_syncrun"),
            alarm=run is None or run.is_stale,
            countable=False,
        ),
    ]


def dead_letters(now: datetime, per_hour: Counter[tuple[datetime, str]] | None = None) -> list[Figure]:
    if per_hour is None:
        per_hour = tally.hourly(inflow_start(now))
    hour = tally.count_since(now - timedelta(hours=1), per_hour)
    day = tally.count_since(now - timedelta(hours=24), per_hour)
    since = {"hour": (now - timedelta(hours=1)).isoformat(), "day": (now - timedelta(hours=24)).isoformat()}
    triage = tally.triage_counts()
    oldest = tally.oldest_unreviewed()
    drain = GroupOffset.objects.filter(
        group__group_id=settings.DEAD_LETTER_DRAIN_GROUP_ID, topic=settings.DEAD_LETTER_TOPIC
    ).aggregate(lag=Sum("lag"), committed=Sum("committed_offset"), end=Sum("end_offset"))
    group_pk = (
        ConsumerGroup.objects.filter(group_id=settings.DEAD_LETTER_DRAIN_GROUP_ID).values_list("pk", flat=True).first()
    )
    drain_link = (
        reverse("admin:topics_consumergroup_change", args=[group_pk])
        if group_pk
        else changelist("topics_consumergroup")
    )
    return [
        Figure("new in the last hour", hour, changelist("deadletter_deadletterrecord", timestamp__gte=since["hour"])),
        Figure("new in the last 24 h", day, changelist("deadletter_deadletterrecord", timestamp__gte=since["day"])),
        Figure(
            "awaiting review (new)",
            triage.get(Status.NEW, 0),
            changelist("deadletter_deadletterrecord", status=Status.NEW),
        ),
        Figure(
            "in review",
            triage.get(Status.IN_REVIEW, 0),
            changelist("deadletter_deadletterrecord", status=Status.IN_REVIEW),
        ),
        Figure(
            "oldest unreviewed",
            _age(now - oldest) if oldest else "none",
            changelist("deadletter_deadletterrecord", status=Status.NEW),
            countable=False,
        ),
        Figure(
            "drain behind the topic's end",
            drain["lag"] if drain["lag"] is not None else "unknown",
            drain_link,
            f"at {drain['committed'] or 0} of {drain['end'] or 0}",
            alarm=bool(drain["lag"]),
            countable=False,
        ),
    ]


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400} d {seconds % 86400 // 3600} h"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min"


def work() -> list[Figure]:
    jobs = dict(ReplayJob.objects.order_by().values_list("state").annotate(n=Count("pk")))
    pending_resets = OffsetReset.objects.filter(status=OffsetReset.Status.PENDING).count()
    S = ReplayJob.State
    return [
        Figure("jobs running", jobs.get(S.RUNNING, 0), changelist("republish_replayjob", state__exact=S.RUNNING)),
        Figure("jobs queued", jobs.get(S.QUEUED, 0), changelist("republish_replayjob", state__exact=S.QUEUED)),
        Figure(
            "jobs stopped",
            jobs.get(S.STOPPED, 0),
            changelist("republish_replayjob", state__exact=S.STOPPED),
            alarm=bool(jobs.get(S.STOPPED)),
        ),
        Figure(
            "jobs awaiting a second operator",
            jobs.get(S.AWAITING_APPROVAL, 0),
            changelist("republish_replayjob", state__exact=S.AWAITING_APPROVAL),
        ),
        Figure(
            "offset resets awaiting a second operator",
            pending_resets,
            changelist("offsets_offsetreset", status__exact=OffsetReset.Status.PENDING),
        ),
    ]


def portal_group_filter() -> Q:
    """The portal's own groups (its drain, its browse consumer and their siblings): listed after the
    billing consumers, never ranked above them. The ids' shared prefix ("opsportal-") names them all."""
    ids = (settings.DEAD_LETTER_DRAIN_GROUP_ID, kafka.BROWSE_GROUP_ID)
    prefix = os.path.commonprefix(ids)
    if len(prefix) >= 3 and prefix[-1] in "-._":
        return Q(group_id__startswith=prefix)
    return Q(group_id__startswith=ids[0]) | Q(group_id__startswith=ids[1])


def groups() -> list[dict[str, Any]]:
    """The billing consumers by lag, then the portal's own groups by lag (each marked `portal`)."""
    lagging = ConsumerGroup.objects.filter(vanished_at__isnull=True, total_lag__gt=0).order_by("-total_lag", "group_id")
    fields = ("pk", "group_id", "state", "total_lag")
    top: list[dict[str, Any]] = [
        *(dict(row, portal=False) for row in lagging.exclude(portal_group_filter()).values(*fields)[:TOP_GROUPS]),
        *(dict(row, portal=True) for row in lagging.filter(portal_group_filter()).values(*fields)[:TOP_GROUPS]),
    ]
    ids = [row["group_id"] for row in top]
    time_lags = dict(
        LagSeries.objects.filter(group_id__in=ids).values_list("group_id").annotate(t=Max("time_lag")).order_by()
    )
    lines = lag.sparklines(ids)
    for row in top:
        row["link"] = reverse("admin:topics_consumergroup_change", args=[row["pk"]])
        seconds = time_lags.get(row["group_id"])
        row["time_lag"] = "–" if seconds is None else _age(timedelta(seconds=seconds))  # None: no age read yet
        row["sparkline"] = lines[row["group_id"]]
    return top


def inflow_start(now: datetime) -> datetime:
    return (now - timedelta(days=INFLOW_DAYS)).replace(minute=0, second=0, microsecond=0)


def inflow(now: datetime, per_hour: Counter[tuple[datetime, str]] | None = None) -> dict[str, Any]:
    """Dead letters per hour over INFLOW_DAYS, stacked by the commonest fingerprints of that time
    (from the running tally, overview/tally.py: per_hour is tally.hourly(inflow_start(now)))."""
    start = inflow_start(now)
    if per_hour is None:
        per_hour = tally.hourly(start)
    hours = [start + timedelta(hours=i) for i in range(INFLOW_DAYS * 24 + 1)]
    first = min((hour for (hour, _), n in per_hour.items() if n and hour >= start), default=hours[-1])
    hours = [hour for hour in hours if hour >= min(first, hours[-1] - timedelta(hours=INFLOW_MIN_HOURS - 1))]
    index = {hour: i for i, hour in enumerate(hours)}
    shown: Counter[str] = Counter()
    for (_, fingerprint), n in per_hour.items():
        shown[fingerprint] += n
    top = [fp for fp, _ in sorted(shown.items(), key=lambda item: (-item[1], item[0]))[:CHART_FINGERPRINTS]]
    series = {fp: [0] * len(hours) for fp in [*top, "other"]}
    for (hour, fingerprint), n in per_hour.items():
        if hour in index:
            series[fingerprint if fingerprint in series and fingerprint != "other" else "other"][index[hour]] += n
    names = fingerprint_labels(top)
    days = (hours[-1] - hours[0]).days + 1 if hours else 0
    span = f"last {days} days" if len(hours) > 48 else f"last {len(hours)} hours"
    return {
        "title": f"Dead letters per hour, {span}, by error",
        "labels": [hour.strftime("%m-%d %H:00") for hour in hours],
        # The hours are the tally's, in UTC: the axis says so.
        "axis": f"hour starting ({hours[0].tzname() if hours else 'UTC'})",
        "datasets": [
            {"label": names.get(fp, fp or "(none)"), "fingerprint": fp, "data": data} for fp, data in series.items()
        ],
    }


def fingerprint_labels(fingerprints: list[str]) -> dict[str, str]:
    """A legend label per fingerprint: its error type and masked message ("ValueError: bad amount <n>"),
    read from one dead letter of each (by the fingerprint index); "other" stays "other"."""
    labels = {"other": "other (all other errors)"}
    for fp in fingerprints:
        if not fp or fp == "other":
            continue
        row = (
            DeadLetterRecord.objects.filter(fingerprint=fp)
            .order_by()
            .values_list("error_type", "fingerprint_text")
            .first()
        )
        if row is None:
            continue
        error_type, text = (part.strip() for part in row)
        error_type = error_type.rsplit(".", 1)[-1]  # the class, not its package
        label = f"{error_type}: {text}" if error_type and text else error_type or text or fp
        labels[fp] = label if len(label) <= FINGERPRINT_LABEL_CHARS else label[: FINGERPRINT_LABEL_CHARS - 1] + "…"
    return labels
