"""Consumer group offset resets with the meaning of Kafka's own tool.

`kafka-consumer-groups --reset-offsets` (ConsumerGroupCommand) is the
reference: the same reset types, the same scope rules, the same clamping of
--to-offset and --shift-by to each partition's first and last offset, the same
fallback to the latest offset when no record is at or after a timestamp. We
are stricter where its leniency hurts an operator: a date-time must name its
time zone, a duration must be positive, an offset must not be negative, and a
group that does not exist or is not empty is refused before any preview.

Nothing here knows Django: the admin, the management command and the tests
call the same functions, so all three show and apply the same plan.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from opsportal import kafka
from opsportal.kafka import ClusterSettings, GroupInfo, Position

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ResetType(StrEnum):
    TO_EARLIEST = "to-earliest"
    TO_LATEST = "to-latest"
    TO_CURRENT = "to-current"
    TO_DATETIME = "to-datetime"
    BY_DURATION = "by-duration"
    TO_OFFSET = "to-offset"
    SHIFT_BY = "shift-by"

    @property
    def needs_value(self) -> bool:
        return self in (ResetType.TO_DATETIME, ResetType.BY_DURATION, ResetType.TO_OFFSET, ResetType.SHIFT_BY)


class ResetError(Exception):
    """Bad input or a refused reset; the message is written for an operator."""


class GroupNotResettable(ResetError):
    """The group is missing or has members; carries what describe_groups saw."""

    def __init__(self, message: str, group: GroupInfo | None = None):
        super().__init__(message)
        self.group = group


class PlanOutdated(ResetError):
    """The cluster moved since the preview: what was shown is no longer what would happen."""


# --- input parsing -------------------------------------------------------------

DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(?P<zone>Z|[+-]\d{2}:?\d{2})?$")
DURATION_RE = re.compile(
    r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d{1,9})?)S)?)?$"
)


def parse_datetime(text: str) -> int:
    """Epoch milliseconds of an ISO-8601 date-time that names its zone.

    Kafka's tool silently reads a zone-less value as UTC; for a billing
    reprocess an operator in another zone would then be hours off.
    """
    value = text.strip()
    match = DATETIME_RE.match(value)
    if not match:
        raise ResetError(
            f"{text!r} is not a date-time; use YYYY-MM-DDTHH:MM:SS.sss with a zone, e.g. 2026-01-31T08:00:00.000+01:00"
        )
    if not match.group("zone"):
        raise ResetError(f"{text!r} has no time zone; add Z for UTC or an offset such as +01:00")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ResetError(f"{text!r} is not a valid date-time: {exc}") from None
    # Integer arithmetic: float seconds * 1000 lands a millisecond early for some instants.
    timestamp_ms = (moment - EPOCH) // timedelta(milliseconds=1)
    if timestamp_ms < 0:
        # Kafka reads -1 as "latest" and -2 as "earliest": an early date would silently mean one of them.
        raise ResetError(f"{text!r} is before 1970-01-01T00:00:00Z; Kafka has no records before then")
    return timestamp_ms


def parse_duration(text: str) -> timedelta:
    """An ISO-8601 duration PnDTnHnMnS (what Kafka's --by-duration takes), strictly positive."""
    value = text.strip().upper()
    match = DURATION_RE.match(value)
    if not match or value in ("P", "PT") or value.endswith("T"):
        raise ResetError(f"{text!r} is not a duration; use ISO-8601 PnDTnHnMnS, e.g. PT30M, PT6H or P1DT12H")
    parts = {name: float(amount) for name, amount in match.groupdict().items() if amount}
    try:
        duration = timedelta(**parts)
    except OverflowError:
        duration = timedelta.max
    if duration <= timedelta(0):
        raise ResetError(f"{text!r} is zero; a duration back from now must be positive")
    if duration > datetime.now(UTC) - EPOCH:
        # Back past 1970 the timestamp is negative, which Kafka reads as "latest" or "earliest".
        raise ResetError(f"{text!r} reaches back before 1970-01-01; use --to-earliest to start from the beginning")
    return duration


def parse_offset(text: str, *, allow_negative: bool) -> int:
    try:
        number = int(str(text).strip())
    except ValueError:
        raise ResetError(f"{text!r} is not a whole number") from None
    if number < 0 and not allow_negative:
        raise ResetError(f"offset {number} is negative; offsets start at 0")
    return number


@dataclass(frozen=True)
class TopicScope:
    topic: str
    partitions: tuple[int, ...] | None  # None: every partition of the topic


@dataclass(frozen=True)
class Scope:
    """--all-topics (the partitions the group has committed offsets for) or --topic T[:P,...]."""

    all_topics: bool = False
    topics: tuple[TopicScope, ...] = ()

    @classmethod
    def parse(cls, topic_args: list[str], all_topics: bool = False) -> Scope:
        if all_topics == bool(topic_args):
            raise ResetError("choose either all topics or one or more topics (T or T:0,1)")
        return cls(all_topics=all_topics, topics=tuple(_parse_topic_arg(arg) for arg in topic_args))

    def __str__(self) -> str:
        if self.all_topics:
            return "--all-topics"
        return " ".join(
            t.topic if t.partitions is None else f"{t.topic}:{','.join(map(str, t.partitions))}" for t in self.topics
        )


def _parse_topic_arg(arg: str) -> TopicScope:
    topic, sep, partitions = arg.strip().partition(":")
    if not topic:
        raise ResetError(f"{arg!r} names no topic; use T or T:0,1")
    if not sep:
        return TopicScope(topic, None)
    try:
        numbers = tuple(sorted({int(p) for p in partitions.split(",")}))
    except ValueError:
        raise ResetError(f"{arg!r}: partitions must be whole numbers separated by commas, e.g. {topic}:0,1") from None
    if any(n < 0 for n in numbers):
        raise ResetError(f"{arg!r}: partition numbers start at 0")
    return TopicScope(topic, numbers)


@dataclass(frozen=True)
class ResetSpec:
    group_id: str
    scope: Scope
    reset_type: ResetType
    value: str = ""

    @classmethod
    def build(cls, group_id: str, scope: Scope, reset_type: str, value: str | None = None) -> ResetSpec:
        """Validate everything that needs no cluster, so bad input fails before any request."""
        if not group_id.strip():
            raise ResetError("a consumer group id is required")
        try:
            kind = ResetType(reset_type)
        except ValueError:
            raise ResetError(f"{reset_type!r} is not a reset type ({', '.join(ResetType)})") from None
        value = (value or "").strip()
        if kind.needs_value and not value:
            raise ResetError(f"--{kind} needs a value")
        spec = cls(group_id.strip(), scope, kind, value if kind.needs_value else "")
        spec.validate_value()
        return spec

    def validate_value(self) -> None:
        if self.reset_type == ResetType.TO_DATETIME:
            parse_datetime(self.value)
        elif self.reset_type == ResetType.BY_DURATION:
            parse_duration(self.value)
        elif self.reset_type in (ResetType.TO_OFFSET, ResetType.SHIFT_BY):
            parse_offset(self.value, allow_negative=self.reset_type == ResetType.SHIFT_BY)

    def describe(self) -> str:
        return f"--{self.reset_type}" + (f" {self.value}" if self.value else "")


# --- the plan ------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionPlan:
    topic: str
    partition: int
    current: int | None  # the committed offset; None when the group has none here
    new: int
    warning: str = ""  # set when the value was clamped or fell back
    end: int | None = None  # the log end offset when previewed; None in plans stored before it was read

    @property
    def lag_now(self) -> int | None:
        """Records the group has still to read, as committed now."""
        return None if self.end is None or self.current is None else self.end - self.current

    @property
    def lag_after(self) -> int | None:
        """Records it will have to read after the reset (as of the preview)."""
        return None if self.end is None else self.end - self.new

    @property
    def delta(self) -> int | None:
        """Records read again (+) or skipped (-); unknown without a committed offset."""
        return None if self.current is None else self.current - self.new

    @property
    def delta_text(self) -> str:
        if self.delta is None:
            return "-"
        if self.delta > 0:
            return f"+{self.delta} read again"
        if self.delta < 0:
            return f"{self.delta} skipped"
        return "0"


def _sum_known(values: list[int | None]) -> int | None:
    """The sum of the known values (a partition without a committed offset has no lag now); None if none is."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


@dataclass(frozen=True)
class PlanTotals:
    """What the whole reset does to the group, the preview's last row."""

    read_again: int  # records read a second time, over the partitions that move back
    skipped: int  # records never read, over the partitions that move forward
    lag_now: int | None
    lag_after: int | None

    @classmethod
    def of(cls, partitions: tuple[PartitionPlan, ...]) -> PlanTotals:
        deltas = [p.delta for p in partitions if p.delta is not None]
        return cls(
            read_again=sum(d for d in deltas if d > 0),
            skipped=-sum(d for d in deltas if d < 0),
            lag_now=_sum_known([p.lag_now for p in partitions]),
            lag_after=_sum_known([p.lag_after for p in partitions]),
        )


@dataclass(frozen=True)
class ResetPlan:
    spec: ResetSpec
    partitions: tuple[PartitionPlan, ...]
    group_state: str = ""

    @property
    def totals(self) -> PlanTotals:
        return PlanTotals.of(self.partitions)

    @property
    def new_offsets(self) -> dict[Position, int]:
        return {(p.topic, p.partition): p.new for p in self.partitions}

    @property
    def current_offsets(self) -> dict[Position, int | None]:
        return {(p.topic, p.partition): p.current for p in self.partitions}

    def to_json(self) -> dict:
        """Plain data for a signed form field or an audit row."""
        return {
            "group_id": self.spec.group_id,
            "scope": {"all_topics": self.spec.scope.all_topics, "topics": [asdict(t) for t in self.spec.scope.topics]},
            "reset_type": str(self.spec.reset_type),
            "value": self.spec.value,
            "group_state": self.group_state,
            "partitions": [asdict(p) for p in self.partitions],
        }

    @classmethod
    def from_json(cls, data: dict) -> ResetPlan:
        topics = tuple(
            TopicScope(t["topic"], None if t["partitions"] is None else tuple(t["partitions"]))
            for t in data["scope"]["topics"]
        )
        scope = Scope(data["scope"]["all_topics"], topics)
        spec = ResetSpec(data["group_id"], scope, ResetType(data["reset_type"]), data["value"])
        partitions = tuple(PartitionPlan(**p) for p in data["partitions"])
        return cls(spec, partitions, data.get("group_state", ""))

    def table(self) -> str:
        """The text table the command prints; the admin's preview shows the same rows, with lag columns and totals."""
        header = ("TOPIC", "PARTITION", "CURRENT", "NEW", "DELTA", "WARNING")
        rows = [
            (
                p.topic,
                str(p.partition),
                "-" if p.current is None else str(p.current),
                str(p.new),
                p.delta_text,
                p.warning,
            )
            for p in self.partitions
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]
        )


