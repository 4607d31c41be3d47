"""The scheduled drain task as a Celery worker runs it: its Redis lock and its per-run cap.

Two real workers draining at once through this task are in tests/deploy/test_workers.py.
"""

from __future__ import annotations

import uuid

import pytest
import redis
from django.conf import settings as django_settings

from deadletter import tasks
from deadletter.models import DeadLetterRecord
from tests.deadletter import samples

# Committed, as on a worker: the task closes stale connections, which a test's transaction would not survive.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scheduled(settings, dlq_topic, group_id, monkeypatch):
    """The task pointed at this test's topic and group, with a lock of its own on the real Redis."""
    settings.DEAD_LETTER_TOPIC, settings.DEAD_LETTER_DRAIN_GROUP_ID = dlq_topic, group_id
    monkeypatch.setattr(tasks, "LOCK_NAME", f"test:deadletter-drain:{uuid.uuid4().hex}")
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    yield client.lock(tasks.LOCK_NAME, timeout=60)
    client.delete(tasks.LOCK_NAME)
    client.close()


def stored(topic: str) -> int:
    return DeadLetterRecord.objects.filter(dlq_topic=topic).count()


def test_a_drain_finding_another_one_running_leaves_it_alone_and_the_next_one_drains(
    scheduled, produce, dlq_topic, committed
):
    produce(dlq_topic, [(f"acc_{i}".encode(), b"{}", samples.billing_headers()) for i in range(5)])
    assert scheduled.acquire(blocking=False)  # another drain holds the lock

    skipped = tasks.drain_dead_letter_task.apply().get()

    assert skipped == "skipped: another drain is running"
    assert stored(dlq_topic) == 0 and committed(dlq_topic) is None
    scheduled.release()  # that drain finished

    ran = tasks.drain_dead_letter_task.apply().get()

    assert ran.startswith("consumed 5, stored 5"), ran
    assert stored(dlq_topic) == 5 and committed(dlq_topic) == 5
    # The run let go of its lock: the next one is not skipped either.
    assert "skipped" not in tasks.drain_dead_letter_task.apply().get()


def test_a_drain_that_fails_lets_go_of_its_lock(scheduled, settings, produce, dlq_topic):
    settings.DEAD_LETTER_TOPIC = f"test.no-such-topic-{uuid.uuid4().hex[:8]}"

    failed = tasks.drain_dead_letter_task.apply()

    assert failed.failed() and "does not exist" in str(failed.result)
    assert scheduled.acquire(blocking=False), "the failed run kept the lock"
    scheduled.release()


def test_each_run_stores_at_most_its_cap_and_the_next_run_goes_on(scheduled, settings, produce, dlq_topic, committed):
    settings.DEAD_LETTER_DRAIN_MAX_RECORDS_PER_RUN = 7
    produce(dlq_topic, [(f"acc_{i}".encode(), b"{}", samples.billing_headers()) for i in range(17)])

    runs = [tasks.drain_dead_letter_task.apply().get() for _ in range(3)]

    assert [run.split(",")[0] for run in runs] == ["consumed 7", "consumed 7", "consumed 3"], runs
    assert stored(dlq_topic) == 17 and committed(dlq_topic) == 17
