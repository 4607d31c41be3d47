"""Where is this group stuck: per partition the message at its committed offset, read live from Kafka.

The message at the committed offset is the one the group will read next; its age is the time
lag ops care about (how far behind in time), beside the lag in records.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

from opsportal import kafka


@dataclass(frozen=True)
class StuckPartition:
    topic: str
    partition: int
    committed: int
    end: int | None
    record: kafka.Record | None

    @property
    def lag(self) -> int | None:
        return None if self.end is None else max(self.end - self.committed, 0)

    def time_lag(self, now: datetime) -> timedelta | None:
        """The age of the next message to read; None when caught up (or it has no timestamp)."""
        if self.record is None or self.record.timestamp_ms is None:
            return None
        return max(now - datetime.fromtimestamp(self.record.timestamp_ms / 1000, tz=UTC), timedelta(0))


# Where a billing event names its type: a top-level JSON field, else a header (Spring, CloudEvents).
EVENT_TYPE_FIELDS = ("eventType", "event_type", "type")
EVENT_TYPE_HEADERS = ("eventType", "event-type", "x-event-type", "ce_type", "__TypeId__")


def event_type(record: kafka.Record) -> str:
    """The record's event type, or "" when it names none; never raises."""
    if record.value and record.value.lstrip()[:1] == b"{":
        try:
            document = json.loads(record.value)
        except (ValueError, RecursionError):
            document = None
        if isinstance(document, dict):
            for name in EVENT_TYPE_FIELDS:
                if isinstance(document.get(name), str) and document[name]:
                    return str(document[name])
    headers = {name: value for name, value in record.headers}
    for name in EVENT_TYPE_HEADERS:
        value = headers.get(name)
        if value:
            return value.decode("utf-8", errors="replace")
    return ""


def human_duration(delta: timedelta) -> str:
    """A time lag rounded to the second: "45 s", "1 min 13 s", "2 h 0 min 5 s", "3 d 4 h 0 min 0 s"."""
    seconds = max(round(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{n} {unit}" for n, unit in parts)


@dataclass(frozen=True)
class GroupState:
    partitions: list[StuckPartition]
    members: tuple[kafka.GroupMember, ...]
    errors: list[str]
    state: str = ""  # from the same live description as the members ("" when it could not be read)

    def time_lag(self, now: datetime) -> timedelta | None:
        """The group's time lag: the largest over its partitions (the issue's definition, also the overview's)."""
        lags = [lag for lag in (row.time_lag(now) for row in self.partitions) if lag is not None]
        return max(lags, default=None)


def where_stuck(group_id: str) -> GroupState:
    """Committed offsets, end offsets and the message at each committed offset. Raises KafkaClientError.

    One admin client for the three admin requests (each new client connects again); the group's
    description is asked for while the offsets and messages are read, since nothing else waits for it.
    """
    admin = kafka.admin_client()
    committed, failures = kafka.committed_offsets([group_id], admin=admin)
    errors = [str(error) for error in failures.values()]
    positions = committed.get(group_id, {})
    with ThreadPoolExecutor(max_workers=1) as pool:
        describing = pool.submit(kafka.describe_groups, [group_id], None, admin)
        ends, end_failures = kafka.list_offsets(positions, "latest", admin=admin)
        errors += [str(error) for error in end_failures.values()]
        records, read_errors = _committed_messages(positions, ends)
        described, describe_failures = describing.result()
    errors += read_errors + [str(error) for error in describe_failures.values()]
    rows = [
        StuckPartition(topic, partition, offset, ends.get((topic, partition)), _at(records, (topic, partition), offset))
        for (topic, partition), offset in sorted(positions.items())
    ]
    group = described.get(group_id)
    return GroupState(rows, group.members if group else (), errors, group.state if group else "")


def _committed_messages(
    positions: dict[kafka.Position, int], ends: dict[kafka.Position, int]
) -> tuple[dict[kafka.Position, list[kafka.Record]], list[str]]:
    """The message at each committed offset short of its partition's end: one consumer reads them all at once."""
    windows = {
        position: (offset, offset + 1) for position, offset in positions.items() if offset < ends.get(position, 0)
    }
    if not windows:
        return {}, []
    with kafka.browse_session() as client:
        read = kafka.read_windows(client, windows, settings.KAFKA_REQUEST_TIMEOUT)
    return read.records, [f"{t}[{p}]: the committed message did not arrive in time" for t, p in read.incomplete()]


@dataclass
class MessageTimes:
    """What `committed_message_times` read: the timestamps, and why the rest is missing."""

    times: dict[tuple[kafka.Position, int], int]
    failed: set[kafka.Position]  # partitions Kafka answered with an error: not asked again
    rounds: int  # read_windows calls made
    deadline: float  # time.monotonic() by which every round had to end (one budget for all)


def committed_message_times(positions: Iterable[tuple[kafka.Position, int]]) -> MessageTimes:
    """The timestamp (epoch ms) of the message at each (partition, committed offset), read live.

    Several groups may stand at different offsets of one partition: each round reads one offset of
    every partition, with one consumer, within what is left of one budget. A message not read in
    time (or compacted away), or on a partition that failed, is left out.
    """
    by_partition: dict[kafka.Position, list[int]] = {}
    for position, offset in sorted(set(positions)):
        by_partition.setdefault(position, []).append(offset)
    # The whole read gets one request timeout: it runs after every sync (in its on_commit), and a
    # broker down must not cost a timeout per round (20 groups on a topic: 20 rounds). What is not
    # read in time keeps its last known age (overview/lag.py). No setting of its own: one fewer knob.
    found = MessageTimes({}, set(), 0, time.monotonic() + settings.KAFKA_REQUEST_TIMEOUT)
    if not by_partition:
        return found
    with kafka.browse_session() as client:
        while (windows := _next_round(by_partition, found)) and (left := found.deadline - time.monotonic()) > 0:
            read = kafka.read_windows(client, windows, left)
            found.rounds += 1
            found.failed.update(read.failures)
            for position, (offset, _) in windows.items():
                record = _at(read.records, position, offset)
                if record is not None and record.offset == offset and record.timestamp_ms is not None:
                    found.times[(position, offset)] = record.timestamp_ms
    return found


def _next_round(
    by_partition: dict[kafka.Position, list[int]], found: MessageTimes
) -> dict[kafka.Position, tuple[int, int]]:
    """The next offset of each partition still to read, skipping the partitions that failed."""
    return {
        position: (offsets[found.rounds], offsets[found.rounds] + 1)
        for position, offsets in by_partition.items()
        if len(offsets) > found.rounds and position not in found.failed
    }


def _at(
    records: dict[kafka.Position, list[kafka.Record]], position: kafka.Position, offset: int
) -> kafka.Record | None:
    """The record at the committed offset, or the first after it when that one was compacted away."""
    found = [record for record in records.get(position, []) if record.offset >= offset]
    return found[0] if found else None
