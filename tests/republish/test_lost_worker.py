"""A worker killed outright mid-job leaves its job running; once it has settled nothing for
REPUBLISH_JOB_ABANDONED_AFTER, "run the rest" stops it and sends what it never claimed, once."""

from __future__ import annotations

import io
import sqlite3
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from deadletter.models import DeadLetterRecord, Status
from republish import jobs, runner
from republish.models import Replay, ReplayJob
from tests.conftest import database_url_for_children

from .conftest import manage, read_partition

# Runs in a child process: a job of 40 rows in chunks of 10, killed while settling the second chunk.
# On SQLite a chunk is settled after the next one is handed to the producer, so at the kill chunk 1
# is settled, chunk 2 is written but still publishing, chunk 3 is claimed but was never sent,
# chunk 4 was never claimed.
KILLED_JOB = """
import os, signal
from django.contrib.auth.models import User
from deadletter.models import DeadLetterRecord
from opsportal import kafka
from republish import jobs, runner
settled, finish_chunk = [], runner.finish_chunk
def die_settling_the_second(*args):
    settled.append(1)
    if len(settled) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return finish_chunk(*args)
runner.finish_chunk = die_settling_the_second
jobs.CHUNK_SIZE = 10
# Batches wait 2 s: chunks 1 and 2 go out together, chunk 3 is still queued at the kill.
runner.republish_producer = lambda: kafka.producer(**{"linger.ms": 2000})
target = os.environ["TARGET"]
DeadLetterRecord.objects.bulk_create(
    DeadLetterRecord(dlq_topic="test.lost", partition=0, offset=n, key=f"acc_{n}".encode(), value=b"{}",
                     headers=[], original_topic=target, original_partition=0, original_offset=n)
    for n in range(int(os.environ.get("ROWS", "40")))
)
user = User.objects.create_user("lost-operator")
job = jobs.create_job(list(DeadLetterRecord.objects.order_by("pk").values_list("pk", flat=True)), user=user)
runner.run_job(job.pk)
"""

# Runs in a child process: what an operator's "run the rest" does, then the new job's run.
RUN_THE_REST = """
from django.contrib.auth.models import User
from republish import jobs, runner
from republish.models import ReplayJob
job = ReplayJob.objects.order_by("pk").first()
try:
    rest = jobs.rest_of(job, user=User.objects.get(username="lost-operator"))
except jobs.RepublishRefused as refused:
    print("refused:", refused)
else:
    print("rest:", len(rest.record_ids))
    print(runner.run_job(rest.pk).summary())
"""


def jobs_and_rows(database: Path) -> tuple[list[tuple], Counter]:
    with sqlite3.connect(database) as connection:
        jobs = connection.execute("SELECT state, done, last_error FROM republish_replayjob ORDER BY id").fetchall()
        statuses = Counter(status for (status,) in connection.execute("SELECT status FROM deadletter_review"))
    return jobs, statuses


def age(database: Path, table: str, column: str) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute(f"UPDATE {table} SET {column} = datetime({column}, '-1 hour')")


