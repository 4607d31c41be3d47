"""The stored header format, [[name, base64 or null], ...]: pure functions, no broker, no database."""

from __future__ import annotations

import json

import pytest

from deadletter import header_codec
from deadletter.rows import stored_names
from opsportal import replay_headers
from tests.deadletter import samples

ODD_HEADERS = [
    ("x-error-type", b"InsufficientFundsError"),
    ("empty", b""),
    ("null", None),
    ("binary", bytes(range(256))),
    ("trace", None),
    ("trace", b"again"),  # repeated names stay, in order
    ('quote " and \\ backslash', b"x"),
    ("ünïcödé \u2028 name", "välue".encode()),
    ("control \x01\x1f", b"\x00"),
]
CASES = [ODD_HEADERS, [], samples.billing_headers(), samples.spring_kafka_headers(), samples.kafka_streams_headers()]


@pytest.mark.parametrize("headers", CASES)
def test_headers_read_back_byte_for_byte_with_nulls_and_order_kept(headers):
    stored = json.loads(json.dumps(header_codec.encode(headers)))  # as a JSON column gives it back
    assert header_codec.decode(stored) == list(headers)


@pytest.mark.parametrize("headers", CASES)
def test_the_drains_direct_writer_writes_exactly_what_the_plain_encoder_does(headers):
    names = tuple(name for name, _ in headers)
    expected = json.dumps(header_codec.encode(headers), separators=(",", ":"))
    assert header_codec.encode_json(headers, names) == expected


def test_the_stored_form_is_base64_text_or_null():
    assert header_codec.encode([("a", b"\xff\x00"), ("b", None), ("c", b"")]) == [["a", "/wA="], ["b", None], ["c", ""]]


def test_header_names_holding_nul_are_stored_cleaned_with_a_note():
    names, notes = stored_names(("ok", "bad\x00name"))
    assert names == ("ok", "bad\ufffdname")
    cleaned = "bad\ufffdname"
    assert notes == (f"header name {cleaned!r} held NUL characters (replaced)",)
    assert stored_names(("ok", "fine")) == (("ok", "fine"), ())
    written = header_codec.encode_json([("ok", b"1"), ("bad\x00name", None)], names)
    assert json.loads(written) == [["ok", "MQ=="], ["bad\ufffdname", None]]


def test_the_replay_headers_are_named_once():
    from deadletter import decoders
    from republish import headers
    from topics import views

    assert decoders.REPLAY_ID_HEADER is replay_headers.REPLAY_ID == "x-replay-id"
    assert headers.REPLAY_HEADERS is replay_headers.REPLAY_HEADERS
    assert (views.REPLAY_ID, views.REPLAYED_FROM) == replay_headers.REPLAY_HEADERS[:2]
