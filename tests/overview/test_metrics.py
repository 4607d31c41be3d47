"""/metrics: Prometheus text that prometheus-client parses, its values the database's counts."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from deadletter.models import DeadLetterRecord, Review
from offsets.models import OffsetReset
from overview import lag
from overview.models import LagSeries
from republish import jobs
from republish.models import Replay, ReplayJob
from republish.tasks import run_replay_job

from .conftest import make_group


def scrape(client, **headers: str) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content[:200]
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.mark.django_db(transaction=True)
def test_after_a_drain_and_a_republish_the_values_are_the_database_counts(
    client, dead_letters, operator, original_topic
):
    n, m = 12, 5
    records = dead_letters([(f"acct-{i}".encode(), b'{"n": %d}' % i) for i in range(n)])
    assert len(records) == n
    job = jobs.create_job([r.pk for r in records[:m]], user=operator)
    run_replay_job.apply(args=[job.pk]).get()
    make_group("billing-ledger", {(original_topic, 0): (10, 25), (original_topic, 1): (0, 4)})
    lag.record()

    samples = scrape(client)
    for status in ("new", "in_review", "publishing", "republished", "failed", "discarded"):
        assert value(samples, "opsportal_dead_letters", status=status) == Review.objects.filter(status=status).count()
    assert value(samples, "opsportal_dead_letters", status="republished") == m
    assert value(samples, "opsportal_dead_letters", status="new") == n - m
    assert value(samples, "opsportal_dead_letters_drained_total") == DeadLetterRecord.objects.count() == n
    assert value(samples, "opsportal_dead_letters_by_topic", topic=original_topic) == n
    fingerprints = {k[1][0][1]: v for k, v in samples.items() if k[0] == "opsportal_dead_letters_by_fingerprint"}
    assert sum(fingerprints.values()) == n
    assert (
        value(samples, "opsportal_replays_total", state="republished")
        == Replay.objects.filter(state="republished").count()
        == m
    )
    assert (
        value(samples, "opsportal_replay_jobs", state="finished")
        == ReplayJob.objects.filter(state="finished").count()
        == 1
    )
    assert (
        value(samples, "opsportal_offset_resets_total", status="applied")
        == OffsetReset.objects.filter(status="applied").count()
    )
    assert value(samples, "opsportal_consumer_lag", group="billing-ledger", topic=original_topic) == 19
    # Its topic is not mirrored, so no age was read: unknown, no sample (test_time_lag_unknown.py).
    time_lag = ("opsportal_consumer_time_lag_seconds", (("group", "billing-ledger"), ("topic", original_topic)))
    assert time_lag not in samples
    LagSeries.objects.filter(group_id="billing-ledger").update(time_lag=42.5)
    assert scrape(client)[time_lag] == 42.5
    assert value(samples, "opsportal_dead_letters_unreviewed_oldest_age_seconds") > 0


def test_fingerprints_are_bounded_by_the_setting(client, settings, db):
    from django.utils import timezone

    settings.METRICS_TOP_FINGERPRINTS = 2
    for i, fingerprint in enumerate(["a", "a", "a", "b", "b", "c", "d"]):
        DeadLetterRecord.objects.create(dlq_topic="dlq", partition=0, offset=i, fingerprint=fingerprint,
                                        timestamp=timezone.now())  # fmt: skip
    samples = scrape(client)
    fingerprints = {k[1][0][1]: v for k, v in samples.items() if k[0] == "opsportal_dead_letters_by_fingerprint"}
    assert fingerprints == {"a": 3, "b": 2, "other": 2}


def test_a_token_is_required_when_set(client, settings, db):
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-token").status_code == 401
    assert scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-token")


def test_no_token_means_open_as_under_dev_up(client, settings, db):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200
