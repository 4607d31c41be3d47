"""Pages of a topic's messages: one partition or all of them merged by timestamp.

Knows Kafka's semantics, not Django's: the admin view parses the request into a `Start`
and renders the `Page`. A page is, per partition, the records of a range [lo, hi);
the next page reads forward from each hi, the previous one backward from each lo, so
paging either way shows each record exactly once and in order.
"""

from __future__ import annotations

import heapq
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings

from opsportal import kafka

PAGE_SIZE = 50
MAX_OFFSET = 2**63 - 1
TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


class BrowseError(Exception):
    """Input the browser cannot act on; the message is shown on the page as it is."""


@dataclass(frozen=True)
class Bounds:
    """First and end (next to be written) offset of each partition read, and those that failed."""

    begin: dict[int, int]
    end: dict[int, int]
    failures: dict[int, str] = field(default_factory=dict)

    @property
    def partitions(self) -> list[int]:
        return sorted(self.begin)

    def total(self) -> int:
        return sum(self.end[p] - self.begin[p] for p in self.begin)


@dataclass
class Page:
    records: list[kafka.Record]
    lo: dict[int, int]
    hi: dict[int, int]
    bounds: Bounds
    notes: list[str] = field(default_factory=list)
    failures: dict[int, str] = field(default_factory=dict)

    @property
    def has_older(self) -> bool:
        return any(self.lo[p] > self.bounds.begin[p] for p in self.lo)

    @property
    def has_newer(self) -> bool:
        return any(self.hi[p] < self.bounds.end[p] for p in self.hi)


def check_topic_name(name: str) -> str:
    if not TOPIC_NAME.fullmatch(name) or name in (".", ".."):
        raise BrowseError(f"{name[:300]!r} is not a Kafka topic name (1 to 249 letters, digits, '.', '_' or '-').")
    return name


@contextmanager
def browsing(topic: str) -> Iterator[tuple[kafka.Consumer, list[int]]]:
    """A browsing consumer and the topic's partitions; an unknown topic is a BrowseError (and is not created)."""
    check_topic_name(topic)
    with kafka.browse_session() as client:
        partitions = kafka.topic_partitions(client, topic)
        if partitions is None:
            raise BrowseError(f"The cluster has no topic named {topic!r}.")
        yield client, partitions


def choose_partitions(requested: str, partitions: list[int]) -> list[int]:
    if requested in ("", "all"):
        return partitions
    if not requested.isdigit() or int(requested) not in partitions:
        raise BrowseError(
            f"Partition {requested[:40]!r} does not exist: this topic has partitions 0 to {len(partitions) - 1}."
        )
    return [int(requested)]


def bounds(client: kafka.Consumer, topic: str, partitions: list[int]) -> Bounds:
    """Asked on the browsing consumer's connections; a partition whose broker does not answer is a failure."""
    positions = [(topic, p) for p in partitions]
    begin, failed_begin = kafka.partition_offsets(client, positions, "earliest")
    end, failed_end = kafka.partition_offsets(client, [pos for pos in positions if pos not in failed_begin], "latest")
    failures = {p: str(error) for (_, p), error in (failed_begin | failed_end).items()}
    ok = [p for p in partitions if (topic, p) in begin and (topic, p) in end]
    return Bounds({p: begin[(topic, p)] for p in ok}, {p: end[(topic, p)] for p in ok}, failures)


def offsets_at(client: kafka.Consumer, topic: str, known: Bounds, timestamp_ms: int) -> dict[int, int]:
    """The first offset at or after the time in each partition (the end when none is), as Kafka's offsets_for_times."""
    found, failures = kafka.partition_offsets(client, [(topic, p) for p in known.partitions], timestamp_ms)
    known.failures.update({p: str(error) for (_, p), error in failures.items()})
    return {p: (found[(topic, p)] if found[(topic, p)] >= 0 else known.end[p]) for (_, p) in found}


def clamp(cursor: dict[int, int], known: Bounds, notes: list[str]) -> dict[int, int]:
    """Offsets beyond a partition's ends start at that end, with a note saying so."""
    clamped = {}
    for p, offset in cursor.items():
        if p not in known.begin:
            continue
        near = min(max(offset, known.begin[p]), known.end[p])
        if near != offset:
            notes.append(
                f"Partition {p}: offset {offset} is outside {known.begin[p]}–{known.end[p]} "
                f"(first to next to be written); started at {near}."
            )
        clamped[p] = near
    return clamped


def starting_from(known: Bounds, offset: int, notes: list[str]) -> Bounds:
    """The bounds of a search that looks no lower than `offset` (the newer events after a known one)."""
    begin = {p: min(max(first, offset), known.end[p]) for p, first in known.begin.items()}
    notes.extend(f"Partition {p}: searching offsets {begin[p]} and above only." for p in sorted(begin))
    return Bounds(begin, dict(known.end), known.failures)


def _read(client: kafka.Consumer, topic: str, windows: dict[int, tuple[int, int]]) -> tuple[dict, dict[int, str]]:
    read = kafka.read_windows(client, {(topic, p): w for p, w in windows.items()}, settings.KAFKA_REQUEST_TIMEOUT)
    failures = {p: str(error) for (_, p), error in read.failures.items()}
    for _, p in read.incomplete():
        if p not in failures:
            failures[p] = f"did not answer within {settings.KAFKA_REQUEST_TIMEOUT:g} s (is its leader down?)"
    records = {p: read.records[(topic, p)] for p in windows if p not in failures}
    return records, failures


