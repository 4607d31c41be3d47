"""Read where a dead-letter record came from and why it failed, whoever wrote it.

Each producer family has its own header names and encodings (../shared/DLQ-CONVENTIONS.md).
The family is chosen by marker headers, never by the length of a value: an
8-character decimal string and an 8-byte big-endian long look alike by length.

Nothing here raises: a value that cannot be read is noted in `Decoded.errors`
and the record is still stored with its raw bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from opsportal import replay_headers

Headers = Sequence[tuple[str, bytes | None]]

BILLING = "billing"
SPRING_KAFKA = "spring-kafka"
SPRING_RETRY = "spring-retry-topic"
SPRING_CLOUD_STREAM = "spring-cloud-stream"
KAFKA_CONNECT = "kafka-connect"
KAFKA_STREAMS = "kafka-streams"
SMALLRYE = "smallrye"
KARAFKA = "karafka"
UNKNOWN = "unknown"

REPLAY_ID_HEADER = replay_headers.REPLAY_ID


@dataclass(slots=True)
class Decoded:
    convention: str = UNKNOWN
    original_topic: str = ""
    original_partition: int | None = None
    original_offset: int | None = None
    original_timestamp_ms: int | None = None
    consumer_group: str = ""
    error_type: str = ""
    error_message: str = ""
    stack_trace: str = ""
    retry_count: int | None = None
    failed_at: datetime | None = None
    replay_id: uuid.UUID | None = None
    errors: list[str] = field(default_factory=list)
    # Spring's cause class (<prefix>exception-cause-fqcn): the error type when the exception is a wrapper.
    error_cause: str = ""


class _Names:
    """Where each header name first and last occurs: the first is the true origin, the last the latest hop."""

    __slots__ = ("first", "last")

    def __init__(self, names: Sequence[str]) -> None:
        self.first: dict[str, int] = {}
        self.last: dict[str, int] = {}
        for at, name in enumerate(names):
            if name not in self.first:
                self.first[name] = at
            self.last[name] = at

    def __contains__(self, name: str) -> bool:
        return name in self.first

    def has_prefix(self, prefix: str) -> bool:
        return any(name.startswith(prefix) for name in self.first)


# --- value readers: each takes (bytes | None, errors, name) and never raises ----------------


def _text(value: bytes | None, errors: list[str], name: str) -> str:
    if value is None:
        return ""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        errors.append(f"{name}: not UTF-8, shown with replacement characters")
        text = value.decode("utf-8", "replace")
    return clean_text(text)


def clean_text(text: str) -> str:
    """PostgreSQL text cannot hold NUL; the raw bytes stay on the row, the decoded text loses it."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _decimal(value: bytes | None, errors: list[str], name: str) -> int | None:
    """Decimal text; -1 means unknown in Kafka Connect's headers."""
    if value is None:
        return None
    text = _text(value, errors, name).strip()
    try:
        number = int(text, 10)
    except ValueError:
        errors.append(f"{name}: {text[:40]!r} is not a decimal number")
        return None
    return None if number == -1 else number


def _fixed_int(size: int) -> Callable[[bytes | None, list[str], str], int | None]:
    """Java's big-endian int (4 bytes) or long (8 bytes), as Spring writes them."""

    def read(value: bytes | None, errors: list[str], name: str) -> int | None:
        if value is None:
            return None
        if len(value) != size:
            errors.append(f"{name}: expected a {size}-byte big-endian integer, got {len(value)} bytes")
            return None
        return int.from_bytes(value, "big", signed=True)

    return read


_int32 = _fixed_int(4)
_int64 = _fixed_int(8)


def _attempts(value: bytes | None, errors: list[str], name: str) -> int | None:
    """retry_topic-attempts: a 4-byte int, or one byte in Spring Kafka before 2.8."""
    if value is not None and len(value) == 1:
        return value[0]
    return _int32(value, errors, name)


def _big_integer(value: bytes | None, errors: list[str], name: str) -> int | None:
    """Java BigInteger.toByteArray(): two's complement, big-endian, as few bytes as needed."""
    if not value:
        if value is not None:
            errors.append(f"{name}: empty BigInteger")
        return None
    return int.from_bytes(value, "big", signed=True)


def _iso_time(value: bytes | None, errors: list[str], name: str) -> datetime | None:
    if value is None:
        return None
    text = _text(value, errors, name).strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors.append(f"{name}: {text[:40]!r} is not an ISO-8601 time")
        return None
    if moment.tzinfo is None:
        errors.append(f"{name}: no time zone, read as UTC")
        moment = moment.replace(tzinfo=UTC)
    return moment


