from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError, connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from deadletter.models import DeadLetterRecord, Review, Status
from opsportal import kafka
from opsportal.kafka.testing import produce_records
from republish import jobs, outbox, runner, safety
from republish.models import Replay, ReplayJob
from republish.publish import Outcome, RepublishRefused, republish
from republish.tasks import run_replay_job

from .conftest import JOBS, billing_event, bulk_republish, read_partition, wait_for_metadata

pytestmark = pytest.mark.django_db

BULK = 10_000


def stored_rows(count: int, original_topic: str) -> list[int]:
    """Dead-letter rows as the drain stores them (the drain has its own tests)."""
    rows = [
        DeadLetterRecord(
            dlq_topic="test.bulk-dlq",
            partition=0,
            offset=n,
            key=f"acc_{n % 500}".encode(),
            value=billing_event(f"acc_{n % 500}", event_id=f"evt-{n}"),
            key_size=8,
            value_size=100,
            headers=[["x-error-type", "RXJy"]],
            original_topic=original_topic,
            original_partition=0,
            original_offset=n,
            event_id=f"evt-{n}",
        )
        for n in range(count)
    ]
    DeadLetterRecord.objects.bulk_create(rows, batch_size=2000)
    return list(DeadLetterRecord.objects.filter(dlq_topic="test.bulk-dlq").order_by("pk").values_list("pk", flat=True))


def settled_on(monkeypatch) -> list[bool]:
    """For each chunk a job settles, in order: whether it was settled on the job's own thread
    (the test's: tasks run here with apply())."""
    on_job_thread, finish_chunk, job_thread = [], runner.finish_chunk, threading.get_ident()

    def recording(*args):
        on_job_thread.append(threading.get_ident() == job_thread)
        return finish_chunk(*args)

    monkeypatch.setattr(runner, "finish_chunk", recording)
    return on_job_thread


# Where a second connection sees the job's rows (PostgreSQL, committed), chunks are read ahead
# and settled on helper threads; on SQLite everything happens on the job's thread.
HELPER_THREADS = connection.vendor == "postgresql"


# Committed rows, as a Celery worker sees them: chunks are settled on the job's settle thread.
@pytest.mark.django_db(transaction=True)
def test_a_bulk_republish_of_ten_thousand_rows_lands_each_once_with_progress(
    make_topic, cluster, operator, monkeypatch
):
    target = make_topic(partitions=3, prefix="test.bulk-target")
    wait_for_metadata(cluster, target)
    ids = stored_rows(BULK, original_topic="billing.nowhere")
    job = jobs.create_job(ids, user=operator, target_topic=target)
    threads = settled_on(monkeypatch)

    result = run_replay_job.apply(args=[job.pk]).get()

    job.refresh_from_db()
    assert (job.state, job.done, job.failed, job.skipped, job.total) == ("finished", BULK, 0, 0, BULK)
    # Two chunks of 5,000; SQLite lets one connection write at a time, so there the job's thread settles.
    assert threads == [not HELPER_THREADS] * 2
    assert "10000 republished" in result
    origins = Counter(
        dict(record.headers)["x-replayed-from"] for p in range(3) for record in read_partition(cluster, target, p)
    )
    assert len(origins) == BULK and set(origins.values()) == {1}
    assert DeadLetterRecord.objects.filter(pk__in=ids, review__status=Status.REPUBLISHED).count() == BULK


@pytest.fixture
def job_in_chunks_of_100(make_topic, cluster, operator, monkeypatch):
    """Makes a job of `rows` stored dead letters to a new one-partition topic, claimed 100 at a time."""

    def make(rows: int, prefix: str):
        target = make_topic(partitions=1, prefix=prefix)
        wait_for_metadata(cluster, target)
        ids = stored_rows(rows, original_topic="billing.nowhere")
        monkeypatch.setattr(jobs, "CHUNK_SIZE", 100)
        return target, ids, jobs.create_job(ids, user=operator, target_topic=target)

    return make


def statuses_of(ids: list[int]) -> Counter:
    return Counter(DeadLetterRecord.objects.filter(pk__in=ids).values_list("review__status", flat=True))


def replay_ids(state: str) -> set[str]:
    return {str(replay_id) for replay_id in Replay.objects.filter(state=state).values_list("replay_id", flat=True)}


