"""Republish dead letters without ever publishing one twice.

The outbox shape of ../shared/DLQ-CONVENTIONS.md: claim the rows and write a
`publishing` Replay with a new replay id and the target partition's end
offset, commit; produce with the replay id in a header; then settle each row
as republished (partition and offset kept) or failed (error kept). A delivery
that may have been written (a timeout, a lost connection) stays publishing:
only `reconcile` settles it, by finding the replay id in the target partition.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from deadletter import header_codec
from deadletter import pg as deadletter_pg
from deadletter.models import DeadLetterRecord
from opsportal import kafka
from topics.browse import TOPIC_NAME

from . import outbox, pg
from .headers import replay_headers
from .models import AuditEntry, Replay, ReplayJob
from .partitioner import partition_for_key


class RepublishRefused(Exception):
    """The request cannot go ahead as asked; the message says why, for the operator."""


@dataclass(frozen=True)
class Edit:
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    diff: str


@dataclass
class Outcome:
    republished: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    replay_ids: list[str] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        self.republished += other.republished
        self.failed += other.failed
        self.uncertain += other.uncertain
        self.skipped += other.skipped
        self.errors += [e for e in other.errors if e not in self.errors][:10]
        self.replay_ids += other.replay_ids

    def summary(self) -> str:
        parts = [f"{self.republished} republished"]
        for count, label in (
            (self.failed, "failed"),
            (self.uncertain, "left publishing (reconcile them)"),
            (self.skipped, "skipped (not in a republishable state)"),
        ):
            if count:
                parts.append(f"{count} {label}")
        return ", ".join(parts) + (f". First error: {self.errors[0]}" if self.errors else "")


def republish_producer() -> kafka.Producer:
    # A bounded delivery timeout: reconcile waits longer than this before it decides.
    timeout_ms = int(settings.REPUBLISH_DELIVERY_TIMEOUT * 1000)
    # Fuller batches: a bulk job costs the brokers less CPU per record; one record waits 50 ms longer.
    overrides: dict[str, Any] = {"message.timeout.ms": timeout_ms, "linger.ms": 50}
    return kafka.producer(**overrides)


class Source(NamedTuple):
    """What republishing reads of a dead letter: a tuple, so a 100,000-row job builds no model instances."""

    pk: int
    key: bytes | None
    value: bytes | None
    headers: list
    dlq_topic: str
    partition: int
    offset: int
    original_topic: str
    original_partition: int | None

    def __str__(self) -> str:
        return f"{self.dlq_topic}[{self.partition}]@{self.offset}"

    @classmethod
    def of(cls, record: DeadLetterRecord) -> Source:
        return cls(*(getattr(record, name) for name in cls._fields))

    def raw_headers(self) -> list[tuple[str, bytes | None]]:
        return header_codec.decode(self.headers)


def load_sources(ids: Sequence[int]) -> list[Source]:
    """The dead letters with these ids, in the order given (each account's events in their order).

    Read as plain tuples: the QuerySet's model instances cost more than the rows' bytes.
    """
    if connection.vendor == "postgresql":
        with transaction.atomic():
            pg.plan_as_key_lookups()
            rows = deadletter_pg.record_columns(Source._fields, ids)
        by_pk = {
            row[0]: Source._make((*row[:_HEADERS], json.loads(row[_HEADERS]), *row[_HEADERS + 1 :])) for row in rows
        }
    else:
        found = DeadLetterRecord.objects.filter(pk__in=ids).values_list(*Source._fields)
        by_pk = {row[0]: Source(*row) for row in found}
    return [by_pk[pk] for pk in ids if pk in by_pk]


_HEADERS = Source._fields.index("headers")


def target_topic_of(record: DeadLetterRecord | Source, override: str | None) -> str:
    topic = override or record.original_topic
    if not topic:
        raise RepublishRefused(f"{record} has no original topic in its headers; choose a target topic")
    return topic


def target_partition(record: DeadLetterRecord | Source, topic: str, partitions: int) -> int:
    """Where a Java or KafkaJS producer would put the key; keyless records keep their partition."""
    if record.key is not None:
        return partition_for_key(bytes(record.key), partitions)
    original = record.original_partition
    same_topic = topic == record.original_topic
    return original if same_topic and original is not None and 0 <= original < partitions else 0


class Targets:
    """Where records go: topic metadata and unwritable partitions, read once per job."""

    def __init__(self) -> None:
        self.read_at = time.monotonic()
        self.admin = kafka.admin_client()  # one connection for all of a job's requests
        self.metadata = kafka.list_topics(admin=self.admin)
        self._unwritable: dict[tuple[str, int], str] = {}
        self._checked: set[tuple[str, int]] = set()
        self._end_offsets: dict[tuple[str, int], int] = {}
        self._missing: dict[str, str] = {}  # topics refused once, with the reason: never waited for again

    def start_offsets(
        self, wanted: set[tuple[str, int]]
    ) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], kafka.KafkaClientError]]:
        """For each partition, an offset at or before where a record produced from now on lands:
        where reconcile starts its scan. Also the partitions whose offsets could not be read.

        Read from the brokers once, then moved on by the job's own acknowledgements (a
        delivered record's offset + 1 is never past a later record's): asking the brokers
        for every chunk was a large part of each chunk's time.
        """
        unknown = wanted - self._end_offsets.keys()
        failures: dict[tuple[str, int], kafka.KafkaClientError] = {}
        if unknown:
            offsets, failures = kafka.list_offsets(unknown, "latest", admin=self.admin)
            for position, offset in offsets.items():
                self.delivered(position, offset - 1)
        return {p: self._end_offsets[p] for p in wanted if p in self._end_offsets}, failures

    def delivered(self, position: tuple[str, int], offset: int) -> None:
        if offset + 1 > self._end_offsets.get(position, -1):
            self._end_offsets[position] = offset + 1

    def plan(self, record: DeadLetterRecord | Source, override: str | None) -> tuple[str, int]:
        topic = target_topic_of(record, override)
        if topic in self._missing:
            raise RepublishRefused(self._missing[topic])
        if not TOPIC_NAME.fullmatch(topic) or topic in (".", ".."):
            self._missing[topic] = f"{topic[:100]!r} is not a valid Kafka topic name"
            raise RepublishRefused(self._missing[topic])
        for _attempt in range(3):
            if topic in self.metadata:
                break
            # A topic created a moment ago may not have reached the broker that answered yet.
            time.sleep(0.5)
            self.metadata = kafka.list_topics(admin=self.admin)
        else:
            self._missing[topic] = f"target topic {topic!r} does not exist in the cluster"
            raise RepublishRefused(self._missing[topic])
        return topic, target_partition(record, topic, len(self.metadata[topic].partitions))

    def unwritable(self, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """Partitions acks=all cannot be written to now, with the reason: failed before producing.

        A topic whose configs cannot be read is left to the produce itself, which
        fails the same way, only after the delivery timeout.
        """
        unchecked = wanted - self._checked
        if unchecked:
            topics = {topic for topic, _ in unchecked}
            configs, _unreadable = kafka.describe_topic_configs(topics, admin=self.admin)
            for topic, number in unchecked:
                problem = self._problem(topic, number, configs.get(topic, {}))
                if problem:
                    self._unwritable[(topic, number)] = problem
            self._checked |= unchecked
        return {position: self._unwritable[position] for position in wanted if position in self._unwritable}

    def _problem(self, topic: str, number: int, configs: dict) -> str:
        partition = self.metadata[topic].partitions[number]
        if partition.leader < 0:
            return f"{topic}[{number}] has no leader: its brokers are down"
        min_isr = int(configs.get("min.insync.replicas", ("1", ""))[0] or 1)
        if len(partition.isr) < min_isr:
            return (
                f"not enough in-sync replicas for {topic}[{number}]: {len(partition.isr)} in sync, "
                f"min.insync.replicas is {min_isr}. Bring the stopped brokers back, then retry."
            )
        return ""


@dataclass(slots=True)
class Claim:
    """One record claimed for publishing: its Replay row, as the hot path keeps it."""

    replay_id: str  # a UUID as text
    source: Source
    target_topic: str
    target_partition: int
    start_offset: int
    state: str = Replay.State.PUBLISHING
    offset: int | None = None
    error: str = ""

    @property
    def position(self) -> tuple[str, int]:
        return self.target_topic, self.target_partition


@dataclass
class InFlight:
    """A claimed chunk handed to the producer; finish() waits for its acknowledgements and settles it."""

    sent: list[Claim]
    refused: list[Claim]
    short: dict[tuple[str, int], str]
    pending: kafka.PendingDeliveries | None
    error: kafka.KafkaClientError | None
    skipped: int
    unplanned: dict[int, str]  # records not claimed because they cannot be sent, with the reason
    job_id: int | None
    user: User | None
    action: str
    target_topic: str
    edit: Edit | None
    targets: Targets

    def finish(self) -> Outcome:
        if self.pending is not None:
            deliveries = self.pending.wait()
            for claimed, delivery in zip(self.sent, deliveries, strict=True):
                # A delivered record always has its offset.
                if delivery.error is None and delivery.offset is not None:
                    self.targets.delivered(claimed.position, delivery.offset)
        else:
            # Producing failed part-way: some may have been written, so all stay publishing, for reconcile.
            deliveries = [kafka.Delivery(None, None, self.error) for _ in self.sent]
        outcome = Outcome(skipped=self.skipped, failed=len(self.unplanned))
        outcome.errors += list(dict.fromkeys(self.unplanned.values()))[:10]
        settle(self.sent, deliveries, self.refused, self.short, outcome)
        if self.job_id is not None:
            return outcome  # a job writes one entry when asked for and one when it ends, not one per chunk
        AuditEntry.objects.create(
            user=self.user,
            action=self.action,
            record_ids=[c.source.pk for c in self.sent + self.refused] + list(self.unplanned),
            target_topic=self.target_topic,
            replay_ids=outcome.replay_ids,
            outcome=outcome.summary(),
            details={"diff": self.edit.diff} if self.edit else {},
        )
        return outcome


def republish(records: Sequence[DeadLetterRecord | Source], **options: Any) -> Outcome:
    """Republish records and wait for the outcome (options as for start_republish); a bulk job
    calls start_republish itself, so one chunk's acknowledgements arrive while the next is claimed."""
    return start_republish(records, **options).finish()


