"""What could go wrong if these dead letters were replayed now: shown before anything is sent.

- Newer events of the same key already on the original partition: replaying an
  older event after them applies it out of order (one bounded read per partition).
- The same event id already republished: a second replay would apply it twice.
- An earlier replay of the record came back into the dead-letter topic.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.db.models import Q, QuerySet

from deadletter.models import DeadLetterRecord
from opsportal import kafka
from topics.browse import TOPIC_NAME
from topics.models import Topic

from .models import Replay
from .partitioner import partition_for_key
from .scan import scan_partition


@dataclass
class Safety:
    newer_same_key: int = 0
    newer_is_lower_bound: bool = False  # the bounded read stopped before the partition's end
    already_republished: bool = False
    failed_again: bool = False
    unreadable: str = ""
    missing: str = ""  # the original topic or partition does not exist, or is no topic name
    not_checked: bool = False  # the page's time budget ran out before its partition was read
    # The key's original partition is not where murmur2 puts it: its producer partitions
    # differently (librdkafka's default, a custom partitioner), so a replay lands elsewhere.
    partition_mismatch: tuple[int, int] | None = None

    @property
    def warnings(self) -> list[str]:
        notes = []
        if self.newer_same_key:
            at_least = "at least " if self.newer_is_lower_bound else ""
            notes.append(
                f"{at_least}{self.newer_same_key} newer event(s) with this key already on the original partition"
            )
        elif self.newer_is_lower_bound:
            notes.append("newer events of this key not fully checked (scan bound reached)")
        if self.already_republished:
            notes.append("this event id was already republished")
        if self.failed_again:
            notes.append("an earlier replay of it failed again")
        if self.partition_mismatch:
            original, murmur2 = self.partition_mismatch
            notes.append(
                f"the original was on partition {original}, a Java/KafkaJS producer puts this key on {murmur2}: "
                "its other events may be on another partition than the replay"
            )
        if self.missing:
            notes.append(f"{self.missing}: it is refused when sent unless a target topic is chosen")
        if self.unreadable:
            notes.append(f"original partition not readable: {self.unreadable}")
        if self.not_checked:
            notes.append("newer events of this key not checked: the page's time budget for Kafka ran out")
        return notes


@dataclass
class SafetyReport:
    by_record: dict[int, Safety] = field(default_factory=dict)
    metadata_error: str = ""  # Kafka's metadata did not answer: no original topic could be decided

    @property
    def flagged(self) -> int:
        return sum(1 for safety in self.by_record.values() if safety.warnings)


PAGE_KAFKA_BUDGET = 5.0  # seconds a one-record page may spend reading Kafka, whatever the records


class Row(NamedTuple):
    """What the checks read of a dead letter: a tuple, so a 40,000-row selection builds no model instances."""

    pk: int
    dlq_topic: str
    partition: int
    offset: int
    key: bytes | None
    key_text: str
    original_topic: str
    original_partition: int | None
    original_offset: int | None
    event_id: str
    failed_again: bool

    def __str__(self) -> str:
        return f"{self.dlq_topic}[{self.partition}]@{self.offset}"


Checked = DeadLetterRecord | Row


def topic_problem(name: str, partition: int | None, metadata: dict[str, kafka.TopicInfo]) -> str:
    """Why a record's original partition cannot be read, from one metadata read: never a per-name timeout."""
    if not TOPIC_NAME.fullmatch(name) or name in (".", ".."):
        return f"{name[:100]!r} is not a valid Kafka topic name"
    if name not in metadata:
        return f"topic {name} does not exist"
    if partition is not None and not 0 <= partition < len(metadata[name].partitions):
        return f"partition {partition} of topic {name} does not exist"
    return ""


