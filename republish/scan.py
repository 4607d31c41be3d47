"""Bounded reads of one partition: finding a replay again, and newer events of a key.

Both answer questions asked before or after a republish without joining any
consumer group: the consumer is assigned the partition and commits nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from opsportal import kafka

SCAN_BATCH = 500


@dataclass(frozen=True)
class ScanResult:
    matches: list[kafka.Record]
    scanned: int
    complete: bool  # False when the bound stopped the scan before the partition's end


def scan_partition(
    topic: str,
    partition: int,
    start: int,
    predicate: Callable[[kafka.Record], bool],
    *,
    max_records: int,
    poll_timeout: float = 1.0,
    deadline: float | None = None,
) -> ScanResult:
    """Read [start, end) of a partition, at most max_records (and until the monotonic deadline),
    keeping the records that match."""
    end = latest_offset(topic, partition)
    start = max(start, 0)
    if start >= end:
        return ScanResult([], 0, True)
    stop = min(end, start + max_records)
    consumer = kafka.consumer(f"opsportal-scan-{uuid.uuid4()}")
    matches, scanned, position = [], 0, start
    try:
        kafka.assign(consumer, {(topic, partition): start})
        idle_polls = 0
        # Offsets can have gaps (transaction markers), so a few empty polls also end the scan.
        while position < stop and idle_polls < 3:
            left = poll_timeout if deadline is None else min(poll_timeout, deadline - time.monotonic())
            if left <= 0:
                break
            records = kafka.poll(consumer, min(SCAN_BATCH, stop - position), left)
            idle_polls = 0 if records else idle_polls + 1
            for record in records:
                if record.offset >= stop:
                    break
                scanned += 1
                position = record.offset + 1
                if predicate(record):
                    matches.append(record)
    finally:
        consumer.close()
    return ScanResult(matches, scanned, complete=position >= end)


def latest_offset(topic: str, partition: int) -> int:
    offsets, failures = kafka.list_offsets([(topic, partition)], "latest")
    if failures:
        raise next(iter(failures.values()))
    return offsets[(topic, partition)]


def header_value(record: kafka.Record, name: str) -> bytes | None:
    for header, value in record.headers:
        if header == name:
            return value
    return None