# --- reading the cluster -------------------------------------------------------


@dataclass
class _Cluster:
    """One admin client and the settings, passed together through a plan's requests."""

    settings: ClusterSettings | None
    admin: kafka.AdminClient | None = field(default=None)

    def __post_init__(self) -> None:
        self.admin = self.admin or kafka.admin_client(self.settings)

    def offsets(self, positions: list[Position], which: str | int) -> dict[Position, int]:
        offsets, failures = kafka.list_offsets(positions, which, self.settings, admin=self.admin)
        if failures:
            position, error = next(iter(failures.items()))
            raise ResetError(f"could not read offsets of {position[0]}[{position[1]}]: {error}")
        return offsets


def resettable_group(
    group_id: str, cluster: ClusterSettings | None = None, admin: kafka.AdminClient | None = None
) -> dict[Position, int]:
    """The group's committed offsets, if it exists and is empty; else GroupNotResettable.

    Committing offsets for an unknown group creates it silently, so a group
    without committed offsets is treated as absent and never reset.
    """
    groups, failures = kafka.describe_groups([group_id], cluster, admin=admin)
    if group_id in failures:
        raise ResetError(f"could not describe group {group_id}: {failures[group_id]}")
    group = groups[group_id]
    if group.members:
        raise GroupNotResettable(_busy_message(group), group)
    committed, failures = kafka.committed_offsets([group_id], cluster, admin=admin)
    if group_id in failures:
        raise ResetError(f"could not read committed offsets of group {group_id}: {failures[group_id]}")
    if group.state == "DEAD" or not committed.get(group_id):
        raise GroupNotResettable(
            f"consumer group {group_id!r} does not exist (no committed offsets); "
            "a reset would create it, so none is done",
            group,
        )
    return committed[group_id]


