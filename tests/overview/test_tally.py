"""The running dead-letter tallies (overview/tally.py) equal full counts of the records: after
drains, before and after the catch-up, after triage, republish and discard, and after a rebuild."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.db.models import Count
from django.db.models.functions import TruncHour
from django.utils import timezone

from deadletter.models import DeadLetterRecord, Review, Status
from overview import tally
from overview.models import DeadLetterHourly, DeadLetterTotal, StatusDelta, StatusTotal
from republish import jobs
from republish.discard import discard
from republish.tasks import run_replay_job

pytestmark = pytest.mark.django_db(transaction=True)
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="the status trigger is PostgreSQL's")


def full_counts() -> dict[str, object]:
    records = DeadLetterRecord.objects.order_by()
    start = (timezone.now() - timedelta(days=7)).replace(minute=0, second=0, microsecond=0)
    return {
        "totals": Counter(
            {(t, f): n for t, f, n in records.values_list("original_topic", "fingerprint").annotate(n=Count("pk"))}
        ),
        "hourly": Counter(
            {
                (h, f): n
                for h, f, n in records.filter(timestamp__gte=start)
                .annotate(h=TruncHour("timestamp"))
                .values_list("h", "fingerprint")
                .annotate(n=Count("pk"))
            }
        ),
        "statuses": {s: Review.objects.filter(status=s).count() for s in Status.values},
        "day": records.filter(timestamp__gte=timezone.now() - timedelta(hours=24)).count(),
        "start": start,
    }


def assert_tally_exact() -> None:
    now = timezone.now()
    expected = full_counts()
    assert tally.totals() == expected["totals"]
    per_hour = tally.hourly(expected["start"])
    assert per_hour == expected["hourly"]
    assert tally.status_counts() == expected["statuses"]
    since = now - timedelta(hours=24)
    assert tally.count_since(since, per_hour) == DeadLetterRecord.objects.filter(timestamp__gte=since).count()


def make_records(first: int, count: int, *, hours_back: float = 30.0) -> None:
    now = timezone.now()
    for i in range(first, first + count):
        DeadLetterRecord.objects.create(
            dlq_topic="billing.dead-letter", partition=0, offset=i, fingerprint=f"fp-{i % 3}",
            original_topic=f"billing.t{i % 2}", timestamp=now - timedelta(hours=hours_back * (i % 7) / 7),
        )  # fmt: skip


def test_exact_before_and_after_each_catch_up_and_after_a_rebuild(db):
    make_records(0, 14)
    assert_tally_exact()  # nothing tallied yet: all live
    caught = tally.catch_up()
    assert caught.records == 14
    assert DeadLetterTotal.objects.exists() and DeadLetterHourly.objects.exists()
    assert_tally_exact()  # all tallied
    make_records(100, 9, hours_back=400)  # some older than the hours kept: in the totals only
    Review.objects.filter(record__offset__in=[1, 2, 3]).update(status=Status.IN_REVIEW)
    assert_tally_exact()  # tallied + live
    assert tally.catch_up().records == 9
    assert_tally_exact()
    assert tally.catch_up().records == 0  # nothing new: nothing added twice
    assert_tally_exact()
    # A tally gone wrong (e.g. restored from another backup) is put right by a rebuild.
    DeadLetterTotal.objects.update(count=1)
    DeadLetterHourly.objects.update(count=1)
    StatusTotal.objects.update(count=7)
    with pytest.raises(AssertionError):
        assert_tally_exact()
    tally.rebuild()
    assert_tally_exact()


def test_the_status_tally_follows_triage_republish_and_discard(client, dead_letters, operator, original_topic):
    records = dead_letters([(f"acct-{i}".encode(), b'{"n": %d}' % i) for i in range(9)])
    assert len(records) == 9
    if connection.vendor == "postgresql":
        assert StatusDelta.objects.exists()  # written by the trigger, in the drain; SQLite counts live
    assert_tally_exact()
    tally.catch_up()
    assert_tally_exact()
    # Triage, as the record page does it (an UPDATE guarded by the triage statuses).
    Review.objects.filter(pk__in=[records[0].pk, records[1].pk], status=Status.NEW).update(status=Status.IN_REVIEW)
    assert_tally_exact()
    job = jobs.create_job([r.pk for r in records[2:5]], user=operator)
    run_replay_job.apply(args=[job.pk]).get()
    assert Review.objects.filter(status=Status.REPUBLISHED).count() == 3
    assert_tally_exact()
    assert discard([records[5].pk, records[6].pk], user=operator, reason="known bad") == 2
    assert_tally_exact()
    tally.catch_up()
    assert_tally_exact()
    more = dead_letters([(b"acct-x", b'{"n": 99}')])
    assert len(more) == 1
    assert_tally_exact()
    tally.rebuild()
    assert_tally_exact()


def test_a_status_change_rolled_back_leaves_the_tally_as_it_was(db):
    from django.db import transaction

    make_records(0, 5)
    tally.catch_up()
    with pytest.raises(RuntimeError), transaction.atomic():
        Review.objects.update(status=Status.DISCARDED)
        raise RuntimeError
    assert_tally_exact()


@on_postgresql
def test_a_missing_trigger_is_counted_live_and_reinstalled_by_the_catch_up(db):
    make_records(0, 5)
    tally.uninstall_status_trigger()
    Review.objects.filter(record__offset=0).update(status=Status.DISCARDED)  # not seen by any trigger
    assert not tally.status_trigger_installed()
    assert_tally_exact()
    tally.catch_up()
    assert tally.status_trigger_installed()
    assert_tally_exact()


@on_postgresql
def test_the_catch_up_waits_for_an_insert_in_flight(db, monkeypatch):
    """A writer holding the records table open (an insert not committed yet) keeps the tally
    from moving past ids it may still commit below the largest one seen."""
    make_records(0, 3)
    monkeypatch.setattr(tally, "SETTLE_SECONDS", 0.3)
    params = connection.get_connection_params()
    other = psycopg.connect(
        dbname=params["dbname"], host=params.get("host"), port=params.get("port"), user=params.get("user")
    )
    try:
        other.execute(f"LOCK TABLE {DeadLetterRecord._meta.db_table} IN ROW EXCLUSIVE MODE")
        assert tally.settled_max_id() is None
        assert tally.catch_up().records == 0
        released = threading.Timer(0.2, other.rollback)
        monkeypatch.setattr(tally, "SETTLE_SECONDS", 5.0)
        released.start()
        assert tally.settled_max_id() == DeadLetterRecord.objects.order_by("-pk").first().pk
        released.join()
    finally:
        other.close()
    assert tally.catch_up().records == 3
    assert_tally_exact()