def check(records: Sequence[Checked], budget: float = PAGE_KAFKA_BUDGET) -> SafetyReport:
    report = SafetyReport({record.pk: Safety() for record in records})
    _newer_same_key(records, report, time.monotonic() + budget)
    republished_events = set(
        Replay.objects.filter(
            state=Replay.State.REPUBLISHED, record__event_id__in=[r.event_id for r in records if r.event_id]
        ).values_list("record__event_id", flat=True)
    )
    returned = set(
        DeadLetterRecord.objects.filter(
            returned_replay_id__in=Replay.objects.filter(record__in=[r.pk for r in records]).values("replay_id")
        ).values_list("returned_replay_id", flat=True)
    )
    # Never None: a NULL returned_replay_id matches no IN.
    returned_ids = {replay_id for replay_id in returned if replay_id is not None}
    returned_records = set(Replay.objects.filter(replay_id__in=returned_ids).values_list("record_id", flat=True))
    partition_counts = dict(
        Topic.objects.filter(name__in={r.original_topic for r in records}).values_list("name", "partition_count")
    )
    for record in records:
        safety = report.by_record[record.pk]
        safety.partition_mismatch = _partition_mismatch(record, partition_counts.get(record.original_topic))
        safety.already_republished = bool(record.event_id) and record.event_id in republished_events
        safety.failed_again = record.failed_again or record.pk in returned_records
    return report


def _partition_mismatch(record: Checked, partitions: int | None) -> tuple[int, int] | None:
    if record.key is None or record.original_partition is None or not partitions:
        return None
    murmur2 = partition_for_key(bytes(record.key), partitions)
    return None if murmur2 == record.original_partition else (record.original_partition, murmur2)


def _newer_same_key(records: Sequence[Checked], report: SafetyReport, deadline: float) -> None:
    """One metadata read decides every named original topic (a keyless record's too); then one
    bounded read per original partition, from the oldest record's offset, a few at once;
    partitions not reached by the deadline are marked not checked."""
    named = [record for record in records if record.original_topic]
    if not named:
        return
    try:
        metadata = kafka.list_topics()
    except kafka.KafkaClientError as exc:
        report.metadata_error = str(exc)
        for record in named:
            report.by_record[record.pk].unreadable = str(exc)
        return
    problems: dict[tuple[str, int | None], str] = {}
    # Each record with its key and original offset, both known not None here.
    readable: dict[tuple[str, int], list[tuple[Checked, bytes, int]]] = defaultdict(list)
    for record in named:
        position = (record.original_topic, record.original_partition)
        if position not in problems:
            problems[position] = topic_problem(*position, metadata)
        report.by_record[record.pk].missing = problems[position]
        if not problems[position] and record.key is not None and record.original_offset is not None:
            readable[(record.original_topic, record.original_partition or 0)].append(
                (record, bytes(record.key), record.original_offset)
            )
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="safety-scan") as pool:
        for position, group in readable.items():
            pool.submit(_scan_one, position, group, report, deadline)


def _scan_one(
    position: tuple[str, int], group: list[tuple[Checked, bytes, int]], report: SafetyReport, deadline: float
) -> None:
    topic, partition = position
    if time.monotonic() >= deadline:
        for record, _, _ in group:
            report.by_record[record.pk].not_checked = True
        return
    keys = {key for _, key, _ in group}
    start = min(original_offset for _, _, original_offset in group) + 1
    bound = settings.REPUBLISH_SAFETY_SCAN_LIMIT
    try:
        scan = scan_partition(topic, partition, start, _key_in(keys), max_records=bound, deadline=deadline)
    except kafka.KafkaClientError as exc:
        for record, _, _ in group:
            report.by_record[record.pk].unreadable = str(exc)
        return
    newer: dict[bytes, list[int]] = defaultdict(list)
    for match in scan.matches:
        newer[match.key or b""].append(match.offset)
    for record, key, original_offset in group:
        safety = report.by_record[record.pk]
        safety.newer_same_key = sum(1 for offset in newer.get(key, ()) if offset > original_offset)
        safety.newer_is_lower_bound = not scan.complete


def _key_in(keys: set[bytes]) -> Callable[[kafka.Record], bool]:
    return lambda record: record.key in keys


# --- a bulk selection ---------------------------------------------------------------------

BULK_KAFKA_BUDGET = 0.4  # seconds the bulk confirmation may read Kafka for newer events of the keys
BULK_MAX_CHECKED = 100_000  # rows checked in the database; a larger selection says how many were
EXAMPLES = 5