# --- one decoder per family ------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """Which header carries each decoded field, and how its bytes are encoded."""

    convention: str
    origin: dict[str, tuple[str, Callable]]  # field -> (header, reader); read from the first occurrence
    error: dict[str, tuple[str, Callable]]  # field -> (header, reader); read from the last occurrence
    # Spring's DeadLetterPublishingRecoverer writes a key-deserialization failure under other names
    # (kafka_dlt-key-exception-*) and no value ones: field -> (header, reader), used instead of `error`'s
    # for those fields when the key variant was written last (see _error_table).
    key_error: dict[str, tuple[str, Callable]] = field(default_factory=dict)

    def readers(self) -> dict[str, Callable]:
        tables = (self.origin, self.error, self.key_error)
        return {header: reader for table in tables for header, reader in table.values()}


def _spring_family(convention: str, origin_prefix: str, exception_prefix: str, key_exceptions: bool) -> Family:
    """Spring Kafka's recoverer names; `key_exceptions`: it also writes <prefix>key-exception-* for keys
    that failed to deserialize (the cause class goes to <prefix>exception-cause-fqcn either way)."""
    return Family(
        convention,
        origin={
            "original_topic": (f"{origin_prefix}topic", _text),
            "original_partition": (f"{origin_prefix}partition", _int32),
            "original_offset": (f"{origin_prefix}offset", _int64),
            "original_timestamp_ms": (f"{origin_prefix}timestamp", _int64),
            "consumer_group": (f"{origin_prefix}consumer-group", _text),
        },
        error={
            "error_type": (f"{exception_prefix}exception-fqcn", _text),
            "error_message": (f"{exception_prefix}exception-message", _text),
            "stack_trace": (f"{exception_prefix}exception-stacktrace", _text),
            "error_cause": (f"{exception_prefix}exception-cause-fqcn", _text),
        },
        key_error={
            "error_type": (f"{exception_prefix}key-exception-fqcn", _text),
            "error_message": (f"{exception_prefix}key-exception-message", _text),
            "stack_trace": (f"{exception_prefix}key-exception-stacktrace", _text),
        }
        if key_exceptions
        else {},
    )


BILLING_FAMILY = Family(
    BILLING,
    origin={
        "original_topic": ("x-original-topic", _text),
        "original_partition": ("x-original-partition", _decimal),
        "original_offset": ("x-original-offset", _decimal),
        "original_timestamp_ms": ("x-original-timestamp", _decimal),
        "consumer_group": ("x-consumer-group", _text),
    },
    error={
        "error_type": ("x-error-type", _text),
        "error_message": ("x-error-message", _text),
        "stack_trace": ("x-error-stack", _text),
        "retry_count": ("x-retry-count", _decimal),
        "failed_at": ("x-failed-at", _iso_time),
    },
)
SPRING_KAFKA_FAMILY = _spring_family(SPRING_KAFKA, "kafka_dlt-original-", "kafka_dlt-", key_exceptions=True)
SPRING_CLOUD_STREAM_FAMILY = _spring_family(SPRING_CLOUD_STREAM, "x-original-", "x-", key_exceptions=False)
# @RetryableTopic's recoverer: kafka_key-exception-* for keys (DeadLetterPublishingRecovererFactory).
_retry = _spring_family(SPRING_RETRY, "kafka_original-", "kafka_", key_exceptions=True)
SPRING_RETRY_FAMILY = Family(
    SPRING_RETRY,
    origin=_retry.origin,
    error=_retry.error | {"retry_count": ("retry_topic-attempts", _attempts)},
    key_error=_retry.key_error,
)
KAFKA_CONNECT_FAMILY = Family(
    KAFKA_CONNECT,
    origin={
        "original_topic": ("__connect.errors.topic", _text),
        "original_partition": ("__connect.errors.partition", _decimal),
        "original_offset": ("__connect.errors.offset", _decimal),
    },
    error={
        "error_type": ("__connect.errors.exception.class.name", _text),
        "error_message": ("__connect.errors.exception.message", _text),
        "stack_trace": ("__connect.errors.exception.stacktrace", _text),
    },
)
KAFKA_STREAMS_FAMILY = Family(
    KAFKA_STREAMS,
    origin={
        "original_topic": ("__streams.errors.topic", _text),
        "original_partition": ("__streams.errors.partition", _decimal),
        "original_offset": ("__streams.errors.offset", _decimal),
    },
    error={
        "error_type": ("__streams.errors.exception", _text),
        "error_message": ("__streams.errors.message", _text),
        "stack_trace": ("__streams.errors.stacktrace", _text),
    },
)
SMALLRYE_FAMILY = Family(
    SMALLRYE,
    origin={
        "original_topic": ("dead-letter-topic", _text),
        "original_partition": ("dead-letter-partition", _decimal),
        "original_offset": ("dead-letter-offset", _decimal),
    },
    error={
        "error_type": ("dead-letter-exception-class-name", _text),
        "error_message": ("dead-letter-reason", _text),
    },
)
KARAFKA_FAMILY = Family(
    KARAFKA,
    origin={
        "original_topic": ("source_topic", _text),
        "original_partition": ("source_partition", _decimal),
        "original_offset": ("source_offset", _decimal),
        "consumer_group": ("source_consumer_group", _text),
    },
    error={},
)
UNKNOWN_FAMILY = Family(UNKNOWN, origin={}, error={})

