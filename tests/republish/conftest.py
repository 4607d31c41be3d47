"""Dead letters drained from a real dead-letter topic, ready to act on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

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
def dead_letters(make_topic, cluster, original_topic):
    """dead_letters([(key, value), ...]) -> DeadLetterRecord rows, written to the original topic
    first (so they have real original offsets), dead-lettered, then drained for real."""
    dlq = make_topic(partitions=1, prefix="test.dlq")
    wait_for_metadata(cluster, dlq)
    producer = kafka.producer(cluster)

    def make(events: list[tuple[bytes | None, bytes | None]], error: str = "InsufficientFundsError"):
        originals = produce_records(
            producer, original_topic, [(k, v, ()) for k, v in events], cluster=cluster
        )
        failed = [
            (key, value, billing_headers(original_topic, partition, offset, error))
            for (key, value), (partition, offset) in zip(events, originals, strict=True)
        ]
        ((_, first_offset), *_) = produce_records(producer, dlq, failed, cluster=cluster)
        drain_dead_letter(
            topic=dlq, group_id=f"test-{uuid.uuid4().hex[:8]}", until_empty=True, timeout=1.0, cluster=cluster
        )
        return list(DeadLetterRecord.objects.filter(dlq_topic=dlq, offset__gte=first_offset).order_by("offset"))

    return make


def read_partition(cluster, topic: str, partition: int, start: int = 0) -> list[kafka.Record]:
    """Everything in one partition from start, read back without a consumer group."""
    end = kafka.list_offsets([(topic, partition)], "latest", cluster)[0][(topic, partition)]
    consumer = kafka.consumer(f"test-read-{uuid.uuid4().hex[:8]}", cluster)
    kafka.assign(consumer, {(topic, partition): start})
    records: list[kafka.Record] = []
    deadline = time.monotonic() + 20
    try:
        while (not records or records[-1].offset < end - 1) and start < end and time.monotonic() < deadline:
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
