"""Crashes and a database that goes away: nothing lost, nothing stored twice."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
from django.db import OperationalError

from deadletter import store
from deadletter.models import DeadLetterRecord
from opsportal import kafka
from tests.deadletter import samples

ROOT = Path(__file__).resolve().parents[2]
BACKLOG = 20_000


def manage(database_url: str, *args: str, **popen) -> subprocess.Popen:
    env = os.environ | {"DATABASE_URL": database_url, "DEBUG": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=env, text=True, **popen)


def kill_after_batches(process: subprocess.Popen, batches: int, extra_delay: float) -> None:
    """SIGKILL once `batches` batches were reported, plus a random delay: anywhere inside a batch."""
    seen = 0
    for line in process.stdout:
        seen += line.startswith("batch ")
        if seen >= batches:
            time.sleep(extra_delay)
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def test_sigkill_in_the_middle_of_a_large_drain_loses_and_duplicates_nothing(
    tmp_path, produce, dlq_topic, group_id, cluster
):
    database = tmp_path / "drain.sqlite3"
    url = f"sqlite:///{database}"
    assert manage(url, "migrate", "--noinput", stdout=subprocess.DEVNULL).wait(timeout=120) == 0
    event = samples.billing_event(padding=300)
    produce(dlq_topic, [(f"acc_{i % 97}".encode(), event, samples.billing_headers(offset=i)) for i in range(BACKLOG)])
    drain_args = ("drain_dead_letter", "--topic", dlq_topic, "--group-id", group_id, "--batch-size", "700", "-v", "2")
    rng = random.Random(4)
    for _ in range(4):
        process = manage(url, *drain_args, stdout=subprocess.PIPE)
        kill_after_batches(process, batches=rng.randint(1, 4), extra_delay=rng.uniform(0, 0.15))
        assert process.returncode == -signal.SIGKILL
    assert manage(url, *drain_args, "--until-empty", stdout=subprocess.DEVNULL).wait(timeout=300) == 0

    with sqlite3.connect(database) as connection:
        count, distinct, low, high = connection.execute(
            'SELECT COUNT(*), COUNT(DISTINCT "offset"), MIN("offset"), MAX("offset") '
            "FROM deadletter_deadletterrecord WHERE dlq_topic = ?",
            (dlq_topic,),
        ).fetchone()
    assert (count, distinct, low, high) == (BACKLOG, BACKLOG, 0, BACKLOG - 1)
    end, _ = kafka.list_offsets([(dlq_topic, 0)], "latest", cluster)
    committed, _ = kafka.committed_offsets([group_id], cluster)
    assert committed[group_id][(dlq_topic, 0)] == end[(dlq_topic, 0)] == BACKLOG


@pytest.mark.django_db(transaction=True)
def test_the_database_going_away_mid_drain_commits_no_offset_and_the_next_run_completes(
    produce, drain, dlq_topic, committed
):
    produce(dlq_topic, [(f"acc_{i}".encode(), b"{}", samples.billing_headers()) for i in range(30)])
    real_insert = store.insert_rows
    calls = []

    def insert_then_lose_the_database(rows, *args, **kwargs):
        calls.append(len(rows))
        if len(calls) == 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real_insert(rows, *args, **kwargs)

    with mock.patch.object(store, "insert_rows", side_effect=insert_then_lose_the_database):
        with pytest.raises(OperationalError):
            drain(batch_size=10)
    assert committed(dlq_topic) == 10  # the first batch only: the failed one is read again
    assert DeadLetterRecord.objects.filter(dlq_topic=dlq_topic).count() == 10

    result = drain(batch_size=10)
    assert (result.consumed, result.inserted) == (20, 20)
    assert committed(dlq_topic) == 30
    assert DeadLetterRecord.objects.filter(dlq_topic=dlq_topic).count() == 30