# Extra readers for headers a family carries beside its decoded fields (for the headers table).
_EXTRA_READERS: dict[str, dict[str, Callable]] = {
    SPRING_RETRY: {
        "retry_topic-original-timestamp": _big_integer,
        "retry_topic-backoff-timestamp": _big_integer,
        "kafka_dlt-original-partition": _int32,
        "kafka_dlt-original-offset": _int64,
        "kafka_dlt-original-timestamp": _int64,
    },
}


def choose_family(headers: _Names) -> Family:
    """By marker headers, most specific first (billing and Spring Cloud Stream share x-original-*)."""
    if "x-error-type" in headers:
        return BILLING_FAMILY
    if "x-exception-fqcn" in headers:
        return SPRING_CLOUD_STREAM_FAMILY
    if headers.has_prefix("retry_topic-") or "kafka_original-topic" in headers:
        return SPRING_RETRY_FAMILY
    if (
        "kafka_dlt-original-topic" in headers
        or "kafka_dlt-exception-fqcn" in headers
        or "kafka_dlt-key-exception-fqcn" in headers
    ):
        return SPRING_KAFKA_FAMILY
    if headers.has_prefix("__connect.errors."):
        return KAFKA_CONNECT_FAMILY
    if headers.has_prefix("__streams.errors."):
        return KAFKA_STREAMS_FAMILY
    if headers.has_prefix("dead-letter-"):
        return SMALLRYE_FAMILY
    if "source_topic" in headers:
        return KARAFKA_FAMILY
    return UNKNOWN_FAMILY


FAMILIES = {
    family.convention: family
    for family in (
        BILLING_FAMILY,
        SPRING_KAFKA_FAMILY,
        SPRING_RETRY_FAMILY,
        SPRING_CLOUD_STREAM_FAMILY,
        KAFKA_CONNECT_FAMILY,
        KAFKA_STREAMS_FAMILY,
        SMALLRYE_FAMILY,
        KARAFKA_FAMILY,
        UNKNOWN_FAMILY,
    )
}


# What the database columns hold: a value outside is an error on the row, never a failed insert.
_INT_LIMITS = {
    "original_partition": 2**31,
    "retry_count": 2**31,
    "original_offset": 2**63,
    "original_timestamp_ms": 2**63,
}


# (attribute, index of the header it is read from, reader, header name, integer limit or None)
_Step = tuple[str, int, Callable, str, int | None]


@dataclass(frozen=True)
class _Plan:
    """Everything decoding needs that depends on the header names alone: the family and where
    each field is read from. Records of one producer carry the same names in the same order,
    so the plan is worked out once per distinct name list, not once per record."""

    convention: str
    steps: tuple[_Step, ...]
    # Spring retry topic at its DLT hop: the kafka_dlt-* steps, used when kafka_original-topic is blank.
    fallback: tuple[_Step, ...]
    # SmallRye has no stack trace: (index of the last cause class name, of the last cause), or None.
    cause: tuple[int | None, int | None] | None
    replay_at: int | None