def start_republish(
    records: Sequence[DeadLetterRecord | Source],
    *,
    user: User | None,
    target_topic: str | None = None,
    edit: Edit | None = None,
    job: ReplayJob | None = None,
    producer: kafka.Producer | None = None,
    targets: Targets | None = None,
) -> InFlight:
    """Claim the records (committed) and hand them to the producer without waiting.

    Raises RepublishRefused or KafkaClientError only before anything is claimed.
    """
    producer = producer or republish_producer()  # before the claim: a producer that cannot be made claims nothing
    sources = [record if isinstance(record, Source) else Source.of(record) for record in records]
    targets = targets or Targets()
    planned, unplanned = plan_each(sources, target_topic, targets)
    if not planned and len(sources) == 1:
        raise RepublishRefused(next(iter(unplanned.values())))
    wanted = set(planned.values())
    start_offsets, failures = targets.start_offsets(wanted)
    short = targets.unwritable(wanted) | {p: str(e) for p, e in failures.items()}

    plannable = [source for source in sources if source.pk in planned]
    claims = claim(plannable, planned, start_offsets, user=user, edit=edit, job=job) if plannable else []
    in_flight = InFlight(
        sent=[c for c in claims if c.position not in short],
        refused=[c for c in claims if c.position in short],
        short=short,
        pending=None,
        error=None,
        skipped=len(plannable) - len(claims),
        unplanned=unplanned,
        job_id=job.pk if job else None,
        user=user,
        action=_audit_action(edit, job),
        target_topic=target_topic or "",
        edit=edit,
        targets=targets,
    )
    replayed_by = user.get_username() if user else "system"
    try:
        in_flight.pending = kafka.produce(producer, outgoing_records(in_flight.sent, edit, replayed_by))
    except kafka.KafkaClientError as exc:
        # Without its traceback: that holds this frame, which holds in_flight (a cycle, and a
        # bulk job runs with the cycle collector paused).
        in_flight.error = exc.with_traceback(None)
    return in_flight


