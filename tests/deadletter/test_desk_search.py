"""Business fields from the billing events' real shapes, and the exact, indexed search over them."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deadletter.decoders import read_business
from tests.deadletter import samples
from tests.deadletter.desk_support import CHANGELIST, store

# The flat account events write the amount as a JSON number: kept as written, never rounded.
FLAT = (
    b'{"eventId": "ev-flat", "eventType": "AccountDebited", "accountId": "acc_flat", "amount": 12.50,'
    b' "currency": "EUR", "correlationId": "corr-flat", "transactionId": "tx-flat"}'
)
NESTED = {
    "eventId": "ev-nested",
    "eventType": "TransactionCompleted",
    "aggregateId": "acc_nested",
    "payload": {"amount": "100.00", "currency": "USD", "transactionId": "tx-nested"},
    "metadata": {"correlationId": "corr-nested", "sagaId": "saga-9"},
}


@pytest.mark.parametrize(
    "event, expected",
    [
        (FLAT, ("ev-flat", "acc_flat", "corr-flat", "tx-flat", "12.50", "EUR")),
        (NESTED, ("ev-nested", "acc_nested", "corr-nested", "tx-nested", "100.00", "USD")),
        ({"payload": {"amount": {"value": "7.10", "currency": "GBP"}}}, ("", "", "", "", "7.10", "GBP")),
    ],
)
def test_it_reads_business_fields_from_flat_and_nested_events(event, expected):
    found = read_business(event if isinstance(event, bytes) else json.dumps(event).encode())
    assert (
        found.event_id,
        found.account_id,
        found.correlation_id,
        found.transaction_id,
        found.amount,
        found.currency,
    ) == expected


@pytest.fixture
def rows(db):
    headers = samples.billing_headers()
    return {
        "flat": store(1, b"key-flat", FLAT, headers),
        "nested": store(2, b"key-nested", json.dumps(NESTED).encode(), headers),
    }


@pytest.mark.parametrize(
    "term, expected",
    [
        ("ev-flat", "flat"),
        ("acc_nested", "nested"),
        ("corr-flat", "flat"),
        ("tx-nested", "nested"),
        ("key-flat", "flat"),
        ("ACC_NESTED", None),  # exact: ids are case-sensitive
        ("acc_", None),  # exact: no prefix match
        ("balance", None),  # message text is not searched (fingerprint and error type filters are)
    ],
)
def test_it_searches_ids_and_key_exactly(admin_client, rows, term, expected):
    response = admin_client.get(reverse(CHANGELIST), {"q": term})
    assert list(response.context["cl"].result_list) == ([rows[expected]] if expected else [])


def test_the_search_is_plain_equality_that_an_index_serves(admin_client, rows):
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(reverse(CHANGELIST), {"q": "tx-flat"})
    searched = [q["sql"] for q in queries if "tx-flat" in q["sql"] and "transaction_id" in q["sql"]]
    assert searched
    assert all("LIKE" not in sql and "UPPER" not in sql for sql in searched)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgresql_plans_the_search_on_the_indexes(rows):
    from django.db.models import Q

    from deadletter.models import SEARCHED, DeadLetterRecord

    query = Q()
    for name in SEARCHED:
        query |= Q(**{name: "tx-flat"})
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        # Unordered: with a handful of rows the planner may walk the time index of the list's order instead.
        plan = DeadLetterRecord.objects.filter(query).order_by().explain()
        cursor.execute("RESET enable_seqscan")
    for index in ("key", "event", "account", "correlation", "transaction"):
        assert f"deadletter_search_{index}" in plan


def test_the_list_shows_the_record_page_the_transaction_and_amount(admin_client, rows):
    page = admin_client.get(reverse("admin:deadletter_deadletterrecord_change", args=[rows["flat"].pk]))
    text = page.content.decode()
    assert "tx-flat" in text and "12.50" in text and "EUR" in text