@pytest.mark.django_db(transaction=True)
def test_a_chunk_that_cannot_be_settled_stops_the_job_and_leaves_its_rows_for_reconcile(
    job_in_chunks_of_100, cluster, operator, monkeypatch
):
    # Eight chunks: the job stops before it claims them all.
    target, ids, job = job_in_chunks_of_100(800, "test.bulk-stop")
    settle = outbox.settle

    def database_gone_after_the_first_chunk(rows, settled_at):
        if DeadLetterRecord.objects.filter(review__status=Status.REPUBLISHED).exists():
            raise OperationalError("server closed the connection unexpectedly")
        settle(rows, settled_at)

    monkeypatch.setattr(outbox, "settle", database_gone_after_the_first_chunk)

    with pytest.raises((RuntimeError, OperationalError), match="server closed the connection"):
        runner.run_job(job.pk)

    job.refresh_from_db()
    assert job.state == ReplayJob.State.STOPPED and "server closed the connection" in job.last_error
    statuses = statuses_of(ids)
    assert statuses[Status.REPUBLISHED] == 100 and statuses[Status.PUBLISHING] >= 100
    # Every row produced is either settled or still publishing with its replay: nothing was lost.
    produced = {dict(record.headers)["x-replay-id"].decode() for record in read_partition(cluster, target, 0)}
    unsettled, settled = replay_ids(Replay.State.PUBLISHING), replay_ids(Replay.State.REPUBLISHED)
    assert len(settled) == 100 and settled <= produced and produced <= settled | unsettled

    # The rest: rows never claimed, in the job's order; rows left publishing wait for reconcile.
    monkeypatch.setattr(outbox, "settle", settle)
    rest = jobs.rest_of(job, user=operator)
    never_claimed = [pk for pk in ids if DeadLetterRecord.objects.get(pk=pk).status == Status.NEW]
    assert never_claimed and rest.record_ids == never_claimed and rest.state == ReplayJob.State.QUEUED
    runner.run_job(rest.pk)
    rest.refresh_from_db()
    assert (rest.state, rest.done) == (ReplayJob.State.FINISHED, len(never_claimed))
    origins = Counter(dict(record.headers)["x-replayed-from"] for record in read_partition(cluster, target, 0))
    assert set(origins.values()) == {1}  # nothing went out twice
    assert DeadLetterRecord.objects.filter(pk__in=ids, review__status=Status.PUBLISHING).count() == len(unsettled)
    with pytest.raises(RepublishRefused, match="only a stopped job has a rest"):
        jobs.rest_of(rest, user=operator)


@pytest.mark.django_db(transaction=True)
def test_a_chunk_that_cannot_be_read_stops_the_job_before_anything_of_it_is_claimed(
    job_in_chunks_of_100, cluster, operator, monkeypatch
):
    target, ids, job = job_in_chunks_of_100(300, "test.bulk-unread")
    load_sources, readers, job_thread = runner.load_sources, [], threading.get_ident()

    def database_gone_on_the_second_read(chunk):
        readers.append(threading.get_ident() == job_thread)
        if len(readers) == 2:
            raise OperationalError("server closed the connection unexpectedly")
        return load_sources(chunk)

    monkeypatch.setattr(runner, "load_sources", database_gone_on_the_second_read)

    with pytest.raises(OperationalError, match="server closed the connection"):
        runner.run_job(job.pk)

    job.refresh_from_db()
    assert job.state == ReplayJob.State.STOPPED and "server closed the connection" in job.last_error
    # Read ahead on a thread of its own where a second connection can see the rows.
    assert readers == [not HELPER_THREADS] * 2
    # The first chunk went out and was settled; the unread one and the one after it were never claimed.
    statuses = statuses_of(ids)
    assert statuses == {Status.REPUBLISHED: 100, Status.NEW: 200}
    assert len(read_partition(cluster, target, 0)) == 100


@pytest.mark.django_db(transaction=True)
def test_a_job_stopped_elsewhere_while_it_runs_claims_nothing_more_and_settles_what_it_sent(
    job_in_chunks_of_100, cluster, operator, monkeypatch
):
    target, ids, job = job_in_chunks_of_100(800, "test.bulk-stopped")
    finish_chunk = runner.finish_chunk

    def stopped_as_abandoned_after_the_first(job_, in_flight, total):
        if not ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.STOPPED).exists():
            ReplayJob.objects.filter(pk=job.pk).update(state=ReplayJob.State.STOPPED, last_error="taken for lost")
        # A chunk settled after the stop reports an error of its own: the job keeps the reason it was stopped with.
        outcome = in_flight if isinstance(in_flight, Outcome) else in_flight.finish()
        outcome.errors.append("an error of a chunk settled after the stop")
        return finish_chunk(job_, outcome, total)

    monkeypatch.setattr(runner, "finish_chunk", stopped_as_abandoned_after_the_first)

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert (job.state, job.last_error) == (ReplayJob.State.STOPPED, "taken for lost")
    statuses = statuses_of(ids)
    # What it had sent is settled; it claimed nothing after it saw the stop.
    assert set(statuses) == {Status.REPUBLISHED, Status.NEW} and statuses[Status.NEW] >= 400
    origins = Counter(dict(record.headers)["x-replayed-from"] for record in read_partition(cluster, target, 0))
    assert len(origins) == statuses[Status.REPUBLISHED] and set(origins.values()) == {1}


