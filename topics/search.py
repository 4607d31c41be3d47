"""Search a topic newest first, within a bound: a number of records and a time budget.

The scan walks each partition backward in chunks from a cursor (the offset it has not yet
looked below); the cursor it stops at is where "continue" starts, so a long search is a
series of bounded ones that never look at a record twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from opsportal import kafka
from topics.browse import PAGE_SIZE, Bounds, BrowseError

CHUNK = 2000  # offsets per partition per read: big enough to amortise a read, small enough to stop on time
KINDS = {"key": "exact key", "field": "JSON field", "text": "text in the value"}


@dataclass(frozen=True)
class Query:
    kind: str  # one of KINDS
    value: str
    field: str = ""

    def describe(self) -> str:
        if self.kind == "field":
            return f"{self.field} = {self.value!r}"
        return f"{KINDS[self.kind]} {self.value!r}"


@dataclass
class SearchResult:
    matches: list[kafka.Record]  # newest first
    scanned: int  # offsets looked at by this run
    cursor: dict[int, int]  # per partition: the next run looks below this offset
    stopped_by: str  # done, records, time or matches
    seconds: float
    failures: dict[int, str] = field(default_factory=dict)


def parse_query(kind: str, value: str, field_name: str) -> Query:
    if kind not in KINDS:
        raise BrowseError(f"Choose what to search by: {', '.join(KINDS.values())}.")
    if not value:
        raise BrowseError("Enter the value to search for.")
    if kind == "field" and not field_name:
        raise BrowseError("Enter the JSON field to search, such as eventId, accountId or correlationId.")
    return Query(kind, value, field_name if kind == "field" else "")


def matcher(query: Query) -> Callable[[kafka.Record], bool]:
    needle = query.value.encode()
    if query.kind == "key":
        return lambda record: record.key == needle
    if query.kind == "text":
        return lambda record: record.value is not None and needle in record.value
    # JSON may escape non-ASCII, quotes and slashes: only a plain value can be looked for in the raw bytes first.
    plain = query.value.isascii() and not any(ch in query.value for ch in '"\\/')

    def field_matches(record: kafka.Record) -> bool:
        if record.value is None or (plain and needle not in record.value):
            return False
        try:
            document = json.loads(record.value)
        except (ValueError, RecursionError):
            return False
        return any(_same(found, query.value) for found in _values_of(document, query.field))

    return field_matches


def _values_of(document: Any, name: str) -> Iterator[Any]:
    """The values of every field called `name`, at any depth (eventId at the top, correlationId in metadata)."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if name in item:
                yield item[name]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _same(found: Any, wanted: str) -> bool:
    return found == wanted if isinstance(found, str) else json.dumps(found) == wanted


def search(
    client: kafka.Consumer,
    topic: str,
    cursor: dict[int, int],
    known: Bounds,
    query: Query,
    max_records: int,
    page_size: int = PAGE_SIZE,
) -> SearchResult:
    """Scan backward from the cursor until done, `max_records` offsets, BROWSE_SEARCH_SECONDS, or a page of matches.

    At most `page_size` matches come back; the cursor then stops just above the first one left for the next page.
    """
    match = matcher(query)
    started = time.monotonic()
    deadline = started + settings.BROWSE_SEARCH_SECONDS
    result = SearchResult([], 0, dict(cursor), "done", 0.0)
    while True:
        stop = _why_stop(result, known, max_records, deadline, page_size)
        if stop:
            result.stopped_by = stop
            break
        _scan_chunk(client, topic, result, known, match, max_records, deadline)
    if len(result.matches) > page_size:
        _cut_to_page(result, cursor, page_size)
    result.matches.sort(key=lambda r: (r.timestamp_ms or -1, r.partition, r.offset), reverse=True)
    result.seconds = time.monotonic() - started
    return result


def _cut_to_page(result: SearchResult, start: dict[int, int], page_size: int) -> None:
    """Keep at most `page_size` matches: the newest, per partition the highest offsets.

    A chunk can find many more matches than a page. Each partition keeps its matches above a
    new cursor and gives the rest back: the cursor moves up to just above the highest match it
    drops, so "continue" finds those again and no match is shown twice or skipped.
    """
    before = dict(result.cursor)
    ordered = sorted(result.matches, key=lambda r: (r.timestamp_ms or -1, r.partition, r.offset), reverse=True)
    dropped = ordered[page_size:]
    for partition in {record.partition for record in dropped}:
        highest = max(record.offset for record in dropped if record.partition == partition)
        result.cursor[partition] = highest + 1
    kept = [record for record in ordered if record.offset >= result.cursor[record.partition]]
    if not kept:  # timestamps out of offset order everywhere: show them all rather than make no progress
        result.cursor = before
        return
    result.matches = kept
    result.scanned = sum(start[p] - result.cursor[p] for p in result.cursor)
    result.stopped_by = "matches"


def _why_stop(result: SearchResult, known: Bounds, max_records: int, deadline: float, page_size: int) -> str:
    if not [p for p, c in result.cursor.items() if c > known.begin[p] and p not in result.failures]:
        return "done"
    if result.scanned >= max_records:
        return "records"
    if len(result.matches) >= page_size:
        return "matches"
    if time.monotonic() >= deadline:
        return "time"
    return ""


def _scan_chunk(
    client: kafka.Consumer,
    topic: str,
    result: SearchResult,
    known: Bounds,
    match: Callable[[kafka.Record], bool],
    max_records: int,
    deadline: float,
) -> None:
    active = [p for p, c in result.cursor.items() if c > known.begin[p] and p not in result.failures]
    per_partition = max(1, min(CHUNK, (max_records - result.scanned) // len(active)))
    windows = {p: (max(result.cursor[p] - per_partition, known.begin[p]), result.cursor[p]) for p in active}
    wait = max(0.05, min(deadline - time.monotonic(), settings.KAFKA_REQUEST_TIMEOUT))
    read = kafka.read_windows(client, {(topic, p): w for p, w in windows.items()}, wait)
    for (_, p), error in read.failures.items():
        result.failures[p] = str(error)
    for p, (start, stop) in windows.items():
        # A window read only in part is read again by the next chunk or the next run, never skipped.
        if (topic, p) not in read.complete or p in result.failures:
            continue
        result.matches.extend(record for record in reversed(read.records[(topic, p)]) if match(record))
        result.scanned += stop - start
        result.cursor[p] = start
