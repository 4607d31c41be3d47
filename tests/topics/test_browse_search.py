"""Search by key and by JSON field: newest first, within the bound, and continued where it stopped."""

from __future__ import annotations

import json
import re

import pytest

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from topics.models import BrowseLog

from .browse_support import SPARE, get, link, search_url, shown

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(make_topic, cluster):
    """300 billing events over 3 partitions; account acc_7 every 30th, with correlation ids inside metadata."""
    topic = make_topic(3, 2, SPARE, prefix="search")
    records = []
    for i in range(300):
        account = "acc_7" if i % 30 == 0 else f"acc_{1000 + i}"
        event = {"eventId": f"ev-{i}", "aggregateId": account, "metadata": {"correlationId": f"corr-{i % 4}"}}
        records.append((account.encode(), json.dumps(event).encode(), ()))
    for partition in range(3):
        produce_records(kafka.producer(cluster), topic, records[partition::3], partition, cluster)
    return topic


def test_search_by_exact_key_finds_every_match_newest_first(admin_client, events):
    page = get(admin_client, search_url(topic=events, kind="key", value="acc_7"))

    # i % 30 == 0 lands on partition i % 3 == 0 at offset i // 3; same-partition order is by offset.
    assert shown(page) == [(0, offset) for offset in range(90, -1, -10)]
    assert "Scanned 300 of 300 records: the whole range" in page
    assert link(page, "continue-link") is None
    assert BrowseLog.objects.filter(action="search", topic=events).count() == 1


def test_search_by_json_field_at_any_depth(admin_client, events):
    page = get(admin_client, search_url(topic=events, kind="field", field="eventId", value="ev-150"))
    assert shown(page) == [(0, 50)]  # record 150 is the 51st of partition 0

    page = get(admin_client, search_url(topic=events, kind="field", field="correlationId", value="corr-1", partition=1))
    assert len(shown(page)) == 25


def test_a_bounded_search_says_how_far_it_looked_and_continues_from_there(admin_client, events, settings):
    settings.BROWSE_SEARCH_MAX_RECORDS = 90

    first = get(admin_client, search_url(topic=events, kind="key", value="acc_7"))
    assert "Scanned 90 of 300 records, stopped at the bound of records per search" in first
    positions = re.search(r'<details id="search-positions">(.*?)</details>', first, re.S).group(1)
    assert re.findall(r"<td>(\d+)</td>", positions) == ["0", "1", "2", "70", "70", "70"]  # partitions, then offsets
    assert "looked down to partition" not in first
    assert shown(first) == [(0, 90), (0, 80), (0, 70)]  # the newest 30 of each partition

    pages = [first]
    while url := link(pages[-1], "continue-link"):
        pages.append(get(admin_client, url))
        assert len(pages) < 10
    assert "Scanned 300 of 300 records" in pages[-1]
    every = [row for page in pages for row in shown(page)]
    assert every == [(0, offset) for offset in range(90, -1, -10)]


def test_a_search_that_matches_nothing_says_how_far_it_looked(admin_client, events):
    page = get(admin_client, search_url(topic=events, kind="text", value="no-such-text"))
    assert "0 matches" in page and "Scanned 300 of 300 records" in page
