"""The summary groups Reviews, which carry their record's fingerprint, topic and timestamp:
every way a record is stored copies them, and the figures equal a direct count of the records."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.db.models import Count, Max, Min
from django.urls import reverse

from deadletter.models import DeadLetterRecord, Review, Status
from deadletter.rows import as_instance, row_values
from deadletter.store import insert_rows
from opsportal import kafka
from tests.deadletter import samples

pytestmark = pytest.mark.django_db
SUMMARY = "admin:deadletter_summary"
COPIED = ("fingerprint", "original_topic", "timestamp")
MIGRATION = importlib.import_module("deadletter.migrations.0010_review_copies_fingerprint_and_topic")


def rows(count: int, first_offset: int = 0) -> list:
    """Rows as the drain builds them, cycling through every convention, a minute apart."""
    return [
        row_values(
            kafka.Record(
                "billing.dead-letter", 0, first_offset + i, 1764000000000 + i * 60_000, b"k", b"{}",
                tuple(samples.MIXED[i % len(samples.MIXED)]()),
            ),
            datetime.now(UTC),
        )
        for i in range(count)
    ]  # fmt: skip


def stored_by_save(made: list) -> None:
    for row in made:
        as_instance(row).save()


def stored_by_bulk_create(made: list) -> None:
    DeadLetterRecord.objects.bulk_create([as_instance(row) for row in made])


@pytest.mark.parametrize(
    "write",
    [
        stored_by_save,
        stored_by_bulk_create,
        lambda made: insert_rows(made, straight=True),  # COPY, then Review.create_missing
        lambda made: insert_rows(made),  # COPY into a temporary table, INSERT ... ON CONFLICT
    ],
    ids=["save", "bulk_create", "copy", "copy_or_ignore"],
)
def test_every_way_of_storing_copies_fingerprint_topic_and_time_to_the_review(write):
    write(rows(8))
    records = {row["pk"]: row for row in DeadLetterRecord.objects.values("pk", *COPIED)}
    reviews = {row["pk"]: row for row in Review.objects.values("pk", *COPIED)}
    assert reviews == records and len(records) == 8
    assert len({row["fingerprint"] for row in records.values()}) > 1  # not all blank


@pytest.fixture
def mixed():
    """80 records in every convention, a third republished, a few discarded."""
    with transaction.atomic():  # as the drain stores a batch
        insert_rows(rows(80))
    ids = list(DeadLetterRecord.objects.order_by("pk").values_list("pk", flat=True))
    Review.objects.filter(pk__in=ids[::3]).update(status="republished")
    Review.objects.filter(pk__in=ids[1::7]).update(status="discarded")
    return ids


def matching(query: dict[str, str]):
    """The records the list shows for this query, found on the records themselves."""
    records = DeadLetterRecord.objects.order_by()
    for name, value in query.items():
        records = records.filter(**{"review__status" if name == "status" else name: value})
    return records


def direct(query: dict[str, str], by: str) -> dict[str, tuple]:
    """(records, first, last) per value of `by`: open records only unless a status is chosen."""
    records = matching(query)
    if "status" not in query:
        records = records.filter(review__status__in=["new", "in_review", "failed"])
    counted = records.values(by).annotate(n=Count("pk"), first=Min("timestamp"), last=Max("timestamp"))
    return {row[by]: (row["n"], row["first"], row["last"]) for row in counted}


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"status": "republished"},
        {"convention__exact": "spring-kafka"},
        {"status": "new", "failed_again__exact": "0"},
    ],
    ids=["open", "status", "filter", "status_and_filter"],
)
def test_the_summary_counts_what_a_direct_count_of_the_records_finds(admin_client, mixed, query):
    shown = admin_client.get(reverse(SUMMARY), query).context
    fingerprints = {row["fingerprint"]: (row["n"], row["first"], row["last"]) for row in shown["fingerprints"]}
    assert fingerprints == direct(query, "fingerprint") and fingerprints
    topics = {row["original_topic"]: row["n"] for row in shown["topics"]}
    assert topics == {topic: n for topic, (n, _, _) in direct(query, "original_topic").items()}
    statuses = {row["label"]: row["n"] for row in shown["statuses"]}
    counted = matching(query).values_list("review__status").annotate(n=Count("pk"))
    assert statuses == {Status(status).label: n for status, n in counted}


@pytest.mark.django_db(transaction=True)  # SQLite's schema editor runs outside a transaction only
def test_the_migration_copies_fingerprint_and_topic_of_existing_records(mixed):
    Review.objects.update(fingerprint="", original_topic="")  # as the new columns start
    with connection.schema_editor() as editor:
        MIGRATION.copy_from_records(apps, editor)
    records = {row["pk"]: row for row in DeadLetterRecord.objects.values("pk", *COPIED)}
    assert {row["pk"]: row for row in Review.objects.values("pk", *COPIED)} == records