def _error_table(family: Family, names: _Names) -> dict[str, tuple[str, Callable]]:
    """The value variant of the error headers, or the key variant where Spring wrote that one last.

    For a key that failed to deserialize Spring writes only kafka_dlt-key-exception-{fqcn,message,
    stacktrace} (plus the shared kafka_dlt-exception-cause-fqcn, which is no value variant). With both
    key and value failing it writes the key variant, then the value one: the value one is read. A record
    dead-lettered again keeps the other variant of an earlier hop, so the one written last is the latest.
    """
    if not family.key_error:
        return family.error

    def written_last(table: dict[str, tuple[str, Callable]]) -> int:
        return max((names.last[header] for header, _ in table.values() if header in names), default=-1)

    value_variant = {attribute: family.error[attribute] for attribute in family.key_error}
    if written_last(family.key_error) > written_last(value_variant):
        return family.error | family.key_error
    return family.error


def _steps(family: Family, names: _Names) -> tuple[_Step, ...]:
    origin = [(a, names.first[n], reader, n) for a, (n, reader) in family.origin.items() if n in names]
    error = [(a, names.last[n], reader, n) for a, (n, reader) in _error_table(family, names).items() if n in names]
    return tuple((*step, _INT_LIMITS.get(step[0])) for step in origin + error)


@functools.lru_cache(maxsize=1024)  # bounded: a producer writing random header names cannot grow it
def _plan(names: tuple[str, ...]) -> _Plan:
    indexed = _Names(names)
    family = choose_family(indexed)
    fallback: tuple[_Step, ...] = ()
    if family is SPRING_RETRY_FAMILY and "kafka_dlt-original-topic" in indexed:
        fallback = _steps(SPRING_KAFKA_FAMILY, indexed)
    cause = None
    if family is SMALLRYE_FAMILY:
        cause = (indexed.last.get("dead-letter-cause-class-name"), indexed.last.get("dead-letter-cause"))
    return _Plan(family.convention, _steps(family, indexed), fallback, cause, indexed.last.get(REPLAY_ID_HEADER))


def _run(steps: tuple[_Step, ...], headers: Headers, result: Decoded) -> None:
    errors = result.errors
    for attribute, at, reader, name, limit in steps:
        value = reader(headers[at][1], errors, name)
        # What the database columns hold: a value outside is an error on the row, never a failed insert.
        if limit is not None and value is not None and not -limit <= value < limit:
            errors.append(f"{name}: {value} is out of range")
            continue
        setattr(result, attribute, value)


def _smallrye_cause(cause: tuple[int | None, int | None], headers: Headers, result: Decoded) -> None:
    """SmallRye has no stack trace; its cause class and message are the next best thing."""
    class_at, cause_at = cause
    cause_class = _text(
        None if class_at is None else headers[class_at][1], result.errors, "dead-letter-cause-class-name"
    )
    text = _text(None if cause_at is None else headers[cause_at][1], result.errors, "dead-letter-cause")
    if cause_class or text:
        result.stack_trace = f"Caused by: {cause_class}: {text}".strip()


# Exceptions Spring wraps the listener's own in: their class says nothing about the failure, so the
# error type (and the fingerprint) is the cause class Spring wrote beside it. The wrapper stays visible
# on the record page: first line of the stack trace, and its header among the raw headers.
# DeserializationException is no wrapper: it is the failure itself (its cause header names itself).
SPRING_WRAPPERS = frozenset(
    {
        "org.springframework.kafka.listener.ListenerExecutionFailedException",
    }
)


def _unwrap(result: Decoded) -> None:
    """A known Spring wrapper's error type is replaced by its cause class, when Spring wrote one."""
    cause = result.error_cause.strip()
    if cause and result.error_type.strip() in SPRING_WRAPPERS:
        result.error_type = cause


def _replay_id(value: bytes | None, result: Decoded) -> None:
    """A record the portal republished carries x-replay-id; it came back if it failed again."""
    text = _text(value, result.errors, REPLAY_ID_HEADER).strip()
    try:
        result.replay_id = uuid.UUID(text)
    except ValueError:
        result.errors.append(f"{REPLAY_ID_HEADER}: {text[:40]!r} is not a UUID")


def decode_headers(headers: Headers, names: tuple[str, ...] | None = None) -> Decoded:
    """Decode the dead-letter headers of one record (`names`: their names, if the caller has them). Never raises."""
    result = Decoded()
    try:
        plan = _plan(tuple([name for name, _ in headers]) if names is None else names)
        result.convention = plan.convention
        _run(plan.steps, headers, result)
        if plan.fallback and not result.original_topic:
            _run(plan.fallback, headers, result)
        _unwrap(result)
        if plan.cause is not None:
            _smallrye_cause(plan.cause, headers, result)
        if plan.replay_at is not None:
            _replay_id(headers[plan.replay_at][1], result)
    except Exception as exc:  # noqa: BLE001 - a decoder bug must not stop the drain; it is written on the row
        result.errors.append(f"decoder failed: {type(exc).__name__}: {exc}")
    return result


