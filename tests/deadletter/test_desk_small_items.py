"""Walkthrough items on the dead-letter pages: failed-at with its zone as the portal writes times,
no user buttons beside the assignee, and summary links that list exactly the records they count."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from deadletter.models import Review
from tests.deadletter import samples
from tests.deadletter.desk_support import CHANGELIST, RECORD_PAGE, store

pytestmark = pytest.mark.django_db
SUMMARY = "admin:deadletter_summary"


def record_page(client, row) -> str:
    response = client.get(reverse(RECORD_PAGE, args=[row.pk]))
    assert response.status_code == 200
    return response.content.decode()


def header_cells(page: str, name: str) -> str:
    table = page.split('<table class="dl-headers">')[1].split("</table>")[0]
    return table.split(f"<td>{name}</td>")[1].split("</tr>")[0]


def test_the_decoded_failed_at_header_reads_as_every_time_of_the_portal(admin_client):
    page = record_page(admin_client, store(1, b"acc_1", samples.billing_event(), samples.billing_headers()))

    cells = header_cells(page, "x-failed-at")  # raw 2026-11-24T10:00:05.123Z
    assert '<pre class="dl-wrap">2026-11-24 10:00:05 UTC</pre>' in cells
    assert "+00:00" not in cells


def test_the_assignee_has_no_buttons_to_add_change_view_or_delete_users(admin_client):
    page = record_page(admin_client, store(2, b"acc_1", samples.billing_event(), samples.billing_headers()))

    assert 'name="assignee"' in page
    for button in ("add", "change", "delete", "view"):
        assert f'id="{button}_id_assignee"' not in page, button
    assert "related-widget-wrapper-link" not in page


@pytest.fixture
def one_failure():
    """Five records failing the same way: three open (new, in review, failed), one republished, one discarded."""
    rows = [store(n, b"acc_1", samples.billing_event(), samples.billing_headers(offset=n)) for n in range(10, 15)]
    for row, status in zip(rows, ("new", "in_review", "failed", "republished", "discarded"), strict=True):
        Review.objects.filter(pk=row.pk).update(status=status)
    return rows[0]


def counted_and_listed(client, table: str, **query: str) -> list[tuple[int, int]]:
    """Each row of a summary table: (its count, the count of the list its link leads to)."""
    page = client.get(reverse(SUMMARY), query).content.decode()
    body = re.search(rf'<table[^>]* id="{table}">(.*?)</table>', page, re.S).group(1)
    pairs = []
    for link, n in re.findall(r'<a href="([^"]+)">(\d+)</a>', body):
        listed = client.get(link.replace("&amp;", "&"))
        assert listed.status_code == 200, link
        pairs.append((int(n), listed.context["cl"].result_count))
    return pairs


def test_a_summary_figure_links_to_exactly_the_records_it_counts(admin_client, one_failure):
    for table in ("summary-fingerprints", "summary-topics", "summary-statuses"):
        pairs = counted_and_listed(admin_client, table)
        assert pairs and all(n == listed for n, listed in pairs), (table, pairs)
    assert counted_and_listed(admin_client, "summary-fingerprints") == [(3, 3)]  # not the 5 of every status


def test_the_links_keep_the_lists_filters_and_a_chosen_status(admin_client, one_failure):
    for query in ({"convention__exact": "billing"}, {"status": "republished"}, {"q": "acc_1", "status": "open"}):
        for table in ("summary-fingerprints", "summary-topics"):
            pairs = counted_and_listed(admin_client, table, **query)
            assert pairs and all(n == listed for n, listed in pairs), (query, table, pairs)


def test_the_list_filters_the_open_records_as_the_summary_counts_them(admin_client, one_failure):
    listed = admin_client.get(reverse(CHANGELIST), {"status": "open"})
    assert {row.review.status for row in listed.context["cl"].result_list} == {"new", "in_review", "failed"}
    assert "Open (new, in review, failed)" in listed.content.decode()
