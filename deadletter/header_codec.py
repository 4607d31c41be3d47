"""The one codec for stored record headers.

Headers are stored as JSON `[[name, base64 value or null], ...]` in record order: names
stay readable, any bytes survive, and null stays distinct from empty. Every reader and
writer of that format (the drain, the record page, republish, a job's saved edit) goes
through here.
"""

from __future__ import annotations

import functools
import json
from binascii import a2b_base64, b2a_base64
from collections.abc import Sequence

Header = tuple[str, bytes | None]
Stored = list[list[str | None]]  # what the JSON column holds once decoded



def encode(headers: Sequence[Header]) -> Stored:
    """Headers as the JSON column stores them."""
    return [
        [name, None if value is None else b2a_base64(value, newline=False).decode("ascii")] for name, value in headers
    ]


def decode(stored: Sequence[Sequence[str | None]]) -> list[Header]:
    """The stored form back to (name, bytes or None) pairs, in order."""
    # binascii directly: base64.b64decode's argument checks cost more than the decoding.
    return [(str(name), None if value is None else a2b_base64(value)) for name, value in stored]


def encode_json(headers: Sequence[Header], names: tuple[str, ...]) -> str:
    """The same text as json.dumps(encode(...), separators=(",", ":")), with `names` written
    in place of the headers' own names; written directly because the drain does it for
    every record and json.dumps of the whole list costs several times more."""
    openings = _openings(names)
    parts = [
        f'{opening}"{b2a_base64(value, newline=False).decode("ascii")}"]' if value is not None else f"{opening}null]"
        for opening, (_, value) in zip(openings, headers, strict=True)
    ]
    return f"[{','.join(parts)}]"


@functools.lru_cache(maxsize=1024)  # one entry per distinct list of header names
def _openings(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"[{json.dumps(name)}," for name in names)
