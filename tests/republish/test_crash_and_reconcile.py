"""A worker killed around the produce leaves the row publishing; reconcile settles it, never twice."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from opsportal import kafka
from opsportal.kafka.testing import produce_records

from .conftest import billing_event, billing_headers, manage, read_partition

# Runs in a child process: republish every new row, dying at one chosen point.
CRASH_SCRIPT = """
import os, signal
from django.contrib.auth.models import User
from deadletter.models import DeadLetterRecord
from republish import publish
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
point = os.environ["CRASH_POINT"]
if point == "before-settle":
    publish.settle = die
else:
    publish.kafka.produce = die
user = User.objects.create_user("crash-operator")
publish.republish(list(DeadLetterRecord.objects.all()), user=user, producer=None)
"""


@pytest.fixture
def drained_database(tmp_path, make_topic, group_names, cluster, original_topic):
    """A file database holding one drained dead letter, shared with child processes."""
    database = tmp_path / "portal.sqlite3"
    assert manage(database, "migrate", "--noinput").returncode == 0
    dlq = make_topic(partitions=1, prefix="test.dlq")
    producer = kafka.producer(cluster)
    value = billing_event("acc_crash")
    ((partition, offset),) = produce_records(producer, original_topic, [(b"acc_crash", value, ())])
    headers = billing_headers(original_topic, partition, offset)
    produce_records(producer, dlq, [(b"acc_crash", value, headers)])
    drain = manage(
        database, "drain_dead_letter", "--topic", dlq, "--group-id", group_names("test-drain"), "--until-empty"
    )
    assert drain.returncode == 0, drain.stderr
    return database


def replay_row(database: Path) -> tuple:
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT r.replay_id, r.state, r.target_topic, r.target_partition, r.start_offset, r.offset, d.status "
            "FROM republish_replay r JOIN deadletter_review d ON d.record_id = r.record_id"
        ).fetchone()


def age_replays(database: Path) -> None:
    """Make the crashed replay older than the reconcile guard, as if an hour had passed."""
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE republish_replay SET created_at = datetime(created_at, '-1 hour')")


def copies(cluster, topic: str, partition: int, replay_id: str) -> list[int]:
    """Offsets of the records carrying this replay id (SQLite stores the UUID as hex)."""
    wanted = str(uuid.UUID(replay_id)).encode()
    return [r.offset for r in read_partition(cluster, topic, partition) if dict(r.headers).get("x-replay-id") == wanted]


def test_a_kill_after_the_produce_leaves_publishing_and_reconcile_finds_the_one_copy(drained_database, cluster):
    crashed = manage(drained_database, "shell", "-c", CRASH_SCRIPT, env={"CRASH_POINT": "before-settle"})
    assert crashed.returncode == -9

    replay_id, state, topic, partition, _start, offset, status = replay_row(drained_database)
    assert (state, offset, status) == ("publishing", None, "publishing")
    assert len(copies(cluster, topic, partition, replay_id)) == 1

    age_replays(drained_database)
    settled = manage(drained_database, "reconcile_replays", "--all")

    assert settled.returncode == 0, settled.stderr
    _, state, _, _, _, offset, status = replay_row(drained_database)
    assert (state, status) == ("republished", "republished")
    assert copies(cluster, topic, partition, replay_id) == [offset]


def test_a_kill_before_the_produce_is_settled_as_failed_with_nothing_written(drained_database, cluster):
    crashed = manage(drained_database, "shell", "-c", CRASH_SCRIPT, env={"CRASH_POINT": "before-produce"})
    assert crashed.returncode == -9
    replay_id, state, topic, partition, *_ = replay_row(drained_database)
    assert state == "publishing"

    age_replays(drained_database)
    settled = manage(drained_database, "reconcile_replays", "--all")

    assert settled.returncode == 0, settled.stderr
    _, state, _, _, _, offset, status = replay_row(drained_database)
    assert (state, offset, status) == ("failed", None, "failed")
    assert "never written" in settled.stdout
    assert copies(cluster, topic, partition, replay_id) == []


def test_reconcile_refuses_a_replay_that_may_still_be_in_flight(drained_database):
    manage(drained_database, "shell", "-c", CRASH_SCRIPT, env={"CRASH_POINT": "before-settle"})

    settled = manage(drained_database, "reconcile_replays", "--all")

    assert settled.returncode != 0
    assert "may still be in flight" in settled.stderr
    assert replay_row(drained_database)[1] == "publishing"