def describe_header(convention: str, name: str, value: bytes | None, show: Callable[[object], str] = str) -> str:
    """One header's value as its family encodes it, for the record page's headers table
    (`show` writes the decoded value: the page passes the portal's way of showing a time)."""
    if value is None:
        return "null"
    family = FAMILIES.get(convention, UNKNOWN_FAMILY)
    reader = family.readers().get(name) or _EXTRA_READERS.get(convention, {}).get(name) or _text
    errors: list[str] = []
    try:
        decoded = reader(value, errors, name)
    except Exception as exc:  # noqa: BLE001 - display only
        return f"(cannot decode: {exc})"
    shown = "" if decoded is None else show(decoded)
    return f"{shown} ({'; '.join(errors)})" if errors else shown


# --- fingerprint and business fields ---------------------------------------------------------

_VOLATILE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # UUIDs
    r"|\b0x[0-9a-fA-F]+\b"  # hex literals
    r"|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b"  # long hex ids (hashes, object ids)
    r"|\d+(?:\.\d+)?"  # numbers, including the digits of ids such as acc_42
)


def normalise_message(message: str) -> str:
    """The message with numbers and ids replaced, so alike failures group together."""
    return _VOLATILE.sub("#", message[:2000]).strip()[:500]


@functools.lru_cache(maxsize=4096)  # alike failures repeat: most records hit the cache
def fingerprint(error_type: str, message: str) -> tuple[str, str]:
    """(hash, normalised message): the hash groups records that failed the same way."""
    normalised = normalise_message(message)
    digest = hashlib.blake2b(f"{error_type}\n{normalised}".encode("utf-8", "replace"), digest_size=8).hexdigest()
    return digest, normalised


@dataclass(frozen=True, slots=True)
class Business:
    event_id: str = ""
    event_type: str = ""
    account_id: str = ""
    correlation_id: str = ""
    saga_id: str = ""
    transaction_id: str = ""
    amount: str = ""
    currency: str = ""
    is_json: bool = False


def _scalar(value: object) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return clean_text(str(value)[:255])


# Where each field sits in the billing events as the services really write them: the
# envelope nests them (payload.amount, metadata.correlationId), the flat account events
# carry them at the top; an amount may be {"value", "currency"} (a money object).
_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "event_id": (("eventId",),),
    "event_type": (("eventType",),),
    "account_id": (("aggregateId",), ("accountId",), ("payload", "accountId")),
    "correlation_id": (("metadata", "correlationId"), ("correlationId",), ("payload", "correlationId")),
    "saga_id": (("metadata", "sagaId"), ("sagaId",)),
    "transaction_id": (("payload", "transactionId"), ("transactionId",), ("metadata", "transactionId")),
    "amount": (("payload", "amount"), ("amount",), ("payload", "amount", "value"), ("amount", "value")),
    "currency": (("payload", "currency"), ("currency",), ("payload", "amount", "currency"), ("amount", "currency")),
}


def _first(event: dict, paths: tuple[tuple[str, ...], ...]) -> str:
    """The first non-empty scalar at one of these paths."""
    for path in paths:
        node: object = event
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        found = _scalar(node)
        if found:
            return found
    return ""


_JSON_START = re.compile(rb"\s*[{\[]")  # only the leading whitespace is read, not a 1 MiB value
_NOT_JSON = Business()


def read_business(value: bytes | None) -> Business:
    """Event fields from a billing JSON event; anything else leaves them blank. Never raises."""
    if not value or _JSON_START.match(value) is None:  # cheap test before paying for json.loads
        return _NOT_JSON
    try:
        # As json.loads(bytes) does, minus its encoding sniffing: UTF-8 unless the second byte
        # is NUL (UTF-16/32, left to json.loads). The first byte is whitespace, { or [.
        # Decimals stay as written (parse_float=str): an amount is never rounded.
        text = value if value[1:2] == b"\x00" else value.decode("utf-8", "surrogatepass")
        event = json.loads(text, parse_float=str)
    except (ValueError, RecursionError):
        return _NOT_JSON
    if not isinstance(event, dict):
        return Business(is_json=True)
    found = {name: _first(event, paths) for name, paths in _PATHS.items()}
    found["amount"], found["currency"] = found["amount"][:64], found["currency"][:16]
    return Business(**found, is_json=True)
