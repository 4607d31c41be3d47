"""Fixtures for the mirror tests: real topics, real groups, real offsets on the local cluster."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from topics.sync import SyncResult, sync_cluster

ROOT = Path(__file__).resolve().parents[2]
ToolRow = tuple[int | None, int | None, int | None]  # (current offset, log end offset, lag)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Metadata reaches each broker a moment after the controller accepted it."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(0.2)


def topic_ready(name: str, partitions: int, cluster) -> bool:
    topic = kafka.list_topics(cluster).get(name)
    return topic is not None and len(topic.partitions) == partitions and all(p.leader >= 0 for p in topic.partitions)


@pytest.fixture
def ready_topic(make_topic, cluster):
    """A topic created and visible with a leader for every partition, so a sync sees all of it."""

    def make(partitions: int = 1, replication_factor: int = 3, configs: dict | None = None, prefix="mirror") -> str:
        name = make_topic(partitions, replication_factor, configs, prefix=prefix)
        wait_for(lambda: topic_ready(name, partitions, cluster), what=f"{name} ready")
        return name

    return make


@pytest.fixture
def produce(cluster):
    """Produce `count` records into one partition; returns the partition's new end offset."""
    producer = kafka.producer(cluster)

    def produce_into(topic: str, partition: int, count: int) -> int:
        records = [(f"k{i}".encode(), f"v{i}".encode(), ()) for i in range(count)]
        delivered = produce_records(producer, topic, records, partition=partition, cluster=cluster)
        return delivered[-1][1] + 1

    return produce_into


@pytest.fixture
def commit(cluster):
    """Commit offsets for a group the way a consumer does (no subscription: a simple group)."""

    def commit_offsets(group_id: str, positions: dict[tuple[str, int], int]) -> None:
        client = kafka.consumer(group_id, cluster)
        try:
            kafka.commit_positions(client, positions, cluster)
        finally:
            client.close()

    return commit_offsets


@pytest.fixture
def sync(cluster) -> Callable[[], SyncResult]:
    return lambda: sync_cluster(cluster)


def describe_group_with_kafka_tool(group_id: str) -> dict[tuple[str, int], ToolRow]:
    """kafka-consumer-groups --describe, run for real: {(topic, partition): (current, log end, lag)}."""
    completed = subprocess.run(
        [
            "java",
            "-cp",
            str(ROOT / "kafka" / "libs" / "*"),
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "--bootstrap-server",
            "127.0.0.1:9092",
            "--describe",
            "--group",
            group_id,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return parse_describe_table(completed.stdout, group_id)


def _number(text: str) -> int | None:
    return None if text == "-" else int(text)


def parse_describe_table(output: str, group_id: str) -> dict[tuple[str, int], ToolRow]:
    """The table under the GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ... header."""
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["GROUP"])
    columns = lines[header].split()
    rows = {}
    for line in lines[header + 1 :]:
        fields = re.split(r"\s+", line.strip())
        if fields[:1] != [group_id]:
            continue
        row = dict(zip(columns, fields, strict=False))
        position = (row["TOPIC"], int(row["PARTITION"]))
        rows[position] = (_number(row["CURRENT-OFFSET"]), _number(row["LOG-END-OFFSET"]), _number(row["LAG"]))
    return rows
