"""JSON field search by dotted path (payload.transactionId, metadata.correlationId, a list index)
beside bare names, and a search whose field no scanned record has says so."""

from __future__ import annotations

import json

import pytest

from opsportal import kafka
from opsportal.kafka.testing import produce_records

from .browse_support import SPARE, error, get, search_url, shown

pytestmark = pytest.mark.django_db


def envelope(i: int) -> dict:
    """A billing event as the services write it: the business fields inside payload and metadata."""
    return {
        "eventId": f"ev-{i}",
        "eventType": "TransactionCompleted",
        "aggregateId": f"acc_{i % 5}",
        "payload": {"transactionId": f"tx-{i}", "lines": [{"sku": f"a-{i}"}, {"sku": f"b-{i}"}]},
        "metadata": {"correlationId": f"corr-{i % 4}", "transactionId": f"meta-tx-{i}"},
    }


@pytest.fixture
def events(make_topic, cluster):
    """40 enveloped events on partition 0 (offset = i), then a flat one with transactionId at the top (offset 40)."""
    topic = make_topic(1, 2, SPARE, prefix="search-dotted")
    values = [json.dumps(envelope(i)) for i in range(40)] + [json.dumps({"eventId": "flat", "transactionId": "tx-7"})]
    records = [(b"acc", value.encode(), ()) for value in values]
    produce_records(kafka.producer(cluster), topic, records, 0, cluster)
    return topic


def field_search(client, topic: str, field: str, value: str) -> str:
    return get(client, search_url(topic=topic, kind="field", field=field, value=value))


def test_a_dotted_path_finds_the_field_it_names(admin_client, events):
    assert shown(field_search(admin_client, events, "payload.transactionId", "tx-7")) == [(0, 7)]
    assert shown(field_search(admin_client, events, "metadata.correlationId", "corr-1")) == [
        (0, offset) for offset in range(37, 0, -4)
    ]
    assert shown(field_search(admin_client, events, "metadata.transactionId", "meta-tx-7")) == [(0, 7)]


def test_a_dotted_path_is_not_the_same_name_elsewhere(admin_client, events):
    # tx-7 is payload.transactionId of offset 7 and the top-level transactionId of offset 40, never in metadata.
    page = field_search(admin_client, events, "metadata.transactionId", "tx-7")
    assert shown(page) == [] and "0 matches" in page
    assert 'id="field-missing"' not in page  # the field is there, the value is not


def test_a_bare_name_still_matches_at_any_depth(admin_client, events):
    assert shown(field_search(admin_client, events, "transactionId", "tx-7")) == [(0, 40), (0, 7)]
    assert shown(field_search(admin_client, events, "correlationId", "corr-1")) == [
        (0, offset) for offset in range(37, 0, -4)
    ]


def test_a_number_in_the_path_indexes_a_list(admin_client, events):
    assert shown(field_search(admin_client, events, "payload.lines.1.sku", "b-12")) == [(0, 12)]
    assert shown(field_search(admin_client, events, "payload.lines.0.sku", "b-12")) == []


def test_a_field_no_scanned_record_has_is_named_not_just_0_matches(admin_client, events):
    page = field_search(admin_client, events, "payload.transactionID", "tx-7")

    assert "0 matches" in page and "Scanned 41 of 41 records" in page
    assert "No record scanned has a field <code>payload.transactionID</code>" in page


def test_the_hint_names_fields_billing_events_carry(admin_client, events):
    message = error(get(admin_client, search_url(topic=events, kind="field", value="tx-7")))

    assert all(name in message for name in ("eventId", "aggregateId", "payload.transactionId"))
    assert "accountId" not in message