# How each finding is ranked. Only "stop" and "check" count as flagged: they are what makes a
# replay wrong (an event applied twice, a record that cannot be sent, a copy landing on another
# partition than the account's other events). Newer events of the same key are "note": a billing
# account keeps transacting after one event fails, so nearly every record of an ordinary job has
# them (29 of 30 in the walkthrough), and the billing consumers order by the event's version;
# ranked red they hid the few records that matter.
KINDS = {
    "already_republished": ("stop", "Event id already republished", "a second copy applies the event twice"),
    "failed_again": ("stop", "An earlier replay came back", "it was republished and dead-lettered again"),
    "no_topic": ("stop", "Original topic missing", "refused when sent unless a target topic is chosen"),
    "unreadable": ("check", "Original partition not readable", "newer events of the key could not be read"),
    "partition_mismatch": (
        "check",
        "Replay lands on another partition",
        "the key's murmur2 partition (Java/KafkaJS) is not where the original was: "
        "the account's other events may be on another partition than the replay",
    ),
    "newer_same_key": (
        "note",
        "Newer events of the same key",
        "expected for an active account: the replay arrives after them (consumers order by event version)",
    ),
    "not_checked": ("note", "Newer events not checked", "the page's time budget for reading Kafka ran out"),
}


# The kinds that make a record "need a look" (SelectionCheck.flagged); the rest are for information.
FLAGGED = tuple(kind for kind, (level, _, _) in KINDS.items() if level != "note")

# The kinds an operator may leave out of a bulk job, decided from the database and one metadata
# read (never from the time-budgeted Kafka read, so the confirmation page and the submit agree).
LEAVE_OUT = ("no_topic", "already_republished", "failed_again", "partition_mismatch")
# Left out unless unticked: a record with no (existing) original topic is refused when sent, and a
# second copy of an event already republished applies it twice.
LEFT_OUT_BY_DEFAULT = ("no_topic", "already_republished")
# Decided at submit over the whole selection in the database (see left_out_where), so a job
# leaves out every such record, not only those among the first BULK_MAX_CHECKED checked.
DECIDED_IN_SQL = ("no_topic", "already_republished", "failed_again")


class Undecided(Exception):
    """A kind ticked to leave out cannot be decided now: its records cannot be told apart."""


def left_out_where(queryset: QuerySet[DeadLetterRecord], kind: str) -> Q:
    """The records of `queryset` that have `kind` (of DECIDED_IN_SQL), as one condition on it;
    raises Undecided when Kafka's metadata, which says which original topics exist, does not answer."""
    if kind == "already_republished":
        republished = Replay.objects.filter(state=Replay.State.REPUBLISHED).values("record__event_id")
        return ~Q(event_id="") & Q(event_id__in=republished)
    if kind == "failed_again":
        returned = DeadLetterRecord.objects.filter(returned_replay_id__isnull=False).values("returned_replay_id")
        return Q(failed_again=True) | Q(pk__in=Replay.objects.filter(replay_id__in=returned).values("record_id"))
    return Q(original_topic="") | _missing_where(queryset)


def _missing_where(queryset: QuerySet[DeadLetterRecord]) -> Q:
    """Original topics or partitions that do not exist, from the selection's distinct pairs and one metadata read."""
    pairs = list(
        queryset.exclude(original_topic="").order_by().values_list("original_topic", "original_partition").distinct()
    )
    if not pairs:
        return Q(pk__in=[])
    try:
        metadata = kafka.list_topics()
    except kafka.KafkaClientError as exc:
        raise Undecided(f"which original topics exist could not be read from Kafka ({exc})") from exc
    where = Q(pk__in=[])
    for topic, partition in pairs:
        if topic_problem(topic, partition, metadata):
            where |= Q(original_topic=topic, original_partition=partition)
    return where


@dataclass
class Finding:
    kind: str
    level: str
    title: str
    note: str
    count: int = 0
    examples: list[tuple[Row, str]] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)  # every record with it, for leaving them out

    @property
    def may_leave_out(self) -> bool:
        return self.kind in LEAVE_OUT

    @property
    def left_out_by_default(self) -> bool:
        return self.kind in LEFT_OUT_BY_DEFAULT


@dataclass
class SelectionCheck:
    total: int
    checked: int
    flagged: int
    findings: list[Finding]
    partitions_read: int
    partitions: int

    def left_out(self, kinds: Collection[str]) -> set[int]:
        """The records that have any of these kinds (of LEAVE_OUT)."""
        chosen = [finding for finding in self.findings if finding.kind in kinds and finding.may_leave_out]
        return {pk for finding in chosen for pk in finding.ids}

    def overlaps(
        self, skipped: Collection[int] = (), kinds: Collection[str] = LEAVE_OUT
    ) -> list[tuple[list[str], int]]:
        """How many records (not among the skipped) have each combination of these kinds (by default
        those that may be left out): what the page needs to count those left out for any boxes ticked,
        in the browser, and to count each flagged record once however many findings it has."""
        kinds_of: dict[int, list[str]] = defaultdict(list)
        for finding in self.findings:
            for pk in finding.ids if finding.kind in kinds else ():
                if pk not in skipped:
                    kinds_of[pk].append(finding.kind)
        return [(list(kinds), count) for kinds, count in Counter(tuple(k) for k in kinds_of.values()).items()]


