"""More than one worker: two real Celery workers (the entrypoint's worker command) on one queue."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis
import yaml
from celery import Celery
from django.contrib.auth.models import User
from django.db import connection

from deadletter.models import DeadLetterRecord, Review
from opsportal import kafka
from opsportal.kafka.testing import produce_records
from republish import jobs
from republish.models import ReplayJob

from .conftest import ROOT, TEST_REDIS_URL, base_environment, database_url_for_children

DRAIN_LOCK = "opsportal:deadletter-drain"  # deadletter/tasks.py
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="worker processes share only a server database"),
]


@pytest.fixture
def queue() -> str:
    return f"deploy-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def two_workers(start, queue):
    """two_workers(**env) -> the two started workers, both ready, consuming `queue` one task at a time."""

    def run(**extra: str):
        env = base_environment(DATABASE_URL=database_url_for_children(), CELERY_CONCURRENCY="1", **extra)
        # The first keeps Celery's default name, the one the compose healthcheck pings.
        workers = [
            start("worker-1", "worker", "-Q", queue, env=env),
            start("worker-2", "worker", "-Q", queue, "-n", "second@%h", env=env),
        ]
        for worker in workers:
            worker.wait_for(" ready.", timeout=90)
        return workers

    return run


def send(queue: str, name: str, *args) -> None:
    # Not the current app: the portal's shared tasks would then resolve to this bare one for the rest of the run.
    app = Celery(broker=TEST_REDIS_URL, set_as_current=False)
    try:
        app.send_task(name, args=args, queue=queue)
    finally:
        app.close()


def succeeded(worker, task: str) -> list[str]:
    """The return values of the tasks of that name this worker finished, from its log."""
    return re.findall(rf"Task {re.escape(task)}\[[^\]]+\] succeeded in [\d.]+s: (.*)", worker.output())


def wait_until(condition, timeout: float, what: str, workers) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        logs = "\n\n".join(f"--- {w.name}\n{w.output()[-3000:]}" for w in workers)
        assert time.monotonic() < deadline, f"{what} not within {timeout:.0f}s\n{logs}"
        time.sleep(0.3)


def test_two_workers_draining_at_once_store_every_record_once(two_workers, queue, make_topic, cluster, group_names):
    dlq = make_topic(partitions=1, prefix="test.deploy-dlq")
    count = 3000
    producer = kafka.producer(cluster)
    records = [(f"acc_{n}".encode(), b'{"eventType": "X"}' + bytes(500), ()) for n in range(count)]
    produce_records(producer, dlq, records, cluster=cluster)
    redis.Redis.from_url(TEST_REDIS_URL).delete(DRAIN_LOCK)  # a lock a killed earlier run left
    workers = two_workers(DEAD_LETTER_TOPIC=dlq, DEAD_LETTER_DRAIN_GROUP_ID=group_names("deploy-drain"))

    # Each idle worker takes one: both drains start at the same moment.
    send(queue, "deadletter.drain_dead_letter")
    send(queue, "deadletter.drain_dead_letter")
    task = "deadletter.drain_dead_letter"
    wait_until(lambda: all(succeeded(w, task) for w in workers), 120, "both drain tasks", workers)

    results = [succeeded(w, task)[0] for w in workers]
    stored = DeadLetterRecord.objects.filter(dlq_topic=dlq)
    assert stored.count() == count
    assert sorted(stored.values_list("offset", flat=True)) == list(range(count))
    reported = sum(int(m) for r in results for m in re.findall(r"stored (\d+)", r))
    assert reported == count, results
    # They overlapped: the second found the first one's lock (deadletter/tasks.py) and left it alone.
    assert sorted("skipped" in r for r in results) == [False, True], results


def test_two_bulk_jobs_on_two_workers_each_send_their_own_records_once(two_workers, queue, make_topic, cluster):
    target = make_topic(partitions=3, prefix="test.deploy-target")
    per_job = 400
    DeadLetterRecord.objects.bulk_create(
        DeadLetterRecord(
            dlq_topic="test.deploy", partition=0, offset=n, key=f"acc_{n}".encode(), value=b"{}", headers=[],
            original_topic=target, original_partition=0, original_offset=n,
        )
        for n in range(2 * per_job)
    )  # fmt: skip
    Review.create_missing(DeadLetterRecord.objects.all())
    ids = list(DeadLetterRecord.objects.order_by("pk").values_list("pk", flat=True))
    operator = User.objects.create_user("deploy-operator")
    # 200 records/s: each job runs about 2 s, so the two overlap.
    job_a = jobs.create_job(ids[:per_job], user=operator, rate_limit=200)
    job_b = jobs.create_job(ids[per_job:], user=operator, rate_limit=200)
    workers = two_workers()

    # Each job twice, as a redelivered task would come: the second finds it claimed.
    for job in (job_a, job_b, job_a, job_b):
        send(queue, "republish.run_replay_job", job.pk)
    task = "republish.run_replay_job"
    wait_until(lambda: sum(len(succeeded(w, task)) for w in workers) == 4, 120, "four job tasks", workers)

    ran = [[r for r in succeeded(w, task) if "republished" in r and not r.startswith("'0 ")] for w in workers]
    assert [len(r) for r in ran] == [1, 1], ran  # one real run on each worker
    for job in (job_a, job_b):
        job.refresh_from_db()
        assert (job.state, job.done, job.failed, job.skipped) == (ReplayJob.State.FINISHED, per_job, 0, 0)
    assert job_a.started_at < job_b.finished_at and job_b.started_at < job_a.finished_at, "they ran at once"
    sent = Counter(dict(r.headers)["x-replayed-from"] for p in range(3) for r in read_all(cluster, target, p))
    assert len(sent) == 2 * per_job and set(sent.values()) == {1}
    assert set(Review.objects.values_list("status", flat=True)) == {"republished"}


def read_all(cluster, topic: str, partition: int) -> list[kafka.Record]:
    end = kafka.list_offsets([(topic, partition)], "latest", cluster)[0][(topic, partition)]
    consumer = kafka.consumer(f"deploy-read-{uuid.uuid4().hex[:8]}", cluster)
    kafka.assign(consumer, {(topic, partition): 0})
    records: list[kafka.Record] = []
    deadline = time.monotonic() + 30
    try:
        while len(records) < end:
            assert time.monotonic() < deadline, f"read {len(records)} of {end} records of {topic}[{partition}] in 30 s"
            records += kafka.poll(consumer, 1000, 0.5, cluster)
    finally:
        consumer.close()
    return records


def test_the_compose_worker_healthcheck_pings_a_live_worker(two_workers):
    two_workers()
    compose = yaml.safe_load((Path(ROOT) / "docker-compose.yml").read_text())
    kind, command = compose["services"]["worker"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    env = base_environment(HOSTNAME=socket.gethostname())
    env["PATH"] = f"{Path(env['PYTHON']).parent}:{env['PATH']}"
    # $$ is compose's escape for a $ the container's shell expands.
    ping = subprocess.run(["sh", "-c", command.replace("$$", "$")], cwd=ROOT, env=env, timeout=60)
    assert ping.returncode == 0
    gone = subprocess.run(["sh", "-c", command.replace("$$HOSTNAME", "nobody")], cwd=ROOT, env=env, timeout=60)
    assert gone.returncode != 0