def group_topics(group_id: str, cluster: ClusterSettings | None = None) -> list[str]:
    """The topics a group has committed offsets for: what a reset of it is usually about."""
    committed, failures = kafka.committed_offsets([group_id], cluster)
    if group_id in failures:
        raise ResetError(f"could not read committed offsets of group {group_id}: {failures[group_id]}")
    return sorted({topic for topic, _ in committed.get(group_id, {})})


def _busy_message(group: GroupInfo) -> str:
    members = "; ".join(f"{m.client_id} {m.member_id} on {m.host}" for m in group.members)
    return (
        f"consumer group {group.group_id!r} is {group.state} with {len(group.members)} member(s): {members}. "
        "Offsets can only be reset while the group is empty: stop its consumers first."
    )


def _positions(spec: ResetSpec, committed: dict[Position, int], cluster: _Cluster) -> list[Position]:
    """The partitions in scope, in the order Kafka's tool resolves them; unknown ones are refused."""
    if spec.scope.all_topics:
        return sorted(committed)
    existing = kafka.list_topics(cluster.settings, admin=cluster.admin)
    positions: list[Position] = []
    for topic_scope in spec.scope.topics:
        info = existing.get(topic_scope.topic)
        if info is None:
            raise ResetError(f"topic {topic_scope.topic!r} does not exist")
        count = len(info.partitions)
        wanted = topic_scope.partitions if topic_scope.partitions is not None else tuple(range(count))
        missing = [n for n in wanted if n >= count]
        if missing:
            raise ResetError(
                f"topic {topic_scope.topic!r} has partitions 0-{count - 1}; "
                f"{', '.join(map(str, missing))} does not exist"
            )
        positions += [(topic_scope.topic, n) for n in wanted if (topic_scope.topic, n) not in positions]
    return positions