def test_the_rest_of_a_job_whose_worker_was_killed_goes_out_once(tmp_path, make_topic, cluster):
    database = tmp_path / "portal.sqlite3"
    assert manage(database, "migrate", "--noinput").returncode == 0
    target = make_topic(partitions=1, prefix="test.lost-target")

    killed = manage(database, "shell", "-c", KILLED_JOB, env={"TARGET": target})

    assert killed.returncode == -9, killed.stderr
    jobs, statuses = jobs_and_rows(database)
    assert [(state, done) for state, done, _ in jobs] == [("running", 10)]
    assert statuses == {"republished": 10, "publishing": 20, "new": 10}

    # Just killed, it still looks alive: no rest yet.
    too_soon = manage(database, "shell", "-c", RUN_THE_REST)
    assert "refused: job" in too_soon.stdout and "is running" in too_soon.stdout, too_soon.stderr

    age(database, "republish_replayjob", "progress_at")
    rest = manage(database, "shell", "-c", RUN_THE_REST)

    assert rest.returncode == 0, rest.stderr
    assert "rest: 10" in rest.stdout and "10 republished" in rest.stdout
    jobs, statuses = jobs_and_rows(database)
    assert jobs[0][0] == "stopped" and "its worker was lost" in jobs[0][2]
    assert jobs[1][:2] == ("finished", 10)
    assert statuses == {"republished": 20, "publishing": 20}

    # The chunks it left publishing are reconcile's: what the producer had written before the kill
    # is found in the topic (republished), what was still in its queue is failed. How much of
    # chunks 2 and 3 got out depends on the producer's timing, so it is counted, not expected.
    age(database, "republish_replay", "created_at")
    reconciled = manage(database, "reconcile_replays", "--all")
    assert reconciled.returncode == 0, reconciled.stderr
    statuses = jobs_and_rows(database)[1]
    assert set(statuses) <= {"republished", "failed"} and statuses["republished"] >= 20, statuses
    assert statuses["republished"] + statuses["failed"] == 40
    written = Counter(dict(record.headers)["x-replayed-from"] for record in read_partition(cluster, target, 0))
    assert len(written) == statuses["republished"] and set(written.values()) == {1}

    # Failed rows may be republished: the stopped job's rest is now exactly those.
    if statuses["failed"]:
        again = manage(database, "shell", "-c", RUN_THE_REST)
        failed = statuses["failed"]
        assert f"rest: {failed}" in again.stdout and f"{failed} republished" in again.stdout, again.stderr
    assert jobs_and_rows(database)[1] == {"republished": 40}
    origins = Counter(dict(record.headers)["x-replayed-from"] for record in read_partition(cluster, target, 0))
    assert len(origins) == 40 and set(origins.values()) == {1}


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_worker_killed_with_its_helper_threads_loses_nothing(make_topic, cluster):
    """The same on PostgreSQL, where the job reads ahead and settles on threads of its own: how far
    they got at the kill varies, so the test counts instead of expecting exact chunks."""
    if connection.vendor != "postgresql":
        pytest.skip("the job's helper threads run only on PostgreSQL; the test above covers SQLite")
    target = make_topic(partitions=1, prefix="test.lost-target")

    killed = manage(database_url_for_children(), "shell", "-c", KILLED_JOB, env={"TARGET": target, "ROWS": "60"})

    assert killed.returncode == -9, killed.stderr
    job = ReplayJob.objects.get()
    assert (job.state, job.done) == (ReplayJob.State.RUNNING, 10)
    statuses = Counter(DeadLetterRecord.objects.values_list("review__status", flat=True))
    assert statuses[Status.REPUBLISHED] == 10 and statuses[Status.PUBLISHING] >= 10 and statuses[Status.NEW] >= 20
    never_claimed = statuses[Status.NEW]

    ReplayJob.objects.update(progress_at=timezone.now() - timedelta(hours=1))
    operator = User.objects.get(username="lost-operator")
    rest = jobs.rest_of(job, user=operator)
    assert len(rest.record_ids) == never_claimed
    assert runner.run_job(rest.pk).republished == never_claimed
    job.refresh_from_db()
    assert job.state == ReplayJob.State.STOPPED and "its worker was lost" in job.last_error

    Replay.objects.update(created_at=timezone.now() - timedelta(hours=1))
    call_command("reconcile_replays", "--all", stdout=io.StringIO())
    statuses = Counter(DeadLetterRecord.objects.values_list("review__status", flat=True))
    written = Counter(dict(record.headers)["x-replayed-from"] for record in read_partition(cluster, target, 0))
    assert statuses[Status.REPUBLISHED] == len(written) and set(written.values()) == {1}
    assert statuses[Status.REPUBLISHED] + statuses[Status.FAILED] == 60
    if statuses[Status.FAILED]:  # claimed but still in the producer's queue at the kill
        runner.run_job(jobs.rest_of(job, user=operator).pk)
    assert DeadLetterRecord.objects.exclude(review__status=Status.REPUBLISHED).count() == 0
    origins = Counter(dict(record.headers)["x-replayed-from"] for record in read_partition(cluster, target, 0))
    assert len(origins) == 60 and set(origins.values()) == {1}
