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
    # A field search whose field no record this run scanned has at all: the field is misspelt or
    # elsewhere, which "0 matches" alone does not say.
    missing_field: str = ""


def parse_query(kind: str, value: str, field_name: str) -> Query:
    if kind not in KINDS:
        raise BrowseError(f"Choose what to search by: {', '.join(KINDS.values())}.")
    if not value:
        raise BrowseError("Enter the value to search for.")
    if kind == "field" and not field_name:
        raise BrowseError(
            "Enter the JSON field to search: a name at any depth, such as eventId or aggregateId,"
            " or a dotted path, such as payload.transactionId or metadata.correlationId."
        )
    return Query(kind, value, field_name if kind == "field" else "")


def matcher(query: Query) -> Callable[[kafka.Record], bool]:
    needle = query.value.encode()
    if query.kind == "key":
        return lambda record: record.key == needle
    if query.kind == "text":
        return lambda record: record.value is not None and needle in record.value
    return FieldMatcher(query)


def _plain(text: str) -> bool:
    """JSON may escape non-ASCII, quotes and slashes: only plain text can be looked for in the raw bytes."""
    return text.isascii() and not any(ch in text for ch in '"\\/')


class FieldMatcher:
    """A record whose JSON value holds the query's field (a name or a dotted path) with the query's value.

    It also tells whether any record it was given has the field at all (`seen`). Until one has,
    a record holding the field's last name is parsed even without the value in it; after, only
    records with the value in their raw bytes are (when the value is plain).
    """

    def __init__(self, query: Query) -> None:
        self.path = query.field.split(".")
        self.wanted = query.value
        self.needle = query.value.encode() if _plain(query.value) else None
        names = [part for part in self.path if not part.isdigit()]
        self.name = f'"{names[-1]}"'.encode() if names and _plain(names[-1]) else None
        self.seen = False

    def __call__(self, record: kafka.Record) -> bool:
        value = record.value
        if value is None or not self._worth_parsing(value):
            return False
        try:
            document = json.loads(value)
        except (ValueError, RecursionError):
            return False
        found = list(_values_of(document, self.path))
        self.seen = self.seen or bool(found)
        return any(_same(item, self.wanted) for item in found)

    def _worth_parsing(self, value: bytes) -> bool:
        if self.needle is None or self.needle in value:
            return True
        return not self.seen and (self.name is None or self.name in value)


def _values_of(document: Any, path: list[str]) -> Iterator[Any]:
    """The values at `path` wherever its first part is a key, at any depth: eventId at the top,
    correlationId or metadata.correlationId in metadata, payload.lines.0.amount in a list."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if path[0] in item:
                yield from _follow(item[path[0]], path[1:])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _follow(node: Any, rest: list[str]) -> Iterator[Any]:
    """The value below `node` at `rest`: each part a key of an object, a number an index of a list."""
    for part in rest:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return
    yield node


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
    if isinstance(match, FieldMatcher) and result.scanned and not match.seen:
        result.missing_field = query.field
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
