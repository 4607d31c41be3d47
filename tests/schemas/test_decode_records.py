"""Records the library's own serializers wrote into the real cluster decode to the JSON they were."""

from __future__ import annotations

from decimal import Decimal

from opsportal.kafka import SubjectVersion, wire
from opsportal.kafka.registry_testing import AvroSerializer, JSONSerializer, ProtobufSerializer, value_context

from .conftest import PAYMENT_AVRO, PAYMENT_JSON, payment_message_class, produce_and_read

PAYMENT = {"payment_id": "p-1", "account_id": "acc-7", "amount": Decimal("12.30"), "currency": "EUR", "note": None}


def test_it_decodes_an_avro_record(registry, cluster, make_topic):
    topic = make_topic()
    serialize = AvroSerializer(registry, PAYMENT_AVRO)
    [record] = produce_and_read(cluster, topic, [serialize(PAYMENT, value_context(topic))])
    decoded = wire.decode(record.value)
    assert decoded is not None and decoded.decoded, decoded
    assert decoded.schema_type == "AVRO"
    assert decoded.subjects == (SubjectVersion(f"{topic}-value", 1),)
    assert decoded.record_name == "billing.PaymentCaptured"
    assert decoded.value == {**PAYMENT, "amount": "12.30"}
    assert '"amount": "12.30"' in decoded.pretty()


def test_it_decodes_a_json_schema_record(registry, cluster, make_topic):
    topic = make_topic()
    serialize = JSONSerializer(PAYMENT_JSON, registry)
    event = {"payment_id": "p-2", "amount_cents": 1230, "currency": "EUR"}
    [record] = produce_and_read(cluster, topic, [serialize(event, value_context(topic))])
    decoded = wire.decode(record.value)
    assert decoded is not None and decoded.decoded, decoded
    assert (decoded.schema_type, decoded.value, decoded.record_name) == ("JSON", event, "PaymentCaptured")
    assert decoded.subjects == (SubjectVersion(f"{topic}-value", 1),)


def test_it_decodes_a_protobuf_record(registry, cluster, make_topic):
    topic = make_topic()
    payment = payment_message_class()
    serialize = ProtobufSerializer(payment, registry, {"use.deprecated.format": False})
    event = payment(payment_id="p-3", amount_cents=1230, currency="EUR")
    [record] = produce_and_read(cluster, topic, [serialize(event, value_context(topic))])
    decoded = wire.decode(record.value)
    assert decoded is not None and decoded.decoded, decoded
    assert decoded.schema_type == "PROTOBUF" and decoded.record_name == "billing.test.PaymentCaptured"
    # Protobuf's JSON mapping writes int64 as a string.
    assert decoded.value == {"payment_id": "p-3", "amount_cents": "1230", "currency": "EUR"}


def test_a_page_of_records_costs_one_registry_call_per_schema_id(registry, cluster, make_topic):
    topic = make_topic()
    serialize = AvroSerializer(registry, PAYMENT_AVRO)
    values = [serialize({**PAYMENT, "payment_id": f"p-{i}"}, value_context(topic)) for i in range(20)]
    registry.calls.clear()  # the serializer registered the schema; only the portal's reads count
    records = produce_and_read(cluster, topic, values)
    decoded = [wire.decode(record.value) for record in records]
    assert [d.value["payment_id"] for d in decoded if d is not None] == [f"p-{i}" for i in range(20)]
    assert registry.calls["get_schema"] == 1
    assert registry.calls["get_schema_versions"] == 1


def test_bytes_not_in_the_wire_format_are_left_to_the_other_decoders(registry):
    assert wire.decode(b'{"payment_id": "p-1"}') is None
    assert wire.decode(None) is None
    assert wire.decode(b"") is None
