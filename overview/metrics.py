"""/metrics: every value read from the database at scrape time, so every web process reports
the same numbers (no in-process counter). Counts that only grow (rows never deleted) are
exported as counters, current states as gauges."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from offsets.models import OffsetReset
from republish.models import Replay, ReplayJob
from topics.models import Broker, GroupOffset, SyncRun, Topic

from . import tally
from .models import LagSeries


def _counts(queryset, field: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return dict(queryset.order_by().values_list(field).annotate(n=Count("pk")).values_list(field, "n"))


def gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value or 0))


def labelled(family: type, name: str, doc: str, label: str, values: dict[str, int]) -> Metric:
    metric = family(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        metric.add_metric([key], float(value))
    return metric


class PortalCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from dead_letters()
        yield from lag()
        yield from mirror()
        yield from jobs()


def dead_letters() -> Iterator[Metric]:
    by_status = tally.status_counts()
    yield labelled(GaugeMetricFamily, "opsportal_dead_letters", "Dead letters by status.", "status", by_status)
    counts = tally.totals()  # per (original topic, fingerprint): the running tally, exact
    yield CounterMetricFamily(
        "opsportal_dead_letters_drained", "Dead letters drained into the database.", value=sum(counts.values())
    )
    by_topic: Counter[str] = Counter()
    for (topic, _), n in counts.items():
        by_topic[topic] += n
    yield labelled(
        GaugeMetricFamily, "opsportal_dead_letters_by_topic", "Dead letters by original topic.", "topic", by_topic
    )
    yield labelled(
        GaugeMetricFamily,
        "opsportal_dead_letters_by_fingerprint",
        f"Dead letters of the {settings.METRICS_TOP_FINGERPRINTS} commonest error fingerprints; the rest as other.",
        "fingerprint",
        top_fingerprints(counts),
    )
    oldest = tally.oldest_unreviewed()
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    yield gauge("opsportal_dead_letters_unreviewed_oldest_age_seconds", "Age of the oldest new or in-review one.", age)
    drain = GroupOffset.objects.filter(
        group__group_id=settings.DEAD_LETTER_DRAIN_GROUP_ID, topic=settings.DEAD_LETTER_TOPIC
    ).aggregate(lag=Sum("lag"), committed=Sum("committed_offset"), end=Sum("end_offset"))
    yield gauge("opsportal_dead_letter_drain_lag", "Records of the dead-letter topic not drained yet.", drain["lag"])
    yield gauge("opsportal_dead_letter_drain_position", "The drain's committed offsets, summed.", drain["committed"])
    yield gauge("opsportal_dead_letter_topic_end_offset", "The dead-letter topic's end offsets, summed.", drain["end"])


def top_fingerprints(counts: Counter[tuple[str, str]]) -> dict[str, int]:
    """The METRICS_TOP_FINGERPRINTS commonest fingerprints of `counts` (tally.totals()), the rest as other."""
    by_fingerprint: Counter[str] = Counter()
    for (_, fingerprint), n in counts.items():
        by_fingerprint[fingerprint] += n
    ranked = sorted(by_fingerprint.items(), key=lambda item: (-item[1], item[0]))
    top = {fingerprint or "none": n for fingerprint, n in ranked[: settings.METRICS_TOP_FINGERPRINTS]}
    top["other"] = sum(by_fingerprint.values()) - sum(top.values())
    return top


def lag() -> Iterator[Metric]:
    records = GaugeMetricFamily(
        "opsportal_consumer_lag", "Records behind, per group and topic.", labels=["group", "topic"]
    )
    seconds = GaugeMetricFamily(
        "opsportal_consumer_time_lag_seconds", "Seconds behind, per group and topic.", labels=["group", "topic"]
    )
    for group_id, topic, value, time_lag in live_series().values_list("group_id", "topic", "lag", "time_lag"):
        records.add_metric([group_id, topic], float(value))
        if time_lag is not None:  # unknown: no sample, rather than a 0 that would hide it from the alert
            seconds.add_metric([group_id, topic], time_lag)
    yield records
    yield seconds


def live_series():  # type: ignore[no-untyped-def]
    """Series sampled at the latest recording (a group that left stops being reported)."""
    latest = LagSeries.objects.aggregate(t=Max("sampled_at"))["t"]
    return LagSeries.objects.filter(sampled_at=latest).order_by("group_id", "topic")


def mirror() -> Iterator[Metric]:
    run = SyncRun.latest_run()
    yield gauge(
        "opsportal_mirror_age_seconds", "Seconds since the last mirror sync.", run.age.total_seconds() if run else None
    )
    yield gauge(
        "opsportal_mirror_sync_duration_seconds", "Duration of the last mirror sync.", run.duration if run else None
    )
    yield gauge("opsportal_mirror_sync_errors", "Errors the last mirror sync reported.", run.errors if run else None)
    yield gauge(
        "opsportal_mirror_last_sync_timestamp_seconds",
        "When the mirror last synced.",
        run.finished_at.timestamp() if run else None,
    )  # noqa: E501
    brokers: dict[Any, int] = _counts(Broker.objects.all(), "is_up")
    yield labelled(
        GaugeMetricFamily,
        "opsportal_brokers",
        "Known brokers, up or down.",
        "state",
        {"up": brokers.get(True, 0), "down": brokers.get(False, 0)},
    )
    topics = Topic.objects.filter(vanished_at__isnull=True).aggregate(
        under=Sum("under_replicated_partitions"), offline=Sum("offline_partitions")
    )
    yield gauge(
        "opsportal_under_replicated_partitions", "Under-replicated partitions, per the mirror.", topics["under"]
    )
    yield gauge("opsportal_offline_partitions", "Partitions without a leader, per the mirror.", topics["offline"])


def jobs() -> Iterator[Metric]:
    job_states = _counts(ReplayJob.objects.all(), "state")
    job_states = {state: job_states.get(state, 0) for state in ReplayJob.State.values}
    yield labelled(GaugeMetricFamily, "opsportal_replay_jobs", "Bulk republish jobs by state.", "state", job_states)
    replays = _counts(Replay.objects.all(), "state")
    replays = {state: replays.get(state, 0) for state in Replay.State.values}
    yield labelled(CounterMetricFamily, "opsportal_replays", "Republish attempts by outcome.", "state", replays)
    resets = _counts(OffsetReset.objects.all(), "status")
    resets = {status: resets.get(status, 0) for status in OffsetReset.Status.values}
    yield labelled(CounterMetricFamily, "opsportal_offset_resets", "Offset resets by outcome.", "status", resets)


def registry() -> CollectorRegistry:
    """A registry of this collector alone: no process or platform metrics that differ per worker."""
    fresh = CollectorRegistry(auto_describe=False)
    fresh.register(PortalCollector())
    return fresh