def _clamp(requested: dict[Position, int], cluster: _Cluster) -> dict[Position, tuple[int, str]]:
    """Kafka's checkOffsetsRange: above the log end -> log end, below the log start -> log start."""
    positions = list(requested)
    earliest, latest = cluster.offsets(positions, "earliest"), cluster.offsets(positions, "latest")
    result = {}
    for position, offset in requested.items():
        if offset > latest[position]:
            result[position] = (latest[position], f"{offset} is past the latest offset; clamped to {latest[position]}")
        elif offset < earliest[position]:
            result[position] = (
                earliest[position],
                f"{offset} is before the earliest offset; clamped to {earliest[position]}",
            )
        else:
            result[position] = (offset, "")
    return result


def _by_timestamp(positions: list[Position], timestamp_ms: int, cluster: _Cluster) -> dict[Position, tuple[int, str]]:
    """First offset at or after the time; Kafka falls back to the log end when there is none."""
    found = cluster.offsets(positions, timestamp_ms)
    missing = [position for position, offset in found.items() if offset < 0]
    latest = cluster.offsets(missing, "latest") if missing else {}
    result = {position: (offset, "") for position, offset in found.items() if offset >= 0}
    for position in missing:
        result[position] = (latest[position], "no record at or after that time; the latest offset is used")
    return result


def _new_offsets(
    spec: ResetSpec, positions: list[Position], committed: dict[Position, int], cluster: _Cluster
) -> dict[Position, tuple[int, str]]:
    kind = spec.reset_type
    if kind == ResetType.TO_EARLIEST:
        return {p: (o, "") for p, o in cluster.offsets(positions, "earliest").items()}
    if kind == ResetType.TO_LATEST:
        return {p: (o, "") for p, o in cluster.offsets(positions, "latest").items()}
    if kind == ResetType.TO_CURRENT:
        # Like Kafka: a partition without a committed offset goes to its log end.
        uncommitted = [p for p in positions if p not in committed]
        latest = cluster.offsets(uncommitted, "latest") if uncommitted else {}
        return {
            p: (committed[p], "") if p in committed else (latest[p], "no committed offset; latest used")
            for p in positions
        }
    if kind == ResetType.TO_DATETIME:
        return _by_timestamp(positions, parse_datetime(spec.value), cluster)
    if kind == ResetType.BY_DURATION:
        since = datetime.now().astimezone() - parse_duration(spec.value)
        return _by_timestamp(positions, int(since.timestamp() * 1000), cluster)
    if kind == ResetType.TO_OFFSET:
        return _clamp(dict.fromkeys(positions, parse_offset(spec.value, allow_negative=False)), cluster)
    return _clamp(_shifted(positions, committed, parse_offset(spec.value, allow_negative=True)), cluster)


