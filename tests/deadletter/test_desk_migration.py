"""The business-fields migration fills the new columns of rows stored before it, in batches."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("deadletter", "0007_status_in_a_narrow_review_table")]
AFTER = [("deadletter", "0008_business_fields_and_exact_search")]
FLAT = {"eventId": "ev-1", "accountId": "acc_old", "amount": "9.99", "currency": "CHF", "transactionId": "tx-old"}


@pytest.mark.django_db(transaction=True)
def test_it_backfills_existing_rows_from_their_values():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("deadletter", "DeadLetterRecord")
    common = {"dlq_topic": "billing.dead-letter", "partition": 0, "headers": []}
    old.objects.create(offset=1, value=json.dumps(FLAT).encode(), **common)
    old.objects.create(offset=2, value=b"\x00\x01 not json", **common)
    old.objects.create(offset=3, value=None, **common)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps.get_model("deadletter", "DeadLetterRecord")
    rows = {row.offset: row for row in new.objects.all()}
    assert (rows[1].transaction_id, rows[1].account_id, rows[1].amount, rows[1].currency) == (
        "tx-old",
        "acc_old",
        "9.99",
        "CHF",
    )
    assert rows[2].transaction_id == rows[3].transaction_id == ""

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
