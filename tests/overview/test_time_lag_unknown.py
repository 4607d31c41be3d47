"""A group behind whose message Kafka does not answer for: its last known age keeps growing; with
none known its time lag is unknown (shown "–", no /metrics sample), never 0 s."""

from __future__ import annotations

from datetime import datetime, timedelta
from unittest.mock import patch

import pytest
from django.urls import reverse
from django.utils import timezone

from opsportal import kafka
from overview import lag
from overview.models import LagPoint, LagSeries

from .conftest import make_group

pytestmark = pytest.mark.django_db


def test_when_kafka_does_not_answer_the_last_known_age_keeps_growing(make_topic, group_names, commit, sync, cluster):
    topic = make_topic(1, 2, {"min.insync.replicas": "1"}, prefix="agegrows")
    producer = kafka.producer(cluster)
    producer.produce(topic, b"old", b"k", partition=0, timestamp=_ms(timezone.now() - timedelta(hours=1)))
    assert producer.flush(10) == 0
    group = group_names("agegrows")
    commit(group, {(topic, 0): 0})
    sync()
    first = timezone.now()
    lag.record(first)
    known = LagSeries.objects.get(group_id=group, topic=topic).time_lag
    assert known is not None and known >= 3600

    down = kafka.KafkaClientError("no broker answered")
    with patch("opsportal.kafka.browse_session", autospec=True, side_effect=down):
        lag.record(first + timedelta(minutes=5))

    series = LagSeries.objects.get(group_id=group, topic=topic)
    assert series.time_lag == pytest.approx(known + 300, abs=0.01)
    assert LagPoint.objects.filter(series=series).order_by("at").last().time_lag == series.time_lag


def test_a_group_behind_whose_age_was_never_read_has_an_unknown_time_lag(admin_client, client):
    # Its topic is not mirrored: nothing is read from Kafka, as when it never answered.
    make_group("billing-unread", {("billing.unmirrored", 0): (3, 10)})
    lag.record(timezone.now())

    series = LagSeries.objects.get(group_id="billing-unread")
    assert (series.lag, series.time_lag) == (7, None)
    assert LagPoint.objects.get(series=series).time_lag is None

    overview = admin_client.get(reverse("admin:index")).content.decode()
    row = overview[overview.index(">billing-unread</a>") :].split("</tr>")[0]
    assert "<td>–</td>" in row
    metrics = client.get("/metrics").content.decode()
    assert 'opsportal_consumer_lag{group="billing-unread",topic="billing.unmirrored"} 7.0' in metrics
    assert 'opsportal_consumer_time_lag_seconds{group="billing-unread"' not in metrics


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
