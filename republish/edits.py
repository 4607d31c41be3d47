"""Checking an operator's edit of a value and headers before an edited republish.

The form starts from the record's exact text, never a re-serialised copy: a
JSON round trip through floats turns "100.10" into 100.1, and a billing event
must not change anywhere the operator did not touch. The row keeps the
original bytes; the edit lives on the Replay and the audit shows the diff of
the texts as written.

A value in the Schema Registry's wire format (Avro, JSON Schema, Protobuf) that decodes is edited
as its decoded JSON instead, checked against the subject's latest schema and the record's own, and
re-encoded through kafka.wire; one that does not decode (the registry unreachable, an unknown
schema id) is never edited, so never sent unchecked. Untouched, the stored bytes go out as they were.
"""

from __future__ import annotations

import difflib
import json
import re
from binascii import a2b_base64, b2a_base64
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from deadletter import header_codec
from opsportal import kafka

from .headers import REPLAY_HEADERS, business_headers
from .publish import Edit


class EditRejected(ValueError):
    """The edit is not acceptable; the message tells the operator what to fix (field: the form field)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# Deeper than this an edit is refused: Python's parser recurses per level (a RecursionError at
# about 1,000), and no billing event nests more than a few levels.
MAX_DEPTH = 200
# Deeper than this a stored value is shown as stored, not laid out (its indentation would be huge).
PRETTY_DEPTH = 40


def _parse_json(text: str | bytes) -> Any:
    # Decimal and str keep every number as written; only validity is asked here.
    return json.loads(text, parse_float=Decimal, parse_int=str)


def json_depth(text: str) -> int:
    """How deep brackets nest outside strings, without recursing (safe on hostile input)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def is_json(value: bytes | None) -> bool:
    if value is None:
        return False
    try:
        _parse_json(value)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return True


def meant_as_json(value: bytes | None) -> bool:
    """JSON, or text that starts like JSON and failed to parse: the usual deserialization failure."""
    return value is not None and (value.lstrip()[:1] in (b"{", b"[") or is_json(value))


# JSON text cut into tokens, and so text that starts like JSON and fails to parse: each of []{},:
# alone, a run of whitespace, a string from its quote to the matching unescaped one or, unclosed, to
# the end (single-quoted too: a common malformation, and whitespace in it is data), and a run of
# anything else (a number, a literal, an unquoted key). Joined, the tokens are the text again.
_TOKEN = re.compile(
    r"""[\[\]{},:]|[ \t\r\n]+"""
    r"""|"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\)?|'[^'\\]*(?:\\.[^'\\]*)*(?:'|\\)?"""
    r"""|[^\[\]{},: \t\r\n"']+""",
    re.DOTALL,
)
_OPENING, _CLOSING, _STRUCTURE = ("[", "{"), ("]", "}"), "[]{},:"


def pretty(text: str) -> str:
    """JSON text laid out one member per line, every token kept exactly as written.

    Only whitespace between tokens changes, never a string or a number: "100.10" stays "100.10"
    (a json round trip would not). Text that starts like JSON and fails to parse is laid out the
    same way, leniently: its strings are kept whole, even unclosed; a bracket left open just ends
    the text; values that whitespace parted (an unquoted `two words`) stay parted by a space.
    Deeper than PRETTY_DEPTH, the text is returned as it is.
    """
    if json_depth(text) > PRETTY_DEPTH:
        return text
    out: list[str] = []
    depth, previous, gap = 0, "", False
    for token in _TOKEN.findall(text):
        if token[0] in " \t\r\n":
            gap = True
            continue
        if token in _CLOSING:
            depth = max(depth - 1, 0)
        out.append(_separator(previous, token, gap, depth) + token)
        if token in _OPENING:
            depth += 1
        previous, gap = token, False
    return "".join(out)


def _separator(previous: str, token: str, gap: bool, depth: int) -> str:
    """What goes before a token: a new line before a member, a closing bracket (none in an empty
    [] or {}) and anything after the outermost one closed (trailing garbage); a space after a colon
    and between two values whitespace parted; else nothing."""
    if token in _CLOSING:
        return "" if previous in ("", *_OPENING) else "\n" + "  " * depth
    if previous in (*_OPENING, ",") or (depth == 0 and previous in _CLOSING):
        return "\n" + "  " * depth
    if previous == ":":
        return " "
    parted = gap and previous and previous not in "[{,:" and token not in ",:"
    return " " if parted else ""


def _minified(text: str) -> str:
    """Whitespace outside strings removed: a laid-out edit sent in the compact shape events travel in."""
    out, in_string, escaped = [], False, False
    for char in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char in " \t\r\n":
            continue
        else:
            in_string = char == '"'
        out.append(char)
    return "".join(out)


