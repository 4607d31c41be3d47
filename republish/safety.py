"""What could go wrong if these dead letters were replayed now: shown before anything is sent.

- Newer events of the same key already on the original partition: replaying an
  older event after them applies it out of order (one bounded read per partition).
- The same event id already republished: a second replay would apply it twice.
- An earlier replay of the record came back into the dead-letter topic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.conf import settings

from deadletter.models import DeadLetterRecord
from opsportal import kafka
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
        if self.unreadable:
            notes.append(f"original partition not readable: {self.unreadable}")
        return notes


@dataclass
class SafetyReport:
    by_record: dict[int, Safety] = field(default_factory=dict)

    @property
    def flagged(self) -> int:
        return sum(1 for safety in self.by_record.values() if safety.warnings)


def check(records: Sequence[DeadLetterRecord]) -> SafetyReport:
    report = SafetyReport({record.pk: Safety() for record in records})
    _newer_same_key(records, report)
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


def _partition_mismatch(record: DeadLetterRecord, partitions: int | None) -> tuple[int, int] | None:
    if record.key is None or record.original_partition is None or not partitions:
        return None
    murmur2 = partition_for_key(bytes(record.key), partitions)
    return None if murmur2 == record.original_partition else (record.original_partition, murmur2)


def _newer_same_key(records: Sequence[DeadLetterRecord], report: SafetyReport) -> None:
    """One bounded read per original partition, from the oldest record's offset."""
    # Each record with its key and original offset, both known not None here.
    by_partition: dict[tuple[str, int], list[tuple[DeadLetterRecord, bytes, int]]] = defaultdict(list)
    for record in records:
        if record.key is not None and record.original_topic and record.original_offset is not None:
            by_partition[(record.original_topic, record.original_partition or 0)].append(
                (record, bytes(record.key), record.original_offset)
            )
    bound = settings.REPUBLISH_SAFETY_SCAN_LIMIT
    for (topic, partition), group in by_partition.items():
        keys = {key for _, key, _ in group}
        start = min(original_offset for _, _, original_offset in group) + 1
        try:
            scan = scan_partition(topic, partition, start, _key_in(keys), max_records=bound)
        except kafka.KafkaClientError as exc:
            for record, _, _ in group:
                report.by_record[record.pk].unreadable = str(exc)
            continue
        for record, key, original_offset in group:
            safety = report.by_record[record.pk]
            safety.newer_same_key = sum(1 for m in scan.matches if m.key == key and m.offset > original_offset)
            safety.newer_is_lower_bound = not scan.complete


def _key_in(keys: set[bytes]) -> Callable[[kafka.Record], bool]:
    return lambda record: record.key in keys