def test_a_running_job_from_before_progress_times_counts_from_its_start(operator):
    ids = stored_rows(3, original_topic="billing.nowhere")
    job = jobs.create_job(ids, user=operator)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    ReplayJob.objects.filter(pk=job.pk).update(state=ReplayJob.State.RUNNING, started_at=an_hour_ago)
    job.refresh_from_db()
    assert job.progress_at is None and job.seems_abandoned()

    rest = jobs.rest_of(job, user=operator)

    assert rest.record_ids == ids and job.state == ReplayJob.State.STOPPED


def test_a_job_that_moved_on_since_it_was_read_is_not_stopped(operator):
    ids = stored_rows(3, original_topic="billing.nowhere")
    job = jobs.create_job(ids, user=operator)
    ReplayJob.objects.filter(pk=job.pk).update(
        state=ReplayJob.State.RUNNING, progress_at=timezone.now() - timedelta(hours=1)
    )
    job.refresh_from_db()  # read as abandoned ...
    ReplayJob.objects.filter(pk=job.pk).update(progress_at=timezone.now())  # ... then it settled a chunk

    with pytest.raises(RepublishRefused, match="is running"):
        jobs.rest_of(job, user=operator)

    job.refresh_from_db()
    assert job.state == ReplayJob.State.RUNNING and ReplayJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_job_runs_once_even_if_its_task_is_delivered_twice(make_topic, cluster, operator):
    target = make_topic(partitions=1, prefix="test.bulk-target")
    wait_for_metadata(cluster, target)
    ids = stored_rows(5, "billing.nowhere")
    job = jobs.create_job(ids, user=operator, target_topic=target)

    run_replay_job.apply(args=[job.pk])
    # Even with its rows republishable again, a second delivery of the task finds the job taken.
    Review.objects.filter(pk__in=ids).update(status=Status.NEW)
    second = run_replay_job.apply(args=[job.pk]).get()

    assert second == "0 republished"
    assert len(read_partition(cluster, target, 0)) == 5


@pytest.mark.django_db(transaction=True)
def test_four_eyes_holds_a_transaction_republish_until_a_second_operator_approves(
    make_topic, cluster, operator, second_operator, settings, task_queue
):
    target = make_topic(partitions=1, prefix="test.four-eyes")
    wait_for_metadata(cluster, target)
    settings.OPSPORTAL_FOUR_EYES, settings.OPSPORTAL_FOUR_EYES_TOPICS = True, [target]
    rows = list(DeadLetterRecord.objects.filter(pk__in=stored_rows(3, target)))
    requester, approver = Client(), Client()
    requester.force_login(operator)
    approver.force_login(second_operator)

    bulk_republish(requester, rows)  # the admin decides the job waits: nothing in the test says so

    job = ReplayJob.objects.get()
    assert job.state == ReplayJob.State.AWAITING_APPROVAL and task_queue.sent() == []
    run_replay_job.apply(args=[job.pk])  # a task delivered anyway sends nothing
    requester.post(reverse(JOBS), {"action": "approve_jobs", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.state == ReplayJob.State.AWAITING_APPROVAL and read_partition(cluster, target, 0) == []

    approver.post(reverse(JOBS), {"action": "approve_jobs", "_selected_action": [job.pk]})
    ((task, args),) = task_queue.sent()
    assert (task, args) == ("republish.run_replay_job", (job.pk,))
    run_replay_job.apply(args=args)

    job.refresh_from_db()
    assert (job.state, job.done, job.approved_by) == ("finished", 3, second_operator)
    assert len(read_partition(cluster, target, 0)) == 3


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_spaces_the_job_out(make_topic, cluster, operator, monkeypatch):
    """20 records/s for 40 records: chunks of 20, each followed by a wait until 20 more records'
    worth of time has passed since the start. On a clock of the test's own, moved only by those
    waits, so the figures are exact whatever the machine's speed."""
    target = make_topic(partitions=1, prefix="test.rate")
    wait_for_metadata(cluster, target)
    job = jobs.create_job(stored_rows(40, "billing.nowhere"), user=operator, target_topic=target, rate_limit=20)
    now, waits = [time.monotonic()], []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=lambda: now[0], sleep=sleep))
    chunks = settled_on(monkeypatch)

    run_replay_job.apply(args=[job.pk])

    job.refresh_from_db()
    assert (job.state, job.done) == ("finished", 40)
    assert len(chunks) == 2
    assert waits == [pytest.approx(1.0), pytest.approx(1.0)]