def check_json(text: str, what: str = "the edited value", malformed: str = "is not valid JSON") -> None:
    """Refused with the parser's own line and column (of the text in the editor)."""
    if json_depth(text) > MAX_DEPTH:
        raise EditRejected(f"{what} nests deeper than {MAX_DEPTH} levels", "value")
    try:
        parsed = _parse_json(text)
        json.dumps(parsed, ensure_ascii=False, default=str).encode()
    except json.JSONDecodeError as exc:
        raise EditRejected(f"{what} {malformed}: {_where(exc)}", "value") from None
    except UnicodeEncodeError:
        raise EditRejected(f"{what} holds a lone surrogate (such as \\ud800): not Unicode text", "value") from None
    except (ValueError, RecursionError) as exc:
        raise EditRejected(f"{what} {malformed}: {exc}", "value") from None


def _where(exc: json.JSONDecodeError) -> str:
    """The parser's complaint and where: "Unterminated string starting at line 3, column 9"."""
    return f"{exc.msg.removesuffix(' at')} at line {exc.lineno}, column {exc.colno}"


def stored_value_problem(value: bytes | None) -> str:
    """Why the stored value, meant as JSON, is not JSON (line and column of its laid-out text), or ""."""
    if not meant_as_json(value) or value is None:
        return ""
    try:
        check_json(pretty(editable_text(value)), "the stored value")  # as the editor shows it
    except EditRejected as exc:
        return str(exc)
    return ""


def editable_text(value: bytes | None) -> str:
    """The value exactly as stored, for the form; refused when it is not UTF-8 text."""
    if value is None:
        return ""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise EditRejected(
            "the value is binary (not UTF-8 text): it can be republished as it is, but not edited here"
        ) from None


def wire_value(value: bytes | None) -> kafka.Decoded | None:
    """The value decoded through the Schema Registry; None when it is not in the wire format (or the
    registry is off). Refused when it is in the wire format but does not decode: never edited unchecked."""
    decoded = kafka.wire.decode(value)
    if decoded is None:
        return None
    if not decoded.decoded:
        raise EditRejected(
            "the value is in the Schema Registry's wire format but could not be decoded "
            f"({decoded.detail or decoded.reason}): it can be republished as it is, but not edited here",
            "value",
        )
    return decoded


def editor_text(value: bytes | None, decoded: kafka.Decoded | None = None) -> str:
    """What the editor opens with: a decoded wire-format value as JSON, JSON (or text meant as JSON)
    laid out, anything else as stored."""
    if decoded is not None:
        return decoded.pretty()
    text = editable_text(value)
    return pretty(text) if meant_as_json(value) else text


def _header_text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise EditRejected("a header value is binary (not UTF-8 text): this record cannot be edited here") from None


def parse_headers(text: str) -> list[tuple[str, bytes | None]]:
    """Headers as a JSON list of [name, text-or-null] pairs, the form's format."""
    if json_depth(text) > MAX_DEPTH:
        raise EditRejected(f"headers nest deeper than {MAX_DEPTH} levels", "headers")
    try:
        pairs = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise EditRejected(
            f"headers must be a JSON list of [name, value] pairs: {_where(exc)}",
            "headers",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise EditRejected(f"headers must be a JSON list of [name, value] pairs: {exc}", "headers") from None
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and (p[1] is None or isinstance(p[1], str))
        for p in pairs
    ):
        raise EditRejected('headers must be a JSON list of [name, value] pairs, e.g. [["trace-id", "abc"]]', "headers")
    reserved = sorted({name for name, _ in pairs if name in REPLAY_HEADERS})
    if reserved:
        raise EditRejected(f"{', '.join(reserved)} are set by the portal on every republish; remove them", "headers")
    try:
        return [(name, None if value is None else value.encode()) for name, value in pairs if name.encode() or True]
    except UnicodeEncodeError:
        raise EditRejected(
            "a header name or value holds a lone surrogate (such as \\ud800): not Unicode text", "headers"
        ) from None


def headers_as_text(headers: list[tuple[str, bytes | None]]) -> str:
    return json.dumps(
        [[name, None if value is None else _header_text(value)] for name, value in headers],
        indent=2,
        ensure_ascii=False,
    )


def _value_bytes(original_value: bytes | None, original_text: str, value_text: str) -> bytes | None:
    if value_text in (original_text, pretty(original_text)) and (original_value is not None or value_text):
        return original_value  # untouched (as stored or as laid out): every byte as it was
    if original_value is None and value_text == "":
        return None  # a null value left untouched stays null (a tombstone is not an empty value)
    if meant_as_json(original_value) and "\n" not in original_text.strip() and "\n" in value_text.strip():
        value_text = _minified(value_text)  # the laid-out editor text goes out as compact as it came
    try:
        return value_text.encode()
    except UnicodeEncodeError:
        raise EditRejected("the value holds a lone surrogate: not Unicode text", "value") from None


