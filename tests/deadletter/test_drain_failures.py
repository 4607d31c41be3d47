"""Crashes and a database that goes away: nothing lost, nothing stored twice."""

from __future__ import annotations

import os
import random
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
from django.db import OperationalError, connection

from deadletter import store
from deadletter.models import DeadLetterRecord
from opsportal import kafka
from tests.conftest import database_url_for_children
from tests.deadletter import samples

ROOT = Path(__file__).resolve().parents[2]
BACKLOG = 20_000
PARTITIONS = 3


def manage(database_url: str, *args: str, **popen) -> subprocess.Popen:
    env = os.environ | {"DATABASE_URL": database_url, "DEBUG": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, **popen
    )  # fmt: skip


def kill_after_batches(process: subprocess.Popen, batches: int, extra_delay: float, timeout: float = 120) -> None:
    """SIGKILL once `batches` batches were reported, plus a random delay: anywhere inside a batch.

    The child's stdout is read without blocking, against a deadline: a drain that stops
    reporting fails the test instead of hanging it.
    """
    seen, pending = 0, b""
    deadline = time.monotonic() + timeout
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while seen < batches:
                left = deadline - time.monotonic()
                assert left > 0, f"the drain reported {seen} of {batches} batches in {timeout:.0f}s"
                if not selector.select(min(left, 1.0)):
                    continue
                chunk = os.read(fd, 65536)
                assert chunk, f"the drain ended ({process.wait(timeout=30)}) after {seen} of {batches} batches"
                *lines, pending = (pending + chunk).split(b"\n")
                seen += sum(line.startswith(b"batch ") for line in lines)
        time.sleep(extra_delay)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()


def stored_per_partition(database_url: str, topic: str) -> dict[int, tuple[int, int, int, int]]:
    """partition -> (rows, distinct offsets, lowest, highest) as the drain's database holds them."""
    query = (
        'SELECT "partition", COUNT(*), COUNT(DISTINCT "offset"), MIN("offset"), MAX("offset") '
        'FROM deadletter_deadletterrecord WHERE dlq_topic = %s GROUP BY "partition"'
    )
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as sqlite:
            found = sqlite.execute(query.replace("%s", "?"), (topic,)).fetchall()
    else:
        with connection.cursor() as cursor:
            cursor.execute(query, [topic])
            found = cursor.fetchall()
    return {partition: tuple(figures) for partition, *figures in found}


# Transactional: the drain runs in child processes, on the test database itself where it is
# PostgreSQL (as in production: the straight COPY, then insert-or-ignore for re-read batches).
@pytest.mark.django_db(transaction=True)
def test_sigkill_in_the_middle_of_a_large_drain_loses_and_duplicates_nothing(
    tmp_path, produce, make_topic, group_id, cluster
):
    dlq = make_topic(partitions=PARTITIONS, prefix="test.dlq3")
    if connection.vendor == "postgresql":
        url = database_url_for_children()
    else:  # an in-memory test database is not shared: a file of its own
        url = f"sqlite:///{tmp_path / 'drain.sqlite3'}"
        assert manage(url, "migrate", "--noinput", stdout=subprocess.DEVNULL).wait(timeout=120) == 0
    event = samples.billing_event(padding=300)
    produce(dlq, [(f"acc_{i % 97}".encode(), event, samples.billing_headers(offset=i)) for i in range(BACKLOG)])
    ends, failures = kafka.list_offsets([(dlq, p) for p in range(PARTITIONS)], "latest", cluster)
    assert not failures and sum(ends.values()) == BACKLOG and all(ends.values()), ends  # every partition has some
    drain_args = ("drain_dead_letter", "--topic", dlq, "--group-id", group_id, "--batch-size", "700", "-v", "2")
    rng = random.Random(4)
    for _ in range(4):
        process = manage(url, *drain_args, stdout=subprocess.PIPE)
        kill_after_batches(process, batches=rng.randint(1, 4), extra_delay=rng.uniform(0, 0.15))
        assert process.returncode == -signal.SIGKILL
    assert manage(url, *drain_args, "--until-empty", stdout=subprocess.DEVNULL).wait(timeout=300) == 0

    # Each offset of each partition stored once.
    assert stored_per_partition(url, dlq) == {p: (end, end, 0, end - 1) for (_, p), end in ends.items()}
    committed, _ = kafka.committed_offsets([group_id], cluster)
    assert {position: committed[group_id][position] for position in ends} == ends  # per partition


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