def test_safety_flags_newer_events_of_the_key_a_republished_event_id_and_a_returned_replay(
    dead_letters, operator, cluster, original_topic
):
    producer = kafka.producer(cluster)
    first, unrelated = dead_letters(
        [(b"acc_s", billing_event("acc_s", event_id="evt-s")), (b"acc_t", billing_event("acc_t"))]
    )
    produce_records(producer, original_topic, [(b"acc_s", b"{}", ())] * 3, cluster=cluster)

    report = safety.check([first, unrelated])

    assert report.by_record[first.pk].newer_same_key == 3
    assert report.by_record[unrelated.pk].warnings == []
    republish([first], user=operator)
    (twin,) = dead_letters([(b"acc_s", billing_event("acc_s", event_id="evt-s"))])
    first.refresh_from_db()
    DeadLetterRecord.objects.filter(pk=twin.pk).update(returned_replay_id=first.review.replay_id)

    again = safety.check([first, twin]).by_record

    assert again[twin.pk].already_republished
    assert again[first.pk].failed_again
    assert "an earlier replay of it failed again" in again[first.pk].warnings


def test_a_bounded_scan_says_at_least(dead_letters, cluster, original_topic, settings):
    settings.REPUBLISH_SAFETY_SCAN_LIMIT = 2
    (row,) = dead_letters([(b"acc_b", billing_event("acc_b"))])
    producer = kafka.producer(cluster)
    produce_records(producer, original_topic, [(b"acc_b", b"{}", ())] * 5, cluster=cluster)

    checks = safety.check([row]).by_record[row.pk]

    assert checks.newer_is_lower_bound and checks.newer_same_key == 2
    assert checks.warnings[0].startswith("at least 2 newer")


def test_a_job_is_not_approvable_twice(operator):
    job = ReplayJob.objects.create(record_ids=[1], total=1, requested_by=operator, state=ReplayJob.State.QUEUED)
    with pytest.raises(RepublishRefused, match="not awaiting approval"):
        jobs.approve(job, user=User.objects.create_user("other"))


@pytest.mark.django_db(transaction=True)
def test_a_rejected_job_sends_nothing(make_topic, cluster, operator, second_operator, settings, task_queue):
    target = make_topic(partitions=1, prefix="test.reject")
    settings.OPSPORTAL_FOUR_EYES, settings.OPSPORTAL_FOUR_EYES_TOPICS = True, [target]
    requester, reviewer = Client(), Client()
    requester.force_login(operator)
    reviewer.force_login(second_operator)
    bulk_republish(requester, list(DeadLetterRecord.objects.filter(pk__in=stored_rows(2, target))))
    job = ReplayJob.objects.get(state=ReplayJob.State.AWAITING_APPROVAL)

    reviewer.post(
        reverse(JOBS),
        {"action": "reject_jobs", "_selected_action": [job.pk], "post": "yes", "reason": "wrong target topic"},
    )
    run_replay_job.apply(args=[job.pk])

    job.refresh_from_db()
    assert (job.state, job.done) == ("rejected", 0)
    assert read_partition(cluster, target, 0) == [] and task_queue.sent() == []
    with pytest.raises(RepublishRefused):
        jobs.approve(job, user=User.objects.create_user("late-approver"))


def test_a_key_whose_original_partition_is_not_murmur2s_is_flagged(operator):
    from django.utils import timezone

    from republish.partitioner import partition_for_key
    from topics.models import Topic

    Topic.objects.create(name="billing.mirrored", partition_count=10, replication_factor=3, last_synced=timezone.now())
    java_partition = partition_for_key(b"acc_m", 10)
    rows = [
        DeadLetterRecord.objects.create(
            dlq_topic="test.mismatch",
            partition=0,
            offset=n,
            key=b"acc_m",
            original_topic="billing.mirrored",
            original_partition=partition,
        )
        for n, partition in enumerate([java_partition, (java_partition + 1) % 10])
    ]

    checks = safety.check(rows).by_record

    assert checks[rows[0].pk].partition_mismatch is None
    assert checks[rows[1].pk].partition_mismatch == ((java_partition + 1) % 10, java_partition)
    assert "a Java/KafkaJS producer puts this key on" in checks[rows[1].pk].warnings[0]
