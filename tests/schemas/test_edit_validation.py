"""An edited value is checked against the subject's latest schema before it can go back."""

from __future__ import annotations

from decimal import Decimal

from opsportal.kafka import Encoded, Refused, wire
from opsportal.kafka.registry_testing import (
    AvroDeserializer,
    AvroSerializer,
    JSONDeserializer,
    JSONSerializer,
    ProtobufDeserializer,
    ProtobufSerializer,
    value_context,
)

from .conftest import PAYMENT_AVRO, PAYMENT_JSON, payment_message_class, produce_and_read

PAYMENT = {"payment_id": "p-1", "account_id": "acc-7", "amount": Decimal("12.30"), "currency": "EUR", "note": None}


def test_an_edit_dropping_a_required_avro_field_is_refused_naming_it(registry, make_topic):
    topic = make_topic()
    original = wire.decode(AvroSerializer(registry, PAYMENT_AVRO)(PAYMENT, value_context(topic)))
    assert original is not None
    edited = {key: value for key, value in original.value.items() if key != "currency"}
    refused = wire.encode(edited, subject=f"{topic}-value", schema_id=original.schema_id)
    assert isinstance(refused, Refused)
    assert refused.path == "$.currency" and "required" in refused.message
    assert str(refused).startswith("$.currency: ")


def test_an_edit_with_a_wrong_type_or_an_unknown_field_is_refused_naming_it(registry, make_topic):
    topic = make_topic()
    original = wire.decode(AvroSerializer(registry, PAYMENT_AVRO)(PAYMENT, value_context(topic)))
    assert original is not None
    wrong = wire.encode({**original.value, "account_id": 7}, subject=f"{topic}-value")
    assert isinstance(wrong, Refused) and wrong.path == "$.account_id"
    unknown = wire.encode({**original.value, "acount": "x"}, subject=f"{topic}-value")
    assert isinstance(unknown, Refused) and unknown.path == "$.acount"
    amount = wire.encode({**original.value, "amount": "twelve"}, subject=f"{topic}-value")
    assert isinstance(amount, Refused) and amount.path == "$.amount"


def test_a_valid_avro_edit_is_re_encoded_and_the_librarys_deserializer_reads_it(registry, cluster, make_topic):
    topic = make_topic()
    written = AvroSerializer(registry, PAYMENT_AVRO)(PAYMENT, value_context(topic))
    original = wire.decode(written)
    assert original is not None
    edited = {**original.value, "amount": "99.95", "note": "corrected by ops"}
    encoded = wire.encode(edited, subject=f"{topic}-value", schema_id=original.schema_id)
    assert isinstance(encoded, Encoded), encoded
    assert (encoded.schema_id, encoded.subject, encoded.version) == (original.schema_id, f"{topic}-value", 1)
    [record] = produce_and_read(cluster, topic, [encoded.data])
    read = AvroDeserializer(registry)(record.value, value_context(topic))
    assert read == {**PAYMENT, "amount": Decimal("99.95"), "note": "corrected by ops"}


def test_a_json_schema_edit_is_checked_and_re_encoded(registry, cluster, make_topic):
    topic = make_topic()
    event = {"payment_id": "p-2", "amount_cents": 1230, "currency": "EUR"}
    original = wire.decode(JSONSerializer(PAYMENT_JSON, registry)(event, value_context(topic)))
    assert original is not None
    refused = wire.encode({"payment_id": "p-2", "amount_cents": 1230}, subject=f"{topic}-value")
    assert isinstance(refused, Refused) and refused.path == "$.currency"
    encoded = wire.encode({**event, "amount_cents": 999}, subject=f"{topic}-value")
    assert isinstance(encoded, Encoded)
    [record] = produce_and_read(cluster, topic, [encoded.data])
    assert JSONDeserializer(None, schema_registry_client=registry)(record.value, value_context(topic)) == {
        **event,
        "amount_cents": 999,
    }


def test_an_edit_for_a_subject_the_registry_does_not_know_is_refused(registry):
    refused = wire.encode({"a": 1}, subject="nobody-value")
    assert isinstance(refused, Refused) and "nobody-value" in refused.message


def test_a_protobuf_edit_is_checked_and_re_encoded_as_the_same_message(registry, cluster, make_topic):
    topic = make_topic()
    payment = payment_message_class()
    serialize = ProtobufSerializer(payment, registry, {"use.deprecated.format": False})
    original = wire.decode(serialize(payment(payment_id="p-3", amount_cents=5, currency="EUR"), value_context(topic)))
    assert original is not None and original.decoded
    unknown = wire.encode({**original.value, "amount": 7}, subject=f"{topic}-value", record_name=original.record_name)
    assert isinstance(unknown, Refused) and unknown.path == "$.amount"
    encoded = wire.encode(
        {**original.value, "amount_cents": "700"}, subject=f"{topic}-value", record_name=original.record_name
    )
    assert isinstance(encoded, Encoded), encoded
    [record] = produce_and_read(cluster, topic, [encoded.data])
    read = ProtobufDeserializer(payment, {"use.deprecated.format": False}, registry)(record.value, value_context(topic))
    assert (read.payment_id, read.amount_cents, read.currency) == ("p-3", 700, "EUR")