def check_selection(
    queryset: QuerySet[DeadLetterRecord], total: int, kafka_budget: float | None = None
) -> SelectionCheck:
    """Every selected record checked in the database (up to BULK_MAX_CHECKED), Kafka within a budget
    (BULK_KAFKA_BUDGET unless given; read when called, so a test on a loaded machine may widen it)."""
    if kafka_budget is None:
        kafka_budget = BULK_KAFKA_BUDGET
    rows = [
        Row._make((*values[:4], None if values[4] is None else bytes(values[4]), *values[5:]))
        for values in queryset.order_by("pk").values_list(*Row._fields)[:BULK_MAX_CHECKED]
    ]
    report = SafetyReport({row.pk: Safety() for row in rows})
    _newer_same_key(rows, report, time.monotonic() + kafka_budget)
    selected = queryset.order_by().values("pk")
    republished = set(
        Replay.objects.filter(
            state=Replay.State.REPUBLISHED,
            record__event_id__in=queryset.order_by().exclude(event_id="").values("event_id"),
        ).values_list("record__event_id", flat=True)
    )
    came_back = set(
        Replay.objects.filter(
            record__in=selected,
            replay_id__in=DeadLetterRecord.objects.filter(returned_replay_id__isnull=False).values(
                "returned_replay_id"
            ),
        ).values_list("record_id", flat=True)
    )
    counts = dict(
        Topic.objects.filter(name__in={row.original_topic for row in rows}).values_list("name", "partition_count")
    )
    findings = {kind: Finding(kind, *KINDS[kind]) for kind in KINDS}
    murmur2: dict[tuple[str, bytes], tuple[int, int] | None] = {}
    flagged = 0
    for row in rows:
        safety = report.by_record[row.pk]
        safety.already_republished = bool(row.event_id) and row.event_id in republished
        safety.failed_again = row.failed_again or row.pk in came_back
        cached = (row.original_topic, row.key or b"")
        if cached not in murmur2 or row.key is None:
            murmur2[cached] = _partition_mismatch(row, counts.get(row.original_topic))
        safety.partition_mismatch = murmur2[cached]
        kinds = _kinds(row, safety)
        flagged += any(KINDS[kind][0] != "note" for kind in kinds)
        for kind, detail in kinds.items():
            finding = findings[kind]
            finding.count += 1
            finding.ids.append(row.pk)
            if len(finding.examples) < EXAMPLES:
                finding.examples.append((row, detail))
    partitions = {(row.original_topic, row.original_partition or 0) for row in rows if row.original_topic}
    unread = {(r.original_topic, r.original_partition or 0) for r in rows if report.by_record[r.pk].not_checked}
    return SelectionCheck(
        total=total,
        checked=len(rows),
        flagged=flagged,
        findings=[finding for finding in findings.values() if finding.count],
        partitions_read=len(partitions - unread),
        partitions=len(partitions),
    )


def _kinds(row: Row, safety: Safety) -> dict[str, str]:
    """The findings of one record, each with the detail its example line shows."""
    kinds = {}
    if safety.already_republished:
        kinds["already_republished"] = f"event {row.event_id}"
    if safety.failed_again:
        kinds["failed_again"] = "dead-lettered again after a replay"
    if not row.original_topic:
        kinds["no_topic"] = "no original topic in its headers"
    elif safety.missing:
        kinds["no_topic"] = safety.missing
    if safety.unreadable:
        kinds["unreadable"] = safety.unreadable
    if safety.partition_mismatch:
        kinds["partition_mismatch"] = "was on {}, murmur2 puts it on {}".format(*safety.partition_mismatch)
    if safety.newer_same_key:
        at_least = "at least " if safety.newer_is_lower_bound else ""
        kinds["newer_same_key"] = f"{at_least}{safety.newer_same_key} newer"
    if safety.not_checked:
        kinds["not_checked"] = "not read"
    return kinds
