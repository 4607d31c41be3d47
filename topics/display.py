"""How the message browser and the dead-letter page show keys, values and headers; never raise.

Headers are decoded as their producer family writes them (../shared/DLQ-CONVENTIONS.md):
Spring's binary ints where a Spring marker header says so, billing's decimal text as text,
JSON pretty-printed, anything else as UTF-8 text or hex. deadletter/decoders.py decodes the
dead-letter fields for storage; this module only displays, and topics must not import it.
Values in the Schema Registry's wire format are decoded through kafka.wire when a registry is
configured (SCHEMA_REGISTRY_URL); otherwise nothing here reads settings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from opsportal import kafka

VALUE_DISPLAY_LIMIT = 256 * 1024

Headers = Sequence[tuple[str, bytes | None]]

# Spring Kafka, @RetryableTopic and Spring Cloud Stream: 4-byte partitions, 8-byte offsets and timestamps.
_SPRING_INT32_SUFFIXES = ("original-partition",)
_SPRING_INT64_SUFFIXES = ("original-offset", "original-timestamp")
_SPRING_PREFIXES = ("kafka_dlt-", "kafka_original-", "x-original-")
_BIG_INTEGERS = ("retry_topic-original-timestamp", "retry_topic-backoff-timestamp")


@dataclass(frozen=True)
class Shown:
    """A key or value as displayed: kind is null, empty, schema, json, text or hex."""

    kind: str
    text: str
    size: int
    cut: bool = False
    note: str = ""  # the schema a value was decoded with, or why a wire-format value was not


def schema_note(decoded: kafka.Decoded) -> str:
    """ "AVRO, schema id 7, billing.account.events-value v3", or the reason it was not decoded."""
    if not decoded.decoded:
        return f"Schema Registry wire format, not decoded: {decoded.detail or decoded.reason}"
    subjects = ", ".join(f"{s.subject} v{s.version}" for s in decoded.subjects)
    return ", ".join(part for part in (decoded.schema_type, f"schema id {decoded.schema_id}", subjects) if part)


def show(data: bytes | None, limit: int = VALUE_DISPLAY_LIMIT) -> Shown:
    if data is None:
        return Shown("null", "null", 0)
    if not data:
        return Shown("empty", "", 0)
    cut = len(data) > limit
    part = data[:limit]
    decoded = kafka.wire.decode(data)
    if decoded is not None:
        if decoded.decoded:
            return Shown("schema", decoded.pretty(), len(data), note=schema_note(decoded))
        return Shown("hex", hex_dump(part), len(data), cut, note=schema_note(decoded))
    if not cut:
        pretty = _json(part)
        if pretty is not None:
            return Shown("json", pretty, len(data))
    text = _utf8(part, allow_cut_tail=cut)
    if text is not None:
        return Shown("text", text, len(data), cut)
    return Shown("hex", hex_dump(part), len(data), cut)


PREVIEW_LINES = 3
PREVIEW_CHARS = 360


def preview(shown: Shown) -> str:
    """A few lines of a value for a compact row; "" when the whole value is that short already.

    JSON and decoded schema values are folded onto one line (the pretty print is mostly indentation).
    """
    if shown.kind in ("null", "empty"):
        return ""
    lines = shown.text.splitlines()
    if len(lines) <= PREVIEW_LINES and len(shown.text) <= PREVIEW_CHARS:
        return ""
    if shown.kind in ("json", "schema"):
        folded = " ".join(line.strip() for line in lines)
    else:
        folded = "\n".join(lines[:PREVIEW_LINES])
    return folded if len(folded) <= PREVIEW_CHARS else folded[:PREVIEW_CHARS] + "…"


def _json(data: bytes) -> str | None:
    if data[:1] not in (b"{", b"[") and data.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        return json.dumps(json.loads(data), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return None


def _utf8(data: bytes, allow_cut_tail: bool = False) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A cut can split a multi-byte character at the very end: that alone is no reason for hex.
        if not (allow_cut_tail and exc.start >= len(data) - 3):
            return None
        text = data[: exc.start].decode("utf-8")
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\n\r\t")
    return text if printable >= len(text) * 0.95 else None


def hex_dump(data: bytes) -> str:
    """Offset, hex bytes and printable text, 16 bytes a line, like hexdump -C."""
    lines = []
    for start in range(0, len(data), 16):
        chunk = data[start : start + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{start:08x}  {chunk.hex(' '):<47}  |{text}|")
    return "\n".join(lines)


def is_spring(names: Sequence[str]) -> bool:
    """Spring writes x-original-* in binary only beside x-exception-fqcn; billing's are text (x-error-type)."""
    return any(name.startswith(("kafka_dlt-", "kafka_original-", "retry_topic-")) for name in names) or (
        "x-exception-fqcn" in names and "x-error-type" not in names
    )


def describe_header(name: str, value: bytes | None, spring: bool) -> str:
    """One header value for display."""
    if value is None:
        return "null"
    number = _spring_number(name, value) if spring else None
    if number is not None:
        return str(number)
    pretty = _json(value)
    if pretty is not None:
        return pretty
    text = _utf8(value)
    return text if text is not None else f"0x{value.hex()}"


def _spring_number(name: str, value: bytes) -> int | None:
    if name in _BIG_INTEGERS and value:
        return int.from_bytes(value, "big", signed=True)
    if name == "retry_topic-attempts" and len(value) in (1, 4):
        return int.from_bytes(value, "big", signed=len(value) == 4)
    if not name.startswith(_SPRING_PREFIXES):
        return None
    if name.endswith(_SPRING_INT32_SUFFIXES) and len(value) == 4:
        return int.from_bytes(value, "big", signed=True)
    if name.endswith(_SPRING_INT64_SUFFIXES) and len(value) == 8:
        return int.from_bytes(value, "big", signed=True)
    return None


def describe_headers(headers: Headers) -> list[tuple[str, str]]:
    """(name, decoded value) of every header, in order, duplicates kept."""
    spring = is_spring([name for name, _ in headers])
    return [(name, describe_header(name, value, spring)) for name, value in headers]
