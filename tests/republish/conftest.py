"""Dead letters drained from a real dead-letter topic, ready to act on."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from django.contrib.auth.models import Group, User
from django.urls import reverse

from deadletter.drain import drain_dead_letter
from deadletter.models import DeadLetterRecord
from opsportal import kafka
from opsportal.kafka.testing import produce_records
from tests.conftest import ensure_ops_groups


def billing_event(account: str, event_id: str | None = None, **extra) -> bytes:
    return json.dumps(
        {
            "eventId": event_id or str(uuid.uuid4()),
            "eventType": "TransactionCompleted",
            "aggregateId": account,
            "payload": {"amount": "100.00", "currency": "USD"},
        }
        | extra
    ).encode()


def billing_headers(original_topic: str, partition: int, offset: int, error="InsufficientFundsError") -> list:
    return [
        ("traceparent", b"00-abc-def-01"),
        ("x-original-topic", original_topic.encode()),
        ("x-original-partition", str(partition).encode()),
        ("x-original-offset", str(offset).encode()),
        ("x-consumer-group", b"billing-ledger"),
        ("x-error-type", error.encode()),
        ("x-error-message", b"balance 12.00 below 100.00"),
        ("x-retry-count", b"3"),
    ]


def wait_for_metadata(cluster, topic: str) -> None:
    deadline = time.monotonic() + 60
    while topic not in kafka.list_topics(cluster):
        assert time.monotonic() < deadline
        time.sleep(0.1)


@pytest.fixture
def original_topic(make_topic, cluster) -> str:
    topic = make_topic(partitions=10, prefix="test.billing")
    wait_for_metadata(cluster, topic)
    return topic


@pytest.fixture
def dead_letters(make_topic, cluster, original_topic, group_names):
    """dead_letters([(key, value), ...]) -> DeadLetterRecord rows, written to the original topic
    first (so they have real original offsets), dead-lettered, then drained for real."""
    dlq = make_topic(partitions=1, prefix="test.dlq")
    wait_for_metadata(cluster, dlq)
    producer = kafka.producer(cluster)

    def make(events: list[tuple[bytes | None, bytes | None]], error: str = "InsufficientFundsError"):
        originals = produce_records(producer, original_topic, [(k, v, ()) for k, v in events], cluster=cluster)
        failed = [
            (key, value, billing_headers(original_topic, partition, offset, error))
            for (key, value), (partition, offset) in zip(events, originals, strict=True)
        ]
        ((_, first_offset), *_) = produce_records(producer, dlq, failed, cluster=cluster)
        drain_dead_letter(topic=dlq, group_id=group_names("test-drain"), until_empty=True, timeout=1.0, cluster=cluster)
        return list(DeadLetterRecord.objects.filter(dlq_topic=dlq, offset__gte=first_offset).order_by("offset"))

    return make


def read_partition(cluster, topic: str, partition: int, start: int = 0, timeout: float = 30.0) -> list[kafka.Record]:
    """Everything in one partition from start to its end offset now, read back without a consumer
    group (assigned, never committed). Fails at the deadline rather than return part of it, so
    that "nothing (more) was written" is never concluded from a slow read."""
    end = kafka.list_offsets([(topic, partition)], "latest", cluster)[0][(topic, partition)]
    if start >= end:
        return []
    consumer = kafka.consumer(f"test-read-{uuid.uuid4().hex[:8]}", cluster)  # never commits: no group is made
    kafka.assign(consumer, {(topic, partition): start})
    records: list[kafka.Record] = []
    deadline = time.monotonic() + timeout
    try:
        while not records or records[-1].offset < end - 1:
            assert time.monotonic() < deadline, (
                f"read {len(records)} record(s) of {topic}[{partition}] {start}..{end - 1} in {timeout:.0f}s"
            )
            records += kafka.poll(consumer, 1000, 0.5, cluster)
    finally:
        consumer.close()
    return records


@pytest.fixture
def operator(db) -> User:
    ensure_ops_groups()
    user = User.objects.create_user("olga-operator", password="pw-operator-123", is_staff=True)
    user.groups.add(Group.objects.get(name="Ops operator"))
    return user


@pytest.fixture
def viewer(db) -> User:
    ensure_ops_groups()
    user = User.objects.create_user("vic-viewer", password="pw-viewer-123", is_staff=True)
    user.groups.add(Group.objects.get(name="Ops viewer"))
    return user


ROOT = Path(__file__).resolve().parents[2]


def manage(database: Path | str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a manage.py command in a child process on a SQLite file (a Path) or a database URL."""
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    environment = os.environ | {"DATABASE_URL": url, "DEBUG": "1"} | (env or {})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=180
    )


