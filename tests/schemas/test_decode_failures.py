"""What does not decode is shown raw with the reason, never an error."""

from __future__ import annotations

import struct
import time
from decimal import Decimal

from opsportal.kafka import wire
from opsportal.kafka.registry_testing import AvroSerializer, value_context

from .conftest import PAYMENT_AVRO, produce_and_read, unused_port

PAYMENT = {"payment_id": "p-1", "account_id": "acc-7", "amount": Decimal("1.00"), "currency": "EUR", "note": None}


def test_an_unknown_schema_id_is_raw_with_its_reason(registry, cluster, make_topic):
    topic = make_topic()
    data = struct.pack(">bI", 0, 4242) + b"\x02x"
    [record] = produce_and_read(cluster, topic, [data])
    decoded = wire.decode(record.value)
    assert decoded is not None and not decoded.decoded
    assert (decoded.raw, decoded.schema_id, decoded.reason) == (data, 4242, "unknown schema id")
    assert "4242" in decoded.detail
    # Asked once: the next record with that id is answered from memory.
    registry.calls.clear()
    assert wire.decode(data).reason == "unknown schema id"  # type: ignore[union-attr]
    assert registry.calls["get_schema"] == 0


def test_a_truncated_payload_is_raw_with_its_reason(registry, cluster, make_topic):
    topic = make_topic()
    whole = AvroSerializer(registry, PAYMENT_AVRO)(PAYMENT, value_context(topic))
    records = produce_and_read(cluster, topic, [whole[:-3], whole[:3]])
    cut, header_only = (wire.decode(record.value) for record in records)
    assert cut is not None and (cut.reason, cut.schema_type, cut.raw) == ("truncated payload", "AVRO", whole[:-3])
    assert header_only is not None and header_only.reason == "truncated payload" and header_only.schema_id is None


def test_bytes_that_do_not_fit_their_schema_are_raw_with_the_reason(registry, make_topic):
    topic = make_topic()
    whole = AvroSerializer(registry, PAYMENT_AVRO)(PAYMENT, value_context(topic))
    decoded = wire.decode(whole + b"\x00\x01")
    assert decoded is not None and decoded.reason == "does not decode with its schema"
    assert "2 bytes left" in decoded.detail


def test_a_registry_that_does_not_answer_gives_unreachable_quickly(settings):
    settings.SCHEMA_REGISTRY_URL = f"http://127.0.0.1:{unused_port()}"
    wire.registry.reset()
    try:
        started = time.monotonic()
        decoded = wire.decode(struct.pack(">bI", 0, 1) + b"\x02x")
        assert decoded is not None and decoded.reason == "registry unreachable", decoded
        assert "SCHEMA_REGISTRY_URL" in decoded.detail
        assert time.monotonic() - started < 5
        # Remembered: the rest of a page does not wait again.
        started = time.monotonic()
        assert wire.decode(struct.pack(">bI", 0, 2) + b"\x02x").reason == "registry unreachable"  # type: ignore[union-attr]
        assert time.monotonic() - started < 0.1
    finally:
        wire.registry.reset()


def test_a_registry_that_hangs_is_waited_for_once_per_page(settings, silent_port):
    settings.SCHEMA_REGISTRY_URL = f"http://127.0.0.1:{silent_port}"
    settings.KAFKA_REQUEST_TIMEOUT = 0.5
    wire.registry.reset()
    try:
        started = time.monotonic()
        assert wire.decode(struct.pack(">bI", 0, 1) + b"\x02x").reason == "registry unreachable"  # type: ignore[union-attr]
        assert 0.5 <= time.monotonic() - started < 5
        started = time.monotonic()
        for schema_id in range(2, 12):
            assert wire.decode(struct.pack(">bI", 0, schema_id) + b"\x02x").reason == "registry unreachable"  # type: ignore[union-attr]
        assert time.monotonic() - started < 0.2
    finally:
        wire.registry.reset()
