from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from opsportal.celery import app
from topics.models import SyncRun, Topic
from topics.tasks import TASK_NAME, sync_cluster_task

pytestmark = pytest.mark.django_db


def test_the_celery_task_runs_the_sync_and_records_it(ready_topic):
    name = ready_topic()

    outcome = sync_cluster_task.apply()

    assert outcome.successful()
    assert outcome.result["ok"] is True
    assert Topic.objects.filter(name=name, vanished_at__isnull=True).exists()
    run = SyncRun.latest_run()
    assert (run.created, run.errors) == (outcome.result["created"], outcome.result["errors"])


def test_the_task_reports_an_unreachable_cluster_without_raising(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:1"
    settings.KAFKA_REQUEST_TIMEOUT = 2.0

    outcome = sync_cluster_task.apply()

    assert outcome.result["ok"] is False
    assert "Kafka unreachable" in outcome.result["error"]
    assert not SyncRun.objects.exists()


def test_beat_runs_it_every_30_seconds_from_the_database_schedule():
    scheduled = PeriodicTask.objects.get(task=TASK_NAME)

    assert (scheduled.interval.every, scheduled.interval.period) == (30, "seconds")
    assert scheduled.enabled
    assert TASK_NAME in app.tasks
