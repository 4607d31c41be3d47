from __future__ import annotations

import subprocess
from pathlib import Path

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from republish.partitioner import partition_for_key

from .conftest import wait_for_metadata

HERE = Path(__file__).resolve().parent
LIBS = HERE.parent.parent / "kafka" / "libs"

KEYS = [b"", b"a", b"ab", b"abc", b"acc_42", b"acc_1000000", "kontø-ü".encode(), bytes(range(256)), b"\xff" * 7]


def java_partitions(keys: list[bytes], partitions: int) -> list[int]:
    result = subprocess.run(
        ["java", "-cp", f"{LIBS}/*", str(HERE / "JavaPartitioner.java"), str(partitions), *(k.hex() for k in keys)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [int(line) for line in result.stdout.split()]


def test_it_picks_the_partition_the_java_client_picks():
    keys = KEYS + [f"acc_{n}".encode() for n in range(200)]

    for partitions in (1, 5, 10, 7):
        assert [partition_for_key(k, partitions) for k in keys] == java_partitions(keys, partitions)


def test_the_producer_lands_keys_where_the_partitioner_predicts(make_topic, cluster):
    topic = make_topic(partitions=10)
    keys = [f"acc_{n}".encode() for n in range(50)]
    producer = kafka.producer(cluster)

    wait_for_metadata(cluster, topic)

    delivered = produce_records(producer, topic, [(k, b"{}", ()) for k in keys], cluster=cluster)

    assert [partition for partition, _offset in delivered] == [partition_for_key(k, 10) for k in keys]
    assert len({partition for partition, _ in delivered}) > 1
