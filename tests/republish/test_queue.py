"""The admin's bulk republish the way production runs it: the admin queues the job (on commit)
on the real Redis, a real Celery worker process (the entrypoint's worker command, as in
tests/deploy/test_workers.py) takes it and republishes to Kafka, on the PostgreSQL test database."""

from __future__ import annotations

from collections import Counter

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from deadletter.models import Status
from republish.models import Replay, ReplayJob
from tests.conftest import database_url_for_children
from tests.deploy.conftest import base_environment, start  # noqa: F401 - start: the fixture that stops what it starts
from tests.deploy.test_workers import succeeded, wait_until

from .conftest import billing_event, bulk_republish, messages_of, read_partition

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the worker sees only what the test commits
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a worker process shares only a server database"),
]

TASK = "republish.run_replay_job"


@pytest.fixture
def worker(task_queue, start):  # noqa: F811 - the imported fixture; stopped before the queue is removed
    """One real Celery worker on the portal's broker, reading only this test's queue."""
    env = base_environment(
        DATABASE_URL=database_url_for_children(), CELERY_BROKER_URL=settings.CELERY_BROKER_URL, CELERY_CONCURRENCY="1"
    )
    started = start("worker", "worker", "-Q", task_queue.name, env=env)
    started.wait_for(" ready.", timeout=90)
    return started


def test_a_bulk_republish_from_the_admin_is_run_by_a_worker_and_lands_in_kafka_once(
    worker, dead_letters, operator, cluster, original_topic
):
    rows = dead_letters([(f"acc_q{n}".encode(), billing_event(f"acc_q{n}")) for n in range(30)])
    client = Client()
    client.force_login(operator)

    response = bulk_republish(client, rows)

    job = ReplayJob.objects.get()
    assert any(f"created for {len(rows)} record(s)" in m for m in messages_of(response))
    wait_until(lambda: succeeded(worker, TASK), 90, "the job's task on the worker", [worker])
    assert succeeded(worker, TASK) == [f"'{len(rows)} republished'"]
    job.refresh_from_db()
    assert (job.state, job.done, job.failed, job.skipped) == (ReplayJob.State.FINISHED, len(rows), 0, 0)
    assert set(Replay.objects.filter(job=job).values_list("state", flat=True)) == {Replay.State.REPUBLISHED}
    assert {row.pk for row in rows} == set(
        Replay.objects.filter(job=job).values_list("record_id", flat=True)
    )  # every selected row
    for row in rows:
        row.refresh_from_db()
        assert row.status == Status.REPUBLISHED
    # In Kafka, each once, carrying the replay id the database holds for it.
    sent = Counter(
        dict(record.headers)["x-replay-id"].decode()
        for partition in range(10)
        for record in read_partition(cluster, original_topic, partition)
        if "x-replay-id" in dict(record.headers)
    )
    assert set(sent.values()) == {1}
    assert set(sent) == {str(replay_id) for replay_id in Replay.objects.values_list("replay_id", flat=True)}
