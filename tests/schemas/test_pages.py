"""A registry-encoded value reads as the event it is on the dead-letter page and in the message browser."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from deadletter.drain import drain_dead_letter
from deadletter.models import DeadLetterRecord
from opsportal import kafka
from topics.models import Topic
from topics.sync import sync_cluster

from .conftest import produce_and_read

BILLING_HEADERS = [
    ("x-original-topic", b"billing.transaction.events"),
    ("x-original-partition", b"3"),
    ("x-original-offset", b"42"),
    ("x-consumer-group", b"billing-ledger"),
    ("x-error-type", b"InsufficientFundsError"),
    ("x-error-message", b"balance too low"),
]


@pytest.mark.django_db
def test_a_dead_letter_in_the_wire_format_shows_decoded(avro_value, admin_client, cluster, group_names):
    topic, value = avro_value
    pending = kafka.produce(kafka.producer(cluster), [kafka.OutgoingRecord(topic, b"acc-9", value, BILLING_HEADERS)])
    assert all(delivery.error is None for delivery in pending.wait(30))
    drained = drain_dead_letter(topic=topic, group_id=group_names("schemas-drain"), until_empty=True, timeout=1.0,
                                cluster=cluster)  # fmt: skip
    assert drained.inserted == 1
    record = DeadLetterRecord.objects.get(dlq_topic=topic)

    page = admin_client.get(reverse("admin:deadletter_deadletterrecord_change", args=[record.pk])).content.decode()

    assert f"AVRO, schema id 1, {topic}-value v1" in page
    assert "&quot;payment_id&quot;: &quot;p-9&quot;" in page and "&quot;amount&quot;: &quot;99.50&quot;" in page


@pytest.mark.django_db
def test_the_browser_shows_a_wire_format_value_decoded_and_an_unknown_id_with_its_reason(
    avro_value, admin_client, cluster
):
    topic, value = avro_value
    unknown_id = b"\x00\x00\x00\x30\x39" + value[5:]
    produce_and_read(cluster, topic, [value, unknown_id])

    page = admin_client.get(
        reverse("admin:topics_topic_messages"), {"topic": topic, "partition": "0", "start": "oldest"}
    ).content.decode()

    assert f"AVRO, schema id 1, {topic}-value v1" in page
    assert "&quot;account_id&quot;: &quot;acc-9&quot;" in page
    assert "Schema Registry wire format, not decoded" in page and "12345" in page


@pytest.mark.django_db
def test_without_a_registry_the_same_bytes_show_as_before(admin_client, cluster, make_topic, settings):
    settings.SCHEMA_REGISTRY_URL = None
    topic = make_topic()
    produce_and_read(cluster, topic, [b"\x00\x00\x00\x00\x01" + uuid.uuid4().bytes])

    page = admin_client.get(
        reverse("admin:topics_topic_messages"), {"topic": topic, "partition": "0", "start": "oldest"}
    ).content.decode()

    assert "Schema Registry" not in page and "00 00 00 00 01" in page


@pytest.mark.django_db
def test_a_topic_page_shows_its_subjects_and_their_compatibility(avro_value, admin_client, cluster, registry):
    topic, _ = avro_value
    registry.set_compatibility(f"{topic}-value", "FORWARD")
    sync_cluster(cluster)

    page = admin_client.get(
        reverse("admin:topics_topic_change", args=[Topic.objects.get(name=topic).pk])
    ).content.decode()

    assert f"<td>{topic}-value</td><td>1</td>" in page
    assert "AVRO id 1" in page and "FORWARD" in page and "PaymentCaptured" in page
