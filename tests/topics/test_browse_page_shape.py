"""The browser page's shape: what a page shows per partition as a compact table, timestamps on one
line, and the message at an asked-for offset marked (a dead letter's original, a group's next message)."""

from __future__ import annotations

import re

import pytest

from opsportal import kafka
from opsportal.kafka.testing import produce_records

from .browse_support import SPARE, browse_url, get

pytestmark = pytest.mark.django_db


@pytest.fixture
def three(make_topic, cluster):
    topic = make_topic(3, 2, SPARE, prefix="shape")
    for partition in range(3):
        records = [(f"k{i}".encode(), f'{{"n": {i}}}'.encode(), ()) for i in range(12)]
        produce_records(kafka.producer(cluster), topic, records, partition, cluster)
    return topic


def cells(table: str, row: str) -> list[str]:
    found = re.search(rf'<th scope="row">{row}</th>(.*?)</tr>', table, re.S)
    assert found, table
    return re.findall(r"<td>(.*?)</td>", found.group(1))


def test_what_a_page_shows_per_partition_is_a_compact_table(admin_client, three):
    page = get(admin_client, browse_url(topic=three, start="offset", offset=5))
    table = re.search(r'<table class="range-table msg-note" id="page-range">(.*?)</table>', page, re.S).group(1)
    assert cells(table, "partition") == ["0", "1", "2"]
    assert cells(table, "offsets shown") == ["5–11"] * 3  # inclusive, as people count
    assert cells(table, "of those it holds") == ["0–11"] * 3
    assert "shown of" not in page  # the old run-on sentence
    assert re.search(r'<td class="time">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC</td>', page)


def test_the_message_at_the_asked_offset_of_one_partition_is_marked(admin_client, three):
    page = get(admin_client, browse_url(topic=three, partition=1, start="offset", offset=7))
    assert re.findall(r'data-partition="(\d+)" data-offset="(\d+)" id="target-message"', page) == [("1", "7")]
    assert 'getElementById("target-message")' in page
    # All partitions (offsets of different partitions are unrelated), or no offset asked for: nothing marked.
    for url in (
        browse_url(topic=three, start="offset", offset=7),
        browse_url(topic=three, partition=1, start="newest"),
    ):
        assert 'id="target-message"' not in get(admin_client, url)
