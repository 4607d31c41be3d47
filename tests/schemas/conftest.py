"""The library's in-memory registry (mock://) behind the portal's one client, and records the library's
own serializers write into the real cluster."""

from __future__ import annotations

import socket
import uuid
from decimal import Decimal
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message_factory import GetMessageClass

from opsportal import kafka
from opsportal.kafka.registry_testing import AvroSerializer, InMemoryRegistry, SchemaRegistryClient, value_context

PAYMENT_AVRO = """{
  "type": "record", "name": "PaymentCaptured", "namespace": "billing",
  "fields": [
    {"name": "payment_id", "type": "string"},
    {"name": "account_id", "type": "string"},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
    {"name": "currency", "type": "string"},
    {"name": "note", "type": ["null", "string"], "default": null}
  ]
}"""
PAGE_PAYMENT = {"payment_id": "p-9", "account_id": "acc-9", "amount": Decimal("99.50"), "currency": "EUR", "note": None}
PAYMENT_JSON = """{
  "$schema": "http://json-schema.org/draft-07/schema#", "title": "PaymentCaptured", "type": "object",
  "properties": {"payment_id": {"type": "string"}, "amount_cents": {"type": "integer"}, "currency": {"type": "string"}},
  "required": ["payment_id", "amount_cents", "currency"], "additionalProperties": false
}"""


@pytest.fixture
def registry(settings, monkeypatch) -> InMemoryRegistry:
    """The portal pointed at a fresh in-memory registry; the client is replaced at its one construction point."""
    settings.SCHEMA_REGISTRY_URL = f"mock://{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(SchemaRegistryClient, "new_client", staticmethod(InMemoryRegistry))
    kafka.registry.reset()
    yield kafka.registry.client()
    kafka.registry.reset()


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers: a hung registry."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def produce_and_read(cluster, topic: str, values: list[bytes], key: bytes | None = None) -> list[kafka.Record]:
    """Write these values to the real cluster and read them back as the portal reads records."""
    pending = kafka.produce(kafka.producer(cluster), [kafka.OutgoingRecord(topic, key, v) for v in values], cluster)
    assert all(delivery.error is None for delivery in pending.wait(30))
    consumer = kafka.consumer(f"schemas-test.{uuid.uuid4().hex[:8]}", cluster)
    try:
        kafka.assign(consumer, {(topic, 0): kafka.OFFSET_BEGINNING})
        records: list[kafka.Record] = []
        for _ in range(60):
            records += kafka.poll(consumer, len(values), 1.0, cluster)
            if len(records) >= len(values):
                return records
    finally:
        consumer.close()
    raise AssertionError(f"read {len(records)} of {len(values)} records back from {topic}")


def payment_message_class() -> Any:
    """A Protobuf message class built at run time, as generated code would define it."""
    name = "billing_payment_test.proto"
    pool = descriptor_pool.Default()
    try:
        return GetMessageClass(pool.FindMessageTypeByName("billing.test.PaymentCaptured"))
    except KeyError:
        pass
    file_proto = descriptor_pb2.FileDescriptorProto(name=name, package="billing.test", syntax="proto3")
    # Second in its file: the wire format then carries a message index (zigzag varints) to find it.
    file_proto.message_type.add(name="AccountOpened")
    message = file_proto.message_type.add(name="PaymentCaptured")
    for number, (field, kind) in enumerate(
        [("payment_id", "TYPE_STRING"), ("amount_cents", "TYPE_INT64"), ("currency", "TYPE_STRING")], start=1
    ):
        message.field.add(
            name=field,
            number=number,
            type=getattr(descriptor_pb2.FieldDescriptorProto, kind),
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    pool.Add(file_proto)
    return GetMessageClass(pool.FindMessageTypeByName("billing.test.PaymentCaptured"))


@pytest.fixture
def avro_value(registry, make_topic) -> tuple[str, bytes]:
    topic = make_topic()
    return topic, AvroSerializer(registry, PAYMENT_AVRO)(PAGE_PAYMENT, value_context(topic))