def _sort_key(record: kafka.Record) -> int:
    return record.timestamp_ms if record.timestamp_ms is not None else -1


def _merge(
    runs: dict[int, list[kafka.Record]], more: dict[int, bool], newest_first: bool
) -> tuple[list[kafka.Record], int | None]:
    """Up to PAGE_SIZE records, earliest (or newest) timestamp first, each partition's taken in its own order.

    `more[p]`: partition p has records beyond what was read; once its read records run out,
    the merge stops there, since what follows it in time may be unread. That partition is
    returned beside the records (None when the merge did not stop short).
    """
    unread = next((p for p, run in runs.items() if not run and more[p]), None)
    if unread is not None:  # nothing of it read yet: its first record may come before any other
        return [], unread
    sign = -1 if newest_first else 1
    heap = [(sign * _sort_key(run[0]), p, 0) for p, run in runs.items() if run]
    heapq.heapify(heap)
    taken: list[kafka.Record] = []
    while heap and len(taken) < PAGE_SIZE:
        _, p, at = heapq.heappop(heap)
        taken.append(runs[p][at])
        if at + 1 < len(runs[p]):
            heapq.heappush(heap, (sign * _sort_key(runs[p][at + 1]), p, at + 1))
        elif more[p] and len(taken) < PAGE_SIZE:
            return taken, p
    return taken, None


def _first_step(partitions: int) -> int:
    """Records read of each partition at first: three times its share of a page. Timestamps of a topic's
    partitions mostly interleave, so 10 partitions read 150 records for a page of 50, not 500. A second
    read costs more than a larger first one (it waits for a fetch again): at twice the share, the newest
    page of bench/browse.py needed one in most loads."""
    return max(1, min(PAGE_SIZE, -(-3 * PAGE_SIZE // max(partitions, 1))))


def _read_merged(
    client: kafka.Consumer, topic: str, cursor: dict[int, int], known: Bounds, backward: bool
) -> tuple[list[kafka.Record], dict[int, str]]:
    """The page's records in merge order (newest first when backward) and the partitions that failed.

    Reads a share of each partition, merges, and reads more only of a partition the merge ran out of:
    as many more offsets as the page still lacks, and at least twice its last read (a compacted partition
    holds fewer records than offsets), so that partition seldom runs out again before the page is full.
    After KAFKA_REQUEST_TIMEOUT the page is what was merged so far (shorter, still in order: the next
    page goes on from where it ends).
    """
    deadline = time.monotonic() + settings.KAFKA_REQUEST_TIMEOUT
    step = dict.fromkeys(cursor, _first_step(len(cursor)))
    edge = dict(cursor)  # where the next read of each partition starts (forward) or ends (backward)
    runs: dict[int, list[kafka.Record]] = {p: [] for p in cursor}
    failures: dict[int, str] = {}
    wanted = set(cursor)
    while True:
        if backward:
            windows = {p: (max(edge[p] - step[p], known.begin[p]), edge[p]) for p in wanted}
        else:
            windows = {p: (edge[p], min(edge[p] + step[p], known.end[p])) for p in wanted}
        got, failed = _read(client, topic, windows)
        failures.update(failed)
        for p in failed:
            runs.pop(p, None)
        for p, records in got.items():
            runs[p].extend(records[::-1] if backward else records)
            edge[p] = windows[p][0] if backward else windows[p][1]
        more = {p: (edge[p] > known.begin[p]) if backward else (edge[p] < known.end[p]) for p in runs}
        taken, starved = _merge(runs, more, newest_first=backward)
        if starved is None or time.monotonic() > deadline:
            return taken, failures
        wanted, step[starved] = {starved}, max(PAGE_SIZE - len(taken), 2 * step[starved])


def page_forward(client: kafka.Consumer, topic: str, cursor: dict[int, int], known: Bounds) -> Page:
    """The PAGE_SIZE earliest records from cursor[p] on (one partition: by offset; several: by timestamp)."""
    taken, failures = _read_merged(client, topic, cursor, known, backward=False)
    hi = dict(cursor)
    for record in taken:
        hi[record.partition] = record.offset + 1
    return Page(taken, dict(cursor), hi, known, failures=failures)


def page_backward(client: kafka.Consumer, topic: str, cursor: dict[int, int], known: Bounds) -> Page:
    """The PAGE_SIZE newest records before cursor[p], shown oldest first."""
    taken, failures = _read_merged(client, topic, cursor, known, backward=True)
    lo = dict(cursor)
    for record in taken:
        lo[record.partition] = record.offset
    return Page(taken[::-1], lo, dict(cursor), known, failures=failures)


def read_one(topic: str, partition: int, offset: int) -> kafka.Record | None:
    """The record at exactly this offset, or None when there is none (compacted, out of range)."""
    with browsing(topic) as (client, partitions):
        choose_partitions(str(partition), partitions)
        read = kafka.read_windows(client, {(topic, partition): (offset, offset + 1)}, settings.KAFKA_REQUEST_TIMEOUT)
    records = read.records[(topic, partition)]
    return records[0] if records and records[0].offset == offset else None
