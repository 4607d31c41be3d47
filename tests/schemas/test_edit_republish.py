# ruff: noqa: F811 - the republish tests' fixtures, imported below, are used as arguments
"""An edited republish of a schema-encoded dead letter (issue 22 items 2 and 4), at the review desk:
the value is edited as its decoded JSON, checked against the subject's schema, refused naming the
field, re-encoded in the wire format; a republish as is sends the stored bytes byte for byte."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from deadletter.models import DeadLetterRecord
from opsportal import kafka
from opsportal.kafka.registry_testing import (
    AvroDeserializer,
    AvroSerializer,
    JSONDeserializer,
    JSONSerializer,
    ProtobufDeserializer,
    ProtobufSerializer,
    value_context,
)
from republish.models import Replay
from tests.republish.conftest import (  # noqa: F401 - fixtures
    dead_letters,
    messages_of,
    operator,
    original_topic,
    read_partition,
)

from .conftest import PAYMENT_AVRO, PAYMENT_JSON, payment_message_class, unused_port

pytestmark = pytest.mark.django_db

PAYMENT = {"payment_id": "p-1", "account_id": "acc-7", "amount": Decimal("12.30"), "currency": "EUR", "note": None}
HEADERS = '[["traceparent", "00-abc-def-01"]]'


def edit_url(row: DeadLetterRecord) -> str:
    return reverse("admin:deadletter_deadletterrecord_republish_edited", args=[row.pk])


def republish_url(row: DeadLetterRecord) -> str:
    return reverse("admin:deadletter_deadletterrecord_republish", args=[row.pk])


@pytest.fixture
def avro_row(registry, dead_letters, original_topic):
    """A dead letter whose value the library's Avro serializer wrote (subject: the original topic's value)."""
    value = AvroSerializer(registry, PAYMENT_AVRO)(PAYMENT, value_context(original_topic))
    (row,) = dead_letters([(b"acc-7", value)])
    assert bytes(row.value) == value
    return row


def end_offsets(cluster, topic: str, partitions: int = 10) -> dict:
    return kafka.list_offsets([(topic, p) for p in range(partitions)], "latest", cluster)[0]


def landed_copy(cluster, row: DeadLetterRecord) -> kafka.Record:
    replay = Replay.objects.get(record=row)
    assert replay.state == "republished", (replay.state, replay.error)
    (landed,) = [
        r for r in read_partition(cluster, replay.target_topic, replay.target_partition) if r.offset == replay.offset
    ]
    return landed


def edited_text(row: DeadLetterRecord, client: Client, change) -> str:
    page = client.get(edit_url(row))
    assert page.status_code == 200
    value = json.loads(page.context["form"].initial["value"])
    return json.dumps(change(value), indent=2)


def test_the_editor_opens_the_decoded_value_as_json_with_its_schema(avro_row, operator_client, original_topic):
    page = operator_client.get(edit_url(avro_row))

    assert page.status_code == 200
    assert json.loads(page.context["form"].initial["value"]) == {**PAYMENT, "amount": "12.30"}
    assert page.context["schema_note"].startswith("AVRO, schema id ")
    assert f"{original_topic}-value v1" in page.context["schema_note"]
    assert b'id="schema-note"' in page.content and b"\\u0000" not in page.content


def test_an_edit_dropping_a_required_avro_field_is_refused_naming_it_and_nothing_is_sent(
    avro_row, operator_client, cluster, original_topic
):
    before = end_offsets(cluster, original_topic)
    dropped = edited_text(avro_row, operator_client, lambda v: {k: x for k, x in v.items() if k != "currency"})

    page = operator_client.post(
        edit_url(avro_row), {"target_topic": "", "value": dropped, "headers": HEADERS, "post": "yes"}
    )

    assert page.status_code == 200 and page.context["edit"] is None
    (error,) = page.context["form"].errors["value"]
    assert "$.currency" in error and "required" in error and f"{original_topic}-value" in error
    assert b"Yes, republish the edited copy" not in page.content
    assert not Replay.objects.filter(record=avro_row).exists()
    assert end_offsets(cluster, original_topic) == before


def test_a_valid_avro_edit_is_re_encoded_and_the_librarys_deserializer_reads_it(
    registry, avro_row, operator_client, cluster, original_topic
):
    edited = edited_text(avro_row, operator_client, lambda v: v | {"amount": "99.95", "note": "corrected by ops"})
    data = {"target_topic": "", "value": edited, "headers": HEADERS}

    check = operator_client.post(edit_url(avro_row), data)
    assert check.status_code == 200 and check.context["edit"] is not None, check.context["form"].errors
    changed = [line for kind, line in check.context["diff_rows"] if kind in ("removed", "added")]
    assert sorted(changed) == [
        '+  "amount": "99.95",',
        '+  "note": "corrected by ops"',
        '-  "amount": "12.30",',
        '-  "note": null',
    ]
    assert check.context["encoded"].subject == f"{original_topic}-value" and b'id="re-encoded"' in check.content

    done = operator_client.post(edit_url(avro_row), data | {"post": "yes"})

    assert done.status_code == 302
    landed = landed_copy(cluster, avro_row)
    assert landed.value[:1] == b"\x00" and landed.value != bytes(avro_row.value)
    read = AvroDeserializer(registry)(landed.value, value_context(original_topic))
    assert read == {**PAYMENT, "amount": Decimal("99.95"), "note": "corrected by ops"}
    avro_row.refresh_from_db()
    assert AvroDeserializer(registry)(bytes(avro_row.value), value_context(original_topic)) == PAYMENT


def test_a_republish_as_is_sends_the_stored_bytes_byte_for_byte(avro_row, operator_client, cluster):
    confirmation = operator_client.get(republish_url(avro_row))
    assert confirmation.status_code == 200
    shown = confirmation.context["schema_value"]
    assert shown.kind == "schema" and json.loads(shown.text)["amount"] == "12.30"
    assert b'id="schema-value"' in confirmation.content and b"00000000  00" not in confirmation.content

    done = operator_client.post(republish_url(avro_row), {"target_topic": "", "post": "yes"})

    assert done.status_code == 302
    assert landed_copy(cluster, avro_row).value == bytes(avro_row.value)


def test_an_untouched_edit_sends_the_stored_bytes_byte_for_byte(avro_row, operator_client, cluster):
    untouched = operator_client.get(edit_url(avro_row)).context["form"].initial["value"].replace("\n", "\r\n")

    done = operator_client.post(
        edit_url(avro_row),
        {"target_topic": "", "value": untouched, "headers": '[["traceparent", "00-new-01"]]', "post": "yes"},
    )

    assert done.status_code == 302
    landed = landed_copy(cluster, avro_row)
    assert landed.value == bytes(avro_row.value) and dict(landed.headers)["traceparent"] == b"00-new-01"


def test_an_unreachable_registry_refuses_the_edit_with_that_reason_and_sends_nothing(
    registry, avro_row, operator_client, cluster, original_topic, monkeypatch, settings
):
    before = end_offsets(cluster, original_topic)
    edited = edited_text(avro_row, operator_client, lambda v: v | {"amount": "1.00"})  # the schema is cached by id

    def unreachable(*args, **kwargs):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(registry, "get_latest_version", unreachable)
    page = operator_client.post(
        edit_url(avro_row), {"target_topic": "", "value": edited, "headers": HEADERS, "post": "yes"}
    )

    assert page.status_code == 200 and page.context["edit"] is None
    (error,) = page.context["form"].errors["value"]
    assert "unreachable" in error
    # A registry that was never reached: the value does not decode, so it is not edited at all.
    monkeypatch.undo()  # the library's own client again, for a port nothing listens on
    settings.SCHEMA_REGISTRY_URL = f"http://127.0.0.1:{unused_port()}"
    kafka.registry.reset()
    refused = operator_client.get(edit_url(avro_row), follow=True)
    assert any("could not be decoded" in m and "unreachable" in m for m in messages_of(refused))
    assert not Replay.objects.filter(record=avro_row).exists()
    assert end_offsets(cluster, original_topic) == before


def test_a_json_schema_edit_is_checked_and_re_encoded(registry, dead_letters, operator_client, cluster, original_topic):
    event = {"payment_id": "p-2", "amount_cents": 1230, "currency": "EUR"}
    (row,) = dead_letters([(b"acc-2", JSONSerializer(PAYMENT_JSON, registry)(event, value_context(original_topic)))])
    dropped = edited_text(row, operator_client, lambda v: {k: x for k, x in v.items() if k != "currency"})
    data = {"target_topic": "", "value": dropped, "headers": HEADERS, "post": "yes"}

    refused = operator_client.post(edit_url(row), data)

    assert "$.currency" in refused.context["form"].errors["value"][0]
    fixed = edited_text(row, operator_client, lambda v: v | {"amount_cents": 999})
    assert operator_client.post(edit_url(row), data | {"value": fixed}).status_code == 302
    read = JSONDeserializer(None, schema_registry_client=registry)(
        landed_copy(cluster, row).value, value_context(original_topic)
    )
    assert read == event | {"amount_cents": 999}


def test_a_protobuf_edit_is_checked_and_re_encoded_as_the_same_message(
    registry, dead_letters, operator_client, cluster, original_topic
):
    payment = payment_message_class()
    serialize = ProtobufSerializer(payment, registry, {"use.deprecated.format": False})
    written = serialize(payment(payment_id="p-3", amount_cents=5, currency="EUR"), value_context(original_topic))
    (row,) = dead_letters([(b"acc-3", written)])
    unknown = edited_text(row, operator_client, lambda v: v | {"amount": 7})
    data = {"target_topic": "", "value": unknown, "headers": HEADERS, "post": "yes"}

    refused = operator_client.post(edit_url(row), data)

    assert "$.amount" in refused.context["form"].errors["value"][0]
    fixed = edited_text(row, operator_client, lambda v: v | {"amount_cents": "700"})
    assert operator_client.post(edit_url(row), data | {"value": fixed}).status_code == 302
    landed = landed_copy(cluster, row)
    read = ProtobufDeserializer(payment, {"use.deprecated.format": False}, registry)(
        landed.value, value_context(original_topic)
    )
    assert (read.payment_id, read.amount_cents, read.currency) == ("p-3", 700, "EUR")
