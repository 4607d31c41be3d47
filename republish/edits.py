"""Checking an operator's edit of a value and headers before an edited republish.

The row keeps the original bytes; the edit lives on the Replay and the audit
entry shows the difference.
"""

from __future__ import annotations

import difflib
import json

from .headers import REPLAY_HEADERS
from .publish import Edit


class EditRejected(ValueError):
    """The edit is not acceptable; the message tells the operator what to fix."""


def is_json(value: bytes | None) -> bool:
    if value is None:
        return False
    try:
        json.loads(value)
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def pretty(value: bytes | None) -> str:
    """The value as an operator edits it: indented JSON when it is JSON, else text."""
    if value is None:
        return ""
    if is_json(value):
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    return value.decode("utf-8", "replace")


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
        [[name, None if value is None else value.decode("utf-8", "replace")] for name, value in headers], indent=2
    )


def check_edit(original_value: bytes | None, original_headers, value_text: str, headers_text: str) -> Edit:
    value = value_text.encode()
    if is_json(original_value) and not is_json(value):
        try:
            json.loads(value_text)
        except ValueError as exc:
            raise EditRejected(f"the original value is JSON; the edited value is not: {exc}") from None
    headers = parse_headers(headers_text)
    return Edit(value=value, headers=headers, diff=diff(original_value, original_headers, value, headers))


def _lines(value: bytes | None, headers) -> list[str]:
    text = "<null>" if value is None else value.decode("utf-8", "replace")
    if is_json(value):
        text = json.dumps(json.loads(value), indent=2, sort_keys=True)
    return [*text.splitlines(), "--- headers ---", *headers_as_text(list(headers)).splitlines()]


def diff(original_value, original_headers, value, headers) -> str:
    return "\n".join(
        difflib.unified_diff(
            _lines(original_value, original_headers), _lines(value, headers), "original", "edited", lineterm=""
        )
    )
