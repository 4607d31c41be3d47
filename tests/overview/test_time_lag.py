"""One time lag on the overview and on the group page: the age of the message at the committed
offset, the largest over the group's partitions; the portal's own groups listed after billing's."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from overview import figures, lag
from overview.models import LagSeries
from topics.browse import read_one
from topics.models import ConsumerGroup

from .conftest import make_group

pytestmark = pytest.mark.django_db

HOUR = 3600


def test_the_time_lag_is_the_oldest_committed_messages_age_on_both_pages(
    admin_client, make_topic, group_names, commit, sync, cluster
):
    topic = make_topic(2, 2, {"min.insync.replicas": "1"}, prefix="timelag")
    producer = kafka.producer(cluster)
    # Partition 0's committed message was created an hour ago: it is the group's time lag.
    producer.produce(topic, b"old", b"k0", partition=0, timestamp=_ms(timezone.now() - timedelta(hours=1)))
    assert producer.flush(10) == 0
    produce_records(producer, topic, [(b"k1", b"new", ()), (b"k2", b"x", ())], 1, cluster)
    group = group_names("timelag")
    commit(group, {(topic, 0): 0, (topic, 1): 0})
    sync()
    now = timezone.now()
    lag.record(now)

    oldest = read_one(topic, 0, 0)
    assert oldest is not None and oldest.timestamp_ms is not None
    age = now.timestamp() - oldest.timestamp_ms / 1000
    series = LagSeries.objects.get(group_id=group, topic=topic)
    assert series.time_lag == pytest.approx(age, abs=0.01)
    assert HOUR <= series.time_lag < HOUR + 600

    pk = ConsumerGroup.objects.get(group_id=group).pk
    page = admin_client.get(reverse("admin:topics_consumergroup_change", args=[pk])).content.decode()
    shown = re.search(r'id="group-time-lag">([^<]+)<', page).group(1)
    assert HOUR <= _seconds(shown) < HOUR + 600  # the same message, aged
    assert "the largest over the group's partitions" in page
    overview = admin_client.get(reverse("admin:index")).content.decode()
    assert "the largest over the group's partitions" in overview


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _seconds(shown: str) -> int:
    """ "1 h 0 min 5 s" (stuck.human_duration) in seconds."""
    units = {"d": 86400, "h": 3600, "min": 60, "s": 1}
    return sum(int(n) * units[unit] for n, unit in re.findall(r"(\d+) (d|h|min|s)\b", shown))


def test_the_group_page_shows_the_live_state_and_labels_the_mirror_fields(
    admin_client, make_topic, group_names, commit, sync, cluster
):
    topic = make_topic(1, 2, {"min.insync.replicas": "1"}, prefix="live")
    group = group_names("live")
    commit(group, {(topic, 0): 0})
    sync()
    ConsumerGroup.objects.filter(group_id=group).update(state="STABLE", member_count=3)  # an old sync's view
    pk = ConsumerGroup.objects.get(group_id=group).pk
    page = admin_client.get(reverse("admin:topics_consumergroup_change", args=[pk])).content.decode()
    assert re.search(r'id="live-state">Empty<.*id="live-members">0<', page, re.S), page
    assert "As of the last sync (" in page


def test_the_portals_own_groups_come_after_the_billing_consumers(db):
    make_group(settings.DEAD_LETTER_DRAIN_GROUP_ID, {("dlq", 0): (0, 50_000)})
    make_group("opsportal-walkthrough-drain", {("dlq", 0): (0, 40_000)})
    make_group("billing-ledger-svc", {("billing.events", 0): (0, 12)})
    rows = figures.groups()
    assert [(row["group_id"], row["portal"]) for row in rows] == [
        ("billing-ledger-svc", False),
        (settings.DEAD_LETTER_DRAIN_GROUP_ID, True),
        ("opsportal-walkthrough-drain", True),
    ]


def test_a_caught_up_group_has_no_time_lag(db):
    make_group("caught-up", {("t", 0): (7, 7)})
    lag.record(datetime.now(UTC))
    assert LagSeries.objects.get(group_id="caught-up").time_lag == 0.0