def value_subject(decoded: kafka.Decoded, target_topic: str) -> str:
    """The subject an edit is checked against: the record's schema's "-value" subject (the target
    topic's, when the schema is registered under several), else the target topic's value subject."""
    subjects = [version.subject for version in decoded.subjects if version.subject.endswith("-value")]
    if f"{target_topic}-value" in subjects:
        return f"{target_topic}-value"
    if subjects:
        return subjects[0]
    try:
        names = kafka.registry.subject_names(target_topic) if target_topic else None
    except kafka.RegistryError as exc:
        raise EditRejected(f"the edit cannot be checked against a schema: {exc}", "value") from None
    if names is None:
        raise EditRejected(
            f"schema id {decoded.schema_id} is under no value subject, and the subject strategy does not name "
            f"one for {target_topic or 'the target topic'}: the edit cannot be checked against a schema",
            "value",
        )
    return names[1]


def check_schema_edit(
    decoded: kafka.Decoded,
    original_headers: Sequence[tuple[str, bytes | None]],
    value_text: str,
    headers_text: str,
    target_topic: str,
) -> tuple[Edit, kafka.Encoded | None]:
    """An edit of a decoded wire-format value: checked against the schema and re-encoded (None: untouched,
    the stored bytes are sent). Refused with the field's path when the schema does not accept it."""
    original_text = decoded.pretty()
    value_text = value_text.replace("\r\n", "\n")
    encoded: kafka.Encoded | None = None
    if value_text.strip() == original_text.strip():
        value = decoded.raw  # untouched: every byte as it was
    else:
        check_json(value_text)
        edited = json.loads(value_text)
        subject = value_subject(decoded, target_topic)
        result = kafka.wire.encode(
            edited, subject=subject, schema_id=decoded.schema_id, record_name=decoded.record_name
        )
        if isinstance(result, kafka.Refused):
            raise EditRejected(f"not accepted by the schema of {subject}: {result}", "value")
        encoded, value = result, result.data
    headers = parse_headers(headers_text)
    kept = business_headers(original_headers)
    schema = (f"schema id {decoded.schema_id}", f"schema id {encoded.schema_id if encoded else decoded.schema_id}")
    return Edit(
        value=value, headers=headers, diff=edit_diff(original_text, value_text, kept, headers, schema=schema)
    ), encoded


def check_edit(
    original_value: bytes | None,
    original_headers: Sequence[tuple[str, bytes | None]],
    value_text: str,
    headers_text: str,
    *,
    decoded: kafka.Decoded | None = None,
    target_topic: str = "",
) -> Edit:
    if decoded is not None:
        return check_schema_edit(decoded, original_headers, value_text, headers_text, target_topic)[0]
    original_text = editable_text(original_value)
    if "\r" not in original_text:
        value_text = value_text.replace("\r\n", "\n")  # browsers send a textarea's lines with CRLF
    if meant_as_json(original_value):
        if value_text in (original_text, pretty(original_text)):
            check_json(value_text, "the value", "is unchanged and still malformed JSON")
        else:
            check_json(value_text)
    value = _value_bytes(original_value, original_text, value_text)
    headers = parse_headers(headers_text)
    kept = business_headers(original_headers)
    laid_out = meant_as_json(original_value)
    return Edit(value=value, headers=headers, diff=edit_diff(original_text, value_text, kept, headers, laid_out))


def edit_diff(
    original_text: str,
    value_text: str,
    original_headers: list[tuple[str, bytes | None]],
    headers: list[tuple[str, bytes | None]],
    laid_out: bool = True,
    schema: tuple[str, str] | None = None,
) -> str:
    """A line-by-line diff of both sides laid out (JSON): one changed member is one changed line.
    `schema`: the schema each side is encoded with (a wire-format value), a line above each."""
    before = [*_diff_lines(original_text, laid_out), "--- headers ---", *headers_as_text(original_headers).splitlines()]
    after = [*_diff_lines(value_text, laid_out), "--- headers ---", *headers_as_text(headers).splitlines()]
    if schema is not None:
        before, after = [f"=== {schema[0]} ===", *before], [f"=== {schema[1]} ===", *after]
    return "\n".join(difflib.unified_diff(before, after, "original", "edited", lineterm=""))


def _diff_lines(text: str, laid_out: bool) -> list[str]:
    """One side's lines, laid out as the editor shows it (malformed too, so a fixed trailing comma
    is one changed line)."""
    return pretty(text).splitlines() if laid_out else text.splitlines()


def diff_rows(diff: str) -> list[tuple[str, str]]:
    """The diff's lines with a class each, for the page: removed, added, hunk or context."""
    kinds = {"-": "removed", "+": "added", "@": "hunk"}
    return [(kinds.get(line[:1], "context"), line) for line in diff.splitlines() if line[:3] not in ("---", "+++")]


def edit_to_json(edit: Edit | None) -> dict[str, Any]:
    """An edit as a job keeps it until it runs (the headers in the dead-letter storage format)."""
    if edit is None:
        return {}
    return {
        "value": None if edit.value is None else b2a_base64(edit.value, newline=False).decode("ascii"),
        "headers": header_codec.encode(edit.headers),
        "diff": edit.diff,
    }


def edit_from_json(data: dict[str, Any]) -> Edit | None:
    if not data:
        return None
    value = None if data["value"] is None else a2b_base64(data["value"])
    return Edit(value=value, headers=header_codec.decode(data["headers"]), diff=data["diff"])
