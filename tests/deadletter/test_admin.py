"""The review pages render for binary and JSON records, and the list's cost does not grow with rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.models import Count, Max, Min
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deadletter.admin import RangeDatesQuerySet
from deadletter.models import DeadLetterRecord, Review
from deadletter.rows import build_row
from opsportal.kafka import Record
from tests.deadletter import samples

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:deadletter_deadletterrecord_changelist"


def store(offset: int, key: bytes | None, value: bytes | None, headers) -> DeadLetterRecord:
    record = Record("billing.dead-letter", 0, offset, 1764000000000 + offset, key, value, tuple(headers))
    row = build_row(record, datetime.now(UTC))
    row.save()
    return row


@pytest.fixture
def json_row() -> DeadLetterRecord:
    return store(1, b"acc_42", samples.billing_event(), samples.billing_headers())


@pytest.fixture
def binary_row() -> DeadLetterRecord:
    return store(2, b"\xff\x00", b"\x00\x01\xfe<script>", samples.spring_kafka_headers() + [("trace", None)])


def test_the_list_renders_json_and_binary_records(admin_client, json_row, binary_row):
    page = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "InsufficientFundsError" in page and "IllegalStateException" in page  # Spring's wrapper unwrapped
    assert "acc_42" in page


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"status": "new"}, "json"),
        ({"convention__exact": "spring-kafka"}, "binary"),
        ({"original_topic": "billing.transaction.events"}, "json"),
        ({"error_type": "InsufficientFundsError"}, "json"),
        ({"timestamp__year": "2025"}, "json"),
        ({"timestamp__year": "2025", "timestamp__month": "11"}, "json"),
        ({"fingerprint": "<json>"}, "json"),
        ({"failed_again__exact": "1"}, "binary"),
    ],
)
def test_each_filter_keeps_only_its_rows(admin_client, json_row, binary_row, query, expected):
    # The two rows differ in every filtered field.
    Review.objects.filter(pk=binary_row.pk).update(status="in_review")
    DeadLetterRecord.objects.filter(pk=binary_row.pk).update(
        failed_again=True, timestamp=datetime(2024, 3, 1, tzinfo=UTC)
    )
    query = {name: json_row.fingerprint if value == "<json>" else value for name, value in query.items()}

    response = admin_client.get(reverse(CHANGELIST), query)

    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown == [{"json": json_row, "binary": binary_row}[expected]], query


@pytest.mark.parametrize("term", ["acc_42", "locked", "nothing-matches"])
def test_search_by_key_account_event_and_message(admin_client, json_row, binary_row, term):
    response = admin_client.get(reverse(CHANGELIST), {"q": term})
    found = {row.key_text for row in response.context["cl"].result_list}
    # The message is no longer searched (exact, indexed ids only): its error type and fingerprint are filters.
    assert found == {"acc_42": {"acc_42"}, "locked": set(), "nothing-matches": set()}[term]


def test_search_finds_by_event_id(admin_client, json_row, binary_row):
    response = admin_client.get(reverse(CHANGELIST), {"q": json_row.event_id})
    assert list(response.context["cl"].result_list) == [json_row]


def test_the_json_record_page_pretty_prints_the_value_and_folds_the_stack(admin_client, json_row):
    page = admin_client.get(reverse("admin:deadletter_deadletterrecord_change", args=[json_row.pk])).content.decode()
    assert '<pre class="dl-json">' in page and "&quot;eventType&quot;: &quot;TransactionCompleted&quot;" in page
    assert "<details><summary>InsufficientFundsError: balance</summary>" in page
    assert "x-original-offset" in page


def test_the_binary_record_page_shows_a_hex_dump_and_decoded_headers(admin_client, binary_row):
    page = admin_client.get(reverse("admin:deadletter_deadletterrecord_change", args=[binary_row.pk])).content.decode()
    assert '<pre class="dl-hex">' in page and "00 01 fe 3c" in page
    assert "<script>" not in page.split('<pre class="dl-hex">')[1].split("</pre>")[0]
    # kafka_dlt-original-partition is 4 raw bytes, decoded as the int 7.
    assert '<pre class="dl-wrap">0x00000007</pre></td><td><pre class="dl-wrap">7</pre>' in page


def test_triage_edits_status_assignee_and_notes_only(admin_client, admin_user, json_row):
    url = reverse("admin:deadletter_deadletterrecord_change", args=[json_row.pk])
    response = admin_client.post(
        url, {"status": "in_review", "assignee": admin_user.pk, "notes": "looking", "error_type": "Changed"}
    )
    assert response.status_code == 302
    json_row.refresh_from_db()
    assert (json_row.status, json_row.assignee, json_row.notes) == ("in_review", admin_user, "looking")
    assert json_row.error_type == "InsufficientFundsError"


def test_triage_cannot_set_an_action_status(admin_client, json_row):
    url = reverse("admin:deadletter_deadletterrecord_change", args=[json_row.pk])
    response = admin_client.post(url, {"status": "republished", "notes": ""})
    assert response.status_code == 200  # the form refuses the choice
    json_row.refresh_from_db()
    assert json_row.status == "new"


def test_the_summary_counts_and_links_to_the_filtered_list(admin_client, json_row, binary_row):
    page = admin_client.get(reverse("admin:deadletter_summary")).content.decode()
    assert f"?fingerprint={json_row.fingerprint}" in page
    assert "?original_topic=billing.transaction.events" in page and "?status=new" in page
    filtered = admin_client.get(reverse(CHANGELIST), {"fingerprint": json_row.fingerprint})
    assert list(filtered.context["cl"].result_list) == [json_row]


def list_queries(admin_client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get(reverse(CHANGELIST)).status_code == 200
    return len(queries)


def test_the_list_query_count_does_not_grow_with_rows_shown(admin_client, admin_user):
    store(0, b"k", b"{}", samples.billing_headers())
    few = list_queries(admin_client)
    for offset in range(1, 60):
        row = store(offset, b"k", b"\x00", samples.MIXED[offset % len(samples.MIXED)]())
        row.assignee = admin_user
        row.save()
    assert list_queries(admin_client) == few


def test_a_filtered_list_counts_only_up_to_the_limit_and_says_more_than(admin_client, monkeypatch):
    monkeypatch.setattr("deadletter.admin.COUNT_LIMIT", 5)
    for offset in range(7):
        store(offset, b"k", b"{}", samples.billing_headers())
    filtered = admin_client.get(reverse(CHANGELIST), {"status": "new"})
    assert filtered.context["cl"].result_count == 6  # counted 5 + 1, then stopped
    assert "more than 5 dead" in filtered.content.decode()
    assert admin_client.get(reverse(CHANGELIST), {"status": "in_review"}).context["cl"].result_count == 0


def test_a_filtered_list_under_the_limit_shows_the_exact_count(admin_client, json_row, binary_row):
    response = admin_client.get(reverse(CHANGELIST), {"convention__exact": "billing"})
    assert response.context["cl"].result_count == 1
    assert "more than" not in response.content.decode()


def test_an_old_status_link_is_sent_to_the_status_filter(admin_client, json_row):
    response = admin_client.get(reverse(CHANGELIST), {"status__exact": "new", "convention__exact": "billing"})

    assert response.status_code == 302
    assert response.url == reverse(CHANGELIST) + "?convention__exact=billing&status=new"
    assert admin_client.get(response.url).context["cl"].result_count == 1


def test_every_record_bulk_created_has_a_review_even_when_its_primary_key_is_not_read_back():
    fresh = [DeadLetterRecord(dlq_topic="t.bulk", partition=0, offset=n, key=b"k", value=b"{}") for n in range(3)]
    DeadLetterRecord.objects.bulk_create(fresh)
    again = [DeadLetterRecord(dlq_topic="t.bulk", partition=0, offset=n, key=b"k", value=b"{}") for n in range(5)]
    DeadLetterRecord.objects.bulk_create(again, ignore_conflicts=True)  # no primary keys come back

    statuses = DeadLetterRecord.objects.filter(dlq_topic="t.bulk").values_list("offset", "review__status")
    assert sorted(statuses) == [(n, "new") for n in range(5)]
    assert Review.objects.count() == 5


def test_the_date_hierarchy_bounds_of_a_status_filtered_list_are_its_first_and_last_times(json_row, binary_row):
    Review.objects.filter(pk=binary_row.pk).update(status="in_review")
    base = DeadLetterRecord.objects.filter(review__status="new")
    listed = RangeDatesQuerySet(model=DeadLetterRecord, query=base.query)

    bounds = listed.aggregate(first=Min("timestamp"), last=Max("timestamp"))

    assert bounds == base.aggregate(first=Min("timestamp"), last=Max("timestamp"))
    assert bounds == {"first": json_row.timestamp, "last": json_row.timestamp}
    # Any plain column's bounds, and those of the whole table.
    assert listed.aggregate(n=Min("offset"), m=Max("partition")) == {"n": 1, "m": 0}
    assert RangeDatesQuerySet(model=DeadLetterRecord).aggregate(first=Min("timestamp"))["first"] == json_row.timestamp
    assert listed.aggregate(n=Count("id")) == {"n": 1}  # not a bound: Django's own aggregate
    assert listed.filter(pk=0).aggregate(first=Min("timestamp", default=json_row.timestamp)) == {
        "first": json_row.timestamp
    }