def _shifted(positions: list[Position], committed: dict[Position, int], shift: int) -> dict[Position, int]:
    without = [f"{t}[{p}]" for t, p in positions if (t, p) not in committed]
    if without:
        raise ResetError(f"cannot shift {', '.join(without)}: the group has no committed offset there")
    return {position: committed[position] + shift for position in positions}


def plan_reset(
    spec: ResetSpec, cluster: ClusterSettings | None = None, admin: kafka.AdminClient | None = None
) -> ResetPlan:
    """The preview: per partition the committed offset and the offset Kafka's tool would set."""
    spec.validate_value()
    reads = _Cluster(cluster, admin)
    committed = resettable_group(spec.group_id, cluster, admin=reads.admin)
    positions = _positions(spec, committed, reads)
    new = _new_offsets(spec, positions, committed, reads)
    ends = reads.offsets(positions, "latest")  # for the lag before and after, shown beside each partition
    partitions = tuple(PartitionPlan(t, p, committed.get((t, p)), *new[(t, p)], end=ends[(t, p)]) for t, p in positions)
    return ResetPlan(spec, partitions, group_state="EMPTY")


# --- applying ------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionOutcome:
    topic: str
    partition: int
    before: int | None
    planned: int
    after: int | None
    error: str = ""  # empty when the broker accepted the new offset


@dataclass(frozen=True)
class ApplyResult:
    partitions: tuple[PartitionOutcome, ...]

    @property
    def status(self) -> str:
        failed = sum(1 for p in self.partitions if p.error)
        if not failed:
            return "applied"
        return "failed" if failed == len(self.partitions) else "partially_applied"

    def summary(self) -> str:
        failed = [p for p in self.partitions if p.error]
        if not failed:
            return f"{len(self.partitions)} partition(s) reset"
        return f"{len(failed)} of {len(self.partitions)} partition(s) NOT reset: " + "; ".join(
            f"{p.topic}[{p.partition}]: {p.error}" for p in failed
        )


def recheck(
    plan: ResetPlan, cluster: ClusterSettings | None = None, admin: kafka.AdminClient | None = None
) -> dict[Position, int]:
    """Just before applying: the group is still empty and nobody committed since the preview."""
    committed = resettable_group(plan.spec.group_id, cluster, admin=admin)
    moved = [
        f"{t}[{p}] {current if current is not None else '-'} -> {committed.get((t, p), '-')}"
        for (t, p), current in plan.current_offsets.items()
        if committed.get((t, p)) != current
    ]
    if moved:
        raise PlanOutdated("committed offsets changed since the preview (" + "; ".join(moved) + "); preview again")
    return committed


def apply_plan(
    plan: ResetPlan, cluster: ClusterSettings | None = None, admin: kafka.AdminClient | None = None
) -> ApplyResult:
    """Commit exactly the previewed offsets, after a fresh check; report every partition."""
    admin = admin or kafka.admin_client(cluster)
    before = recheck(plan, cluster, admin=admin)
    outcome = kafka.alter_committed_offsets(plan.spec.group_id, plan.new_offsets, cluster, admin=admin)
    after_all, _ = kafka.committed_offsets([plan.spec.group_id], cluster, admin=admin)
    after = after_all.get(plan.spec.group_id, {})
    return ApplyResult(
        tuple(
            PartitionOutcome(
                p.topic,
                p.partition,
                before.get((p.topic, p.partition)),
                p.new,
                after.get((p.topic, p.partition)),
                _error_text(outcome.get((p.topic, p.partition))),
            )
            for p in plan.partitions
        )
    )


def _error_text(error: kafka.KafkaClientError | None) -> str:
    if error is None:
        return ""
    if error.code == "UNKNOWN_MEMBER_ID":
        return "UNKNOWN_MEMBER_ID: a consumer joined the group; the broker refused the reset of this partition"
    return f"{error.code or 'error'}: {error}"