def plan_each(
    sources: Sequence[Source], override: str | None, targets: Targets
) -> tuple[dict[int, tuple[str, int]], dict[int, str]]:
    """Each record's target partition, planned one by one: a record that cannot be sent (its
    topic is missing or no topic name) is refused alone, with its reason, never its chunk."""
    planned, unplanned = {}, {}
    for source in sources:
        try:
            planned[source.pk] = targets.plan(source, override)
        except RepublishRefused as exc:
            unplanned[source.pk] = str(exc)
    return planned, unplanned


def _audit_action(edit: Edit | None, job: ReplayJob | None) -> str:
    if edit:
        return AuditEntry.Action.EDITED_REPUBLISH
    return AuditEntry.Action.BULK_REPUBLISH if job else AuditEntry.Action.REPUBLISH


def claim(
    sources: list[Source],
    planned: dict[int, tuple[str, int]],
    start_offsets: dict[tuple[str, int], int],
    *,
    user: User | None,
    edit: Edit | None,
    job: ReplayJob | None,
) -> list[Claim]:
    """Move the republishable rows to publishing with their Replay, committed before producing."""
    candidates = [
        Claim(replay_id, source, *planned[source.pk], start_offsets.get(planned[source.pk], 0))
        for replay_id, source in zip(new_replay_ids(len(sources)), sources, strict=True)
    ]
    defaults = outbox.ReplayDefaults(
        job_id=job.pk if job else None,
        requested_by_id=user.pk if user else None,
        edited=edit is not None,
        value=edit.value if edit else None,
        edited_headers=header_codec.encode(edit.headers) if edit else [],
        created_at=timezone.now(),
    )
    rows = [
        outbox.ClaimRow(c.source.pk, c.replay_id, c.target_topic, c.target_partition, c.start_offset)
        for c in candidates
    ]
    with transaction.atomic():
        claimed = outbox.claim(rows, defaults)
    return [c for c in candidates if c.source.pk in claimed]


