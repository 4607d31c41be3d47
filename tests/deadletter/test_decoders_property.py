"""Whatever bytes arrive, decoding never raises: a bad record is stored, never a stuck drain."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from deadletter import decoders
from deadletter.rows import build_row
from opsportal.kafka import Record
from tests.deadletter import samples

# Every header name the decoders know, so random values land on every reader of every family.
KNOWN_NAMES = sorted({name for make in samples.MIXED for name, _ in make()} | {"x-replay-id", "x-failed-at"})
names = st.one_of(st.sampled_from(KNOWN_NAMES), st.text(max_size=30))
values = st.one_of(st.none(), st.binary(max_size=40), st.sampled_from([b"-1", b"99999999999999999999", b"\x80"]))
headers = st.lists(st.tuples(names, values), max_size=25)
payloads = st.one_of(st.none(), st.binary(max_size=200), st.from_regex(rb"\A\s*[{\[].{0,100}\Z"))


@settings(max_examples=500, deadline=None)
@given(headers=headers, value=payloads)
def test_decoders_never_raise_on_random_headers_and_values(headers, value):
    decoded = decoders.decode_headers(headers)
    assert decoded.convention in decoders.FAMILIES
    decoders.read_business(value)
    decoders.fingerprint(decoded.error_type, decoded.error_message)
    for name, raw in headers:
        decoders.describe_header(decoded.convention, name, raw)


@settings(max_examples=300, deadline=None)
@given(
    headers=headers,
    key=payloads,
    value=payloads,
    timestamp=st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
)
def test_any_record_becomes_a_row_with_values_the_columns_hold(headers, key, value, timestamp):
    row = build_row(Record("dlq", 0, 1, timestamp, key, value, tuple(headers)), datetime.now(UTC))
    for number in (row.original_partition, row.retry_count):
        assert number is None or -(2**31) <= number < 2**31
    for number in (row.original_offset, row.original_timestamp_ms):
        assert number is None or -(2**63) <= number < 2**63
    for text in (row.error_type, row.error_message, row.original_topic, row.key_text, row.event_id):
        assert "\x00" not in text
    assert len(row.headers) == len(headers)
