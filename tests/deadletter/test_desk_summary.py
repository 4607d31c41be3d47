"""The summary follows the list: its filters and status, full fingerprints, first and last seen."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from deadletter.models import DeadLetterRecord, Review
from tests.deadletter import samples
from tests.deadletter.desk_support import CHANGELIST, store

pytestmark = pytest.mark.django_db
SUMMARY = "admin:deadletter_summary"
LONG = "Listener failed; " + "M" * 400


@pytest.fixture
def rows():
    billing = [store(n, b"acc_1", samples.billing_event(), samples.billing_headers(offset=n)) for n in range(1, 4)]
    spring = store(10, b"acc_2", samples.billing_event(), samples.spring_kafka_headers())
    long = store(11, b"acc_3", b"x", [("x-error-type", b"BigError"), ("x-error-message", LONG.encode())])
    # As if drained with that timestamp: the Review carries a copy of it.
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    DeadLetterRecord.objects.filter(pk=billing[0].pk).update(timestamp=when)
    Review.objects.filter(pk=billing[0].pk).update(timestamp=when)
    Review.objects.filter(pk__in=[billing[1].pk, billing[2].pk]).update(status="republished")
    return {"billing": billing, "spring": spring, "long": long}


def figures(client, **query: str) -> dict:
    response = client.get(reverse(SUMMARY), query)
    assert response.status_code == 200
    return {row["fingerprint"]: row for row in response.context["fingerprints"]} | {"_page": response}


def test_by_default_it_counts_only_records_still_open(admin_client, rows):
    shown = figures(admin_client)
    assert shown[rows["billing"][0].fingerprint]["n"] == 1  # two of the three were republished


def test_it_follows_the_lists_status_and_filters(admin_client, rows):
    assert figures(admin_client, status="republished")[rows["billing"][0].fingerprint]["n"] == 2
    by_convention = figures(admin_client, convention__exact="spring-kafka")
    assert set(by_convention) - {"_page"} == {rows["spring"].fingerprint}
    searched = figures(admin_client, q="acc_2")
    assert set(searched) - {"_page"} == {rows["spring"].fingerprint}


def test_its_links_keep_the_lists_filters(admin_client, rows):
    page = figures(admin_client, convention__exact="spring-kafka")["_page"].content.decode()
    assert f"convention__exact=spring-kafka&amp;fingerprint={rows['spring'].fingerprint}" in page
    listed = admin_client.get(reverse(CHANGELIST), {"convention__exact": "spring-kafka"}).content.decode()
    assert f"{reverse(SUMMARY)}?convention__exact=spring-kafka" in listed


def test_it_shows_first_and_last_seen_and_full_fingerprints_on_demand(admin_client, rows):
    shown = figures(admin_client, status="republished")
    page = figures(admin_client)["_page"].content.decode()
    assert rows["long"].fingerprint in page  # all 16 characters
    assert f"<details><summary>{LONG[:119]}…</summary>{LONG}</details>" in page
    assert 'class="dl-summary"' in page  # fixed layout: a long row wraps, the page keeps its width
    first = figures(admin_client)[rows["billing"][0].fingerprint]
    assert first["first"] == first["last"] == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert "2025-01-02 03:04:05 UTC" in page
    assert shown


def test_it_refuses_a_lookup_the_list_does_not_offer(admin_client, rows):
    response = admin_client.get(reverse(SUMMARY), {"error_message__regex": "("})
    assert response.status_code == 302
