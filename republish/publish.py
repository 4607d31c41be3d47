"""Republish dead letters without ever publishing one twice.

The outbox shape of ../shared/DLQ-CONVENTIONS.md: claim the rows and write a
`publishing` Replay with a new replay id and the target partition's end
offset, commit; produce with the replay id in a header; then settle each row
as republished (partition and offset kept) or failed (error kept). A delivery
that may have been written (a timeout, a lost connection) stays publishing:
only `reconcile` settles it, by finding the replay id in the target partition.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deadletter.models import DeadLetterRecord, Status
from opsportal import kafka_client

from . import sql
from .headers import replay_headers
from .models import AuditEntry, Replay, ReplayJob
from .partitioner import partition_for_key

REPUBLISHABLE = (Status.NEW, Status.IN_REVIEW, Status.FAILED)
RECORD_STATUS = {Replay.State.REPUBLISHED: Status.REPUBLISHED, Replay.State.FAILED: Status.FAILED}


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


def republish_producer():
    # A bounded delivery timeout: reconcile waits longer than this before it decides.
    timeout_ms = int(settings.REPUBLISH_DELIVERY_TIMEOUT * 1000)
    return kafka_client.producer(**{"message.timeout.ms": timeout_ms, "linger.ms": 5})


def target_topic_of(record: DeadLetterRecord, override: str | None) -> str:
    topic = override or record.original_topic
    if not topic:
        raise RepublishRefused(f"{record} has no original topic in its headers; choose a target topic")
    return topic


def target_partition(record: DeadLetterRecord, topic: str, partitions: int) -> int:
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
        self.metadata = kafka_client.list_topics()
        self._unwritable: dict[tuple[str, int], str] = {}
        self._checked: set[tuple[str, int]] = set()

    def plan(self, record: DeadLetterRecord, override: str | None) -> tuple[str, int]:
        topic = target_topic_of(record, override)
        for _attempt in range(3):
            if topic in self.metadata:
                break
            # A topic created a moment ago may not have reached the broker that answered yet.
            time.sleep(0.5)
            self.metadata = kafka_client.list_topics()
        else:
            raise RepublishRefused(f"target topic {topic!r} does not exist in the cluster")
        return topic, target_partition(record, topic, len(self.metadata[topic].partitions))

    def unwritable(self, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """Partitions acks=all cannot be written to now, with the reason: failed before producing.

        A topic whose configs cannot be read is left to the produce itself, which
        fails the same way, only after the delivery timeout.
        """
        unchecked = wanted - self._checked
        if unchecked:
            configs, _unreadable = kafka_client.describe_topic_configs_each({topic for topic, _ in unchecked})
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


def republish(
    records: Sequence[DeadLetterRecord],
    *,
    user,
    target_topic: str | None = None,
    edit: Edit | None = None,
    job: ReplayJob | None = None,
    producer=None,
    targets: Targets | None = None,
) -> Outcome:
    """Republish one chunk of records; a bulk job chunks its work and shares one Targets."""
    targets = targets or Targets()
    planned = {record.pk: targets.plan(record, target_topic) for record in records}
    wanted = set(planned.values())
    start_offsets, failures = kafka_client.list_offsets(wanted, "latest")
    short = targets.unwritable(wanted) | {p: str(e) for p, e in failures.items()}

    replays = claim(records, planned, start_offsets, user=user, edit=edit, job=job)
    outcome = Outcome(skipped=len(records) - len(replays))
    to_send = [r for r in replays if (r.target_topic, r.target_partition) not in short]
    refused = [r for r in replays if (r.target_topic, r.target_partition) in short]
    records_by_id = {record.pk: record for record in records}
    replayed_by = user.get_username() if user else "system"
    try:
        deliveries = kafka_client.produce_each(
            producer or republish_producer(),
            (outgoing(records_by_id[r.record_id], r, edit, replayed_by) for r in to_send),
        )
    except kafka_client.KafkaClientError as exc:
        # Some may have been written before the failure: all stay publishing, for reconcile.
        deliveries = [kafka_client.Delivery(None, None, exc) for _ in to_send]
    settle(to_send, deliveries, refused, short, outcome)
    AuditEntry.objects.create(
        user=user,
        action=_audit_action(edit, job),
        record_ids=[r.record_id for r in replays],
        target_topic=target_topic or "",
        replay_ids=outcome.replay_ids,
        outcome=outcome.summary(),
        details={"diff": edit.diff} if edit else {},
    )
    return outcome


def _audit_action(edit: Edit | None, job: ReplayJob | None) -> str:
    if edit:
        return AuditEntry.Action.EDITED_REPUBLISH
    return AuditEntry.Action.BULK_REPUBLISH if job else AuditEntry.Action.REPUBLISH


def encode_headers(headers: list[tuple[str, bytes | None]]) -> list:
    return [[name, None if value is None else base64.b64encode(value).decode()] for name, value in headers]


def claim(records, planned, start_offsets, *, user, edit, job) -> list[Replay]:
    """Move the republishable rows to publishing with their Replay, committed before producing.

    One UPDATE ... RETURNING both checks and claims each row, so two operators
    (or two workers) acting on the same rows never both get one.
    """
    with transaction.atomic():
        claimed = set(
            sql.update_returning_ids(
                DeadLetterRecord,
                [record.pk for record in records],
                set_values={"status": Status.PUBLISHING},
                where={"status": REPUBLISHABLE},
            )
        )
        replays = [
            _new_replay(record, planned, start_offsets, user, edit, job) for record in records if record.pk in claimed
        ]
        sql.insert_many(replays)
        sql.update_many(DeadLetterRecord, ["id"], ["replay_id"], [(r.replay_id, r.record_id) for r in replays])
    return replays


def _new_replay(record, planned, start_offsets, user, edit, job) -> Replay:
    topic, partition = planned[record.pk]
    return Replay(
        replay_id=uuid.uuid4(),
        record=record,
        job=job,
        target_topic=topic,
        target_partition=partition,
        start_offset=start_offsets.get((topic, partition), 0),
        edited=edit is not None,
        value=edit.value if edit else None,
        edited_headers=encode_headers(edit.headers) if edit else [],
        requested_by=user,
    )


def outgoing(record: DeadLetterRecord, replay: Replay, edit: Edit | None, replayed_by: str):
    value = edit.value if edit else record.value
    headers = replay_headers(
        edit.headers if edit else record.raw_headers(),
        replay_id=replay.replay_id,
        replayed_from=f"{record.dlq_topic}/{record.partition}/{record.offset}",
        replayed_by=replayed_by,
    )
    return kafka_client.OutgoingRecord(
        topic=replay.target_topic,
        key=None if record.key is None else bytes(record.key),
        value=None if value is None else bytes(value),
        headers=headers,
        partition=replay.target_partition,
    )


def settle(sent: list[Replay], deliveries, refused: list[Replay], short: dict, outcome: Outcome) -> None:
    """Record each delivery on its Replay and its dead letter, in one transaction."""
    now = timezone.now()
    for replay, delivery in zip(sent, deliveries, strict=True):
        replay.settled_at = now
        if delivery.error is None:
            replay.state, replay.offset = Replay.State.REPUBLISHED, delivery.offset
            outcome.republished += 1
        elif delivery.maybe_written:
            replay.error = f"may have been written, reconcile it: {delivery.error}"
            replay.settled_at = None
            outcome.uncertain += 1
        else:
            replay.state, replay.error = Replay.State.FAILED, str(delivery.error)
            outcome.failed += 1
    for replay in refused:
        replay.state, replay.settled_at = Replay.State.FAILED, now
        replay.error = short[(replay.target_topic, replay.target_partition)]
        outcome.failed += 1
    everything = sent + refused
    outcome.errors += list(dict.fromkeys(r.error for r in everything if r.error))[:10]
    outcome.replay_ids += [str(r.replay_id) for r in everything]
    # Both updates hold only while the replay is still the row's publishing one: a replay
    # reconcile already settled, or a row since claimed again, is left as it is.
    with transaction.atomic():
        sql.update_many(
            Replay,
            ["replay_id"],
            ["state", "offset", "error", "settled_at"],
            [(r.state, r.offset, r.error, r.settled_at, r.replay_id) for r in everything],
            only_if={"state": Replay.State.PUBLISHING},
        )
        sql.update_many(
            DeadLetterRecord,
            ["id", "replay_id"],
            ["status"],
            [(RECORD_STATUS[r.state], r.record_id, r.replay_id) for r in everything if r.state in RECORD_STATUS],
            only_if={"status": Status.PUBLISHING},
        )