def new_replay_ids(count: int) -> list[str]:
    """Version 7 UUIDs (RFC 9562) as text: the time in milliseconds, then 74 random bits.

    Time-ordered, so a chunk's replays go in at the end of the replay-id index instead of
    on random pages all over it (fewer pages touched and written per chunk). The random
    bits come from one read of the system's random source: uuid4() reads it once per id (a
    system call each) and builds a UUID object each, which a bulk job would pay per record.
    """
    millis = f"{time.time_ns() // 1_000_000:012x}"
    head = f"{millis[:8]}-{millis[8:]}-7"
    digits = os.urandom(10 * count).hex()
    variant = "89ab89ab89ab89ab"  # the top two bits of the variant digit are 10: RFC 9562
    return [
        f"{head}{d[0:3]}-{variant[int(d[3], 16)]}{d[4:7]}-{d[7:19]}"
        for d in (digits[start : start + 20] for start in range(0, 20 * count, 20))
    ]


def outgoing_records(claims: Iterable[Claim], edit: Edit | None, replayed_by: str) -> Iterator[kafka.OutgoingRecord]:
    for c in claims:
        source = c.source
        value = edit.value if edit else source.value
        headers = replay_headers(
            edit.headers if edit else source.raw_headers(),
            replay_id=c.replay_id,
            replayed_from=f"{source.dlq_topic}/{source.partition}/{source.offset}",
            replayed_by=replayed_by,
        )
        yield kafka.OutgoingRecord(
            topic=c.target_topic,
            key=None if source.key is None else bytes(source.key),
            value=None if value is None else bytes(value),
            headers=headers,
            partition=c.target_partition,
        )


def settle(
    sent: list[Claim],
    deliveries: Sequence[kafka.Delivery],
    refused: list[Claim],
    short: dict[tuple[str, int], str],
    outcome: Outcome,
) -> None:
    """Record each delivery on its Replay and its dead letter, in one transaction."""
    now = timezone.now()
    for claimed, delivery in zip(sent, deliveries, strict=True):
        if delivery.error is None:
            claimed.state, claimed.offset = Replay.State.REPUBLISHED, delivery.offset
            outcome.republished += 1
        elif delivery.maybe_written:
            claimed.error = f"may have been written, reconcile it: {delivery.error}"
            outcome.uncertain += 1
        else:
            claimed.state, claimed.error = Replay.State.FAILED, str(delivery.error)
            outcome.failed += 1
    for claimed in refused:
        claimed.state = Replay.State.FAILED
        claimed.error = short[claimed.position]
        outcome.failed += 1
    everything = sent + refused
    outcome.errors += list(dict.fromkeys(c.error for c in everything if c.error))[:10]
    outcome.replay_ids += [c.replay_id for c in everything]
    with transaction.atomic():
        outbox.settle([outbox.SettleRow(c.replay_id, c.source.pk, c.state, c.offset, c.error) for c in everything], now)
