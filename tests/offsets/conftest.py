"""Fixtures for offset resets: a real topic with timestamped records, a real group, Kafka's own tool."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from opsportal import kafka
from opsportal.kafka import Position
from tests.conftest import ensure_ops_groups

KAFKA_LIBS = Path(__file__).resolve().parents[2] / "kafka" / "libs"
HOUR_MS = 3600 * 1000


@dataclass(frozen=True)
class Scenario:
    """A 3-partition topic: p0 and p1 hold 10 records stamped 10h..1h ago, p2 holds 4 stamped 20h..17h ago.

    The group has committed p0=4 and p1=10 and nothing on p2, so to-current,
    shift-by, clamping and the timestamp fallback all have a case to show.
    """

    topic: str
    group: str
    now_ms: int

    @property
    def initial_offsets(self) -> dict[Position, int]:
        return {(self.topic, 0): 4, (self.topic, 1): 10}


def produce_stamped(topic: str, partition: int, stamps_ms: list[int]) -> None:
    producer = kafka.producer()
    for stamp in stamps_ms:
        producer.produce(topic, b"billing-event", b"key", partition=partition, timestamp=stamp)
    assert producer.flush(30) == 0


@pytest.fixture
def scenario(cluster, make_topic, group_names) -> Scenario:
    topic = make_topic(partitions=3)
    now_ms = int(time.time() * 1000)
    for partition in (0, 1):
        produce_stamped(topic, partition, [now_ms - (10 - i) * HOUR_MS for i in range(10)])
    produce_stamped(topic, 2, [now_ms - (20 - i) * HOUR_MS for i in range(4)])
    result = Scenario(topic, group_names(), now_ms)
    assert kafka.alter_committed_offsets(result.group, result.initial_offsets, cluster) == dict.fromkeys(
        result.initial_offsets
    )
    return result


def committed(group: str, cluster=None) -> dict[Position, int]:
    offsets, failures = kafka.committed_offsets([group], cluster)
    assert not failures
    return offsets.get(group, {})


def kafka_tool_dry_run(group: str, *args: str) -> dict[Position, int]:
    """Run Kafka's ConsumerGroupCommand --reset-offsets --dry-run and parse its NEW-OFFSET table."""
    command = [
        "java", "-cp", f"{KAFKA_LIBS}/*", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--bootstrap-server", "127.0.0.1:9092", "--group", group, "--reset-offsets", *args, "--dry-run",
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0 and "Error" not in run.stdout, run.stdout + run.stderr
    lines = [line.split() for line in run.stdout.splitlines() if line.strip()]
    # Warnings (such as "Falling back to latest known offset") come before the table.
    start = lines.index(["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]) + 1
    return {(topic, int(partition)): int(offset) for _, topic, partition, offset in lines[start:]}


@contextmanager
def active_consumer(group: str, topic: str) -> Iterator[object]:
    """A real consumer that has joined the group and received its assignment."""
    consumer = kafka.consumer(group, **{"session.timeout.ms": 10000})
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        while not consumer.assignment():
            assert time.monotonic() < deadline, "the consumer never got an assignment"
            consumer.poll(0.2)
        yield consumer
    finally:
        consumer.close()


def _user(username: str, group: str | None = None, superuser: bool = False) -> User:
    user = User.objects.create_user(username, password="x", is_staff=True, is_superuser=superuser)
    if group:
        ensure_ops_groups()
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def viewer(db) -> User:
    return _user("viewer", "Ops viewer")


@pytest.fixture
def operator(db) -> User:
    return _user("operator", "Ops operator")


@pytest.fixture
def second_operator(db) -> User:
    return _user("operator2", "Ops operator")


@pytest.fixture
def superuser(db) -> User:
    return _user("root", superuser=True)
