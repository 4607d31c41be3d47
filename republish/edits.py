"""Checking an operator's edit of a value and headers before an edited republish.

The form starts from the record's exact text, never a re-serialised copy: a
JSON round trip through floats turns "100.10" into 100.1, and a billing event
must not change anywhere the operator did not touch. The row keeps the
original bytes; the edit lives on the Replay and the audit shows the diff of
the texts as written.
"""

from __future__ import annotations

import difflib
import json
from binascii import a2b_base64, b2a_base64
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from deadletter import header_codec

from .headers import REPLAY_HEADERS, business_headers
from .publish import Edit


class EditRejected(ValueError):
    """The edit is not acceptable; the message tells the operator what to fix."""


def _parse_json(text: str | bytes) -> None:
    # Decimal and str keep every number as written; only validity is asked here.
    json.loads(text, parse_float=Decimal, parse_int=str)


def is_json(value: bytes | None) -> bool:
    if value is None:
        return False
    try:
        _parse_json(value)
    except (UnicodeDecodeError, ValueError):
        return False
    return True


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


def _header_text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise EditRejected("a header value is binary (not UTF-8 text): this record cannot be edited here") from None


def parse_headers(text: str) -> list[tuple[str, bytes | None]]:
    """Headers as a JSON list of [name, text-or-null] pairs, the form's format."""
    try:
        pairs = json.loads(text or "[]")
    except ValueError as exc:
        raise EditRejected(f"headers must be a JSON list of [name, value] pairs: {exc}") from None
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and (p[1] is None or isinstance(p[1], str))
        for p in pairs
    ):
        raise EditRejected('headers must be a JSON list of [name, value] pairs, e.g. [["trace-id", "abc"]]')
    reserved = sorted({name for name, _ in pairs if name in REPLAY_HEADERS})
    if reserved:
        raise EditRejected(f"{', '.join(reserved)} are set by the portal on every republish; remove them")
    return [(name, None if value is None else value.encode()) for name, value in pairs]


def headers_as_text(headers: list[tuple[str, bytes | None]]) -> str:
    return json.dumps(
        [[name, None if value is None else _header_text(value)] for name, value in headers],
        indent=2,
        ensure_ascii=False,
    )


def check_edit(
    original_value: bytes | None,
    original_headers: Sequence[tuple[str, bytes | None]],
    value_text: str,
    headers_text: str,
) -> Edit:
    original_text = editable_text(original_value)
    # A null value left untouched stays null (a tombstone is not an empty value).
    value = None if original_value is None and value_text == "" else value_text.encode()
    if is_json(original_value):
        try:
            _parse_json(value_text)
        except ValueError as exc:
            raise EditRejected(f"the original value is JSON; the edited value is not: {exc}") from None
    headers = parse_headers(headers_text)
    kept = business_headers(original_headers)
    before = [*original_text.splitlines(), "--- headers ---", *headers_as_text(kept).splitlines()]
    after = [*value_text.splitlines(), "--- headers ---", *headers_as_text(headers).splitlines()]
    diff = "\n".join(difflib.unified_diff(before, after, "original", "edited", lineterm=""))
    return Edit(value=value, headers=headers, diff=diff)


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