CHANGELIST = "admin:deadletter_deadletterrecord_changelist"
JOBS = "admin:republish_replayjob_changelist"


def bulk_republish(client, rows: list[DeadLetterRecord], target_topic: str = "", rate_limit: str = ""):
    """The admin's bulk republish as an operator does it: the confirmation page, then its form."""
    selected = [row.pk for row in rows]
    confirmation = client.post(reverse(CHANGELIST), {"action": "republish_selected", "_selected_action": selected})
    assert confirmation.status_code == 200, confirmation.status_code
    data = {
        "action": "republish_selected",
        "_selected_action": selected,
        "post": "yes",
        "target_topic": target_topic,
        "rate_limit": rate_limit,
        "selection": confirmation.context["selection"],
    }
    return client.post(reverse(CHANGELIST), data, follow=True)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def second_operator(db) -> User:
    ensure_ops_groups()
    user = User.objects.create_user("oscar-second-operator", password="pw-second-123", is_staff=True)
    user.groups.add(Group.objects.get(name="Ops operator"))
    return user


@pytest.fixture
def task_queue(monkeypatch):
    """The tasks the portal queues go through the real Redis (CELERY_BROKER_URL) to a queue of this
    test's own, which no worker but one the test starts reads. `.sent()` lists what was queued
    there: [(task name, args)], oldest first, without taking it off the queue."""
    from django.conf import settings

    from opsportal.celery import app

    name = f"test-tasks-{uuid.uuid4().hex[:10]}"
    # Each send names the queue: Celery reads task_default_queue once per process (its router is
    # cached), so changing that setting would route only the first test's tasks here.
    send_task = app.send_task

    def send_to_this_tests_queue(*args: Any, **kwargs: Any) -> Any:
        kwargs["queue"] = kwargs.get("queue") or name
        return send_task(*args, **kwargs)

    monkeypatch.setattr(app, "send_task", send_to_this_tests_queue)
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    def sent() -> list[tuple[str, tuple]]:
        messages = [json.loads(raw) for raw in reversed(client.lrange(name, 0, -1))]  # LPUSHed: newest first
        return [(m["headers"]["task"], ast.literal_eval(m["headers"]["argsrepr"])) for m in messages]

    yield SimpleNamespace(name=name, sent=sent)
    # The queue and the bindings kombu's Redis transport keeps for it (_kombu.binding[_permanent].NAME).
    for key in [name, *client.scan_iter(f"_kombu.binding*.{name}")]:
        client.delete(key)
    client.close()


@pytest.fixture
def four_eyes_on_the_original_topic(settings, original_topic) -> str:
    """Four-eyes on, for the topic the dead_letters fixture's records came from."""
    settings.OPSPORTAL_FOUR_EYES, settings.OPSPORTAL_FOUR_EYES_TOPICS = True, [original_topic]
    return original_topic


@pytest.fixture(autouse=True)
def jobs_run_as_in_production(monkeypatch):
    """A job run in a test takes the path it takes in production: on PostgreSQL, with its read-ahead
    and settle threads, which need committed rows (a transactional test). A test inside a
    transaction would silently take the one-thread path instead; this makes it fail."""
    from django.db import connection

    from republish import runner

    run_chunks = runner.run_chunks

    def checked(job):
        if connection.vendor == "postgresql":
            assert runner.other_connections_see_our_rows(), (
                "the job would run without its helper threads, a path production on PostgreSQL never takes "
                "(inside the test's transaction? mark the test django_db(transaction=True))"
            )
        return run_chunks(job)

    monkeypatch.setattr(runner, "run_chunks", checked)


def stop_at_the_first_pause(client, job, monkeypatch) -> list:
    """The operator presses Stop (as `client`) while the job waits out its rate limit between chunks;
    the responses to that press are collected in the list returned."""
    from republish import runner

    stops: list = []

    def stop_during_the_pause(seconds: float) -> None:
        if not stops:
            stops.append(client.post(reverse("admin:republish_replayjob_stop", args=[job.pk])))

    monkeypatch.setattr(runner.time, "sleep", stop_during_the_pause)
    return stops
