"""The drain stores wire-format dead letters raw without asking the registry; a later pass fills their fields."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deadletter.drain import drain_dead_letter
from deadletter.models import DeadLetterRecord, RegistryDecodeMark
from deadletter.registry_fields import fill_registry_fields
from opsportal import kafka

from .conftest import unused_port
from .test_pages import BILLING_HEADERS

pytestmark = pytest.mark.django_db


@pytest.fixture
def drained(avro_value, cluster, group_names, registry):
    topic, value = avro_value
    records = [kafka.OutgoingRecord(topic, b"acc-9", value, BILLING_HEADERS), kafka.OutgoingRecord(topic, b"k", b"{}")]
    assert all(d.error is None for d in kafka.produce(kafka.producer(cluster), records).wait(30))
    registry.calls.clear()
    result = drain_dead_letter(topic=topic, group_id=group_names("schemas-drain"), until_empty=True, timeout=1.0,
                               cluster=cluster)  # fmt: skip
    assert result.inserted == 2
    # Settled: the pass walks only rows drained a minute ago or more.
    DeadLetterRecord.objects.filter(dlq_topic=topic).update(drained_at=timezone.now() - timedelta(minutes=2))
    return DeadLetterRecord.objects.get(dlq_topic=topic, key=b"acc-9")


def test_the_drain_never_asks_the_registry_and_the_pass_fills_the_fields(drained, registry):
    assert registry.calls["get_schema"] == 0
    assert (drained.amount, drained.currency) == ("", "")

    assert fill_registry_fields() == 1

    drained.refresh_from_db()
    assert (drained.amount, drained.currency) == ("99.50", "EUR")
    assert RegistryDecodeMark.objects.get().last_id >= drained.pk
    assert fill_registry_fields() == 0


def test_an_unreachable_registry_leaves_the_record_for_the_next_run(drained, settings, monkeypatch):
    monkeypatch.undo()  # the real client, pointed at a port nobody listens on
    settings.SCHEMA_REGISTRY_URL = f"http://127.0.0.1:{unused_port()}"
    kafka.registry.reset()

    assert fill_registry_fields() == 0

    drained.refresh_from_db()
    assert drained.amount == ""
    assert RegistryDecodeMark.objects.get().last_id < drained.pk


def test_without_a_registry_the_pass_does_nothing(drained, settings):
    settings.SCHEMA_REGISTRY_URL = None

    assert fill_registry_fields() == 0
    assert not RegistryDecodeMark.objects.exists()
