"""The message browser against the real cluster: starts, paging both ways, partitions merged by timestamp."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from topics import browse
from topics.models import BrowseLog

from .browse_support import SPARE, browse_url, get, link, produce_one_by_one, shown

pytestmark = pytest.mark.django_db


def walk(client, url: str, link_id: str) -> list[list[tuple[int, int]]]:
    pages = []
    while url:
        page = get(client, url)
        pages.append(shown(page))
        url = link(page, link_id)
        assert len(pages) < 20, "paging does not end"
    return pages


@pytest.fixture
def one_partition(make_topic, cluster):
    topic = make_topic(1, 2, SPARE, prefix="browse")
    produce_records(kafka.producer(cluster), topic, [(b"k", f"v{i}".encode(), ()) for i in range(120)], 0, cluster)
    return topic


def test_newest_shows_the_last_50_and_older_pages_reach_the_first(admin_client, one_partition):
    pages = walk(admin_client, browse_url(topic=one_partition, partition=0), "older-link")

    assert [[o for _, o in page] for page in pages] == [
        list(range(70, 120)),
        list(range(20, 70)),
        list(range(0, 20)),
    ]
    assert BrowseLog.objects.filter(topic=one_partition, action="browse").count() == 3


def test_oldest_pages_forward_then_back_again(admin_client, one_partition):
    forward = walk(admin_client, browse_url(topic=one_partition, start="oldest"), "newer-link")
    assert [o for page in forward for _, o in page] == list(range(120))
    assert [len(page) for page in forward] == [50, 50, 20]

    second = get(admin_client, browse_url(topic=one_partition, start="offset", offset=50))
    back = link(second, "older-link")
    assert [o for _, o in shown(get(admin_client, back))] == list(range(0, 50))


def test_start_at_an_offset_and_beyond_the_end_clamps_with_a_note(admin_client, one_partition):
    page = get(admin_client, browse_url(topic=one_partition, partition=0, start="offset", offset=100))
    assert [o for _, o in shown(page)] == list(range(100, 120))

    page = get(admin_client, browse_url(topic=one_partition, partition=0, start="offset", offset=5000))
    assert shown(page) == []
    assert "offset 5000 is outside 0–120" in page
    assert [o for _, o in shown(get(admin_client, link(page, "older-link")))] == list(range(70, 120))


def test_start_at_a_date_time_matches_offsets_for_times(admin_client, make_topic, cluster):
    topic = make_topic(2, 2, SPARE, prefix="browse")
    produce_one_by_one(cluster, topic, [0, 1] * 30)
    middle = next(r for r in consume_all(topic, 2, cluster) if r.partition == 1 and r.offset == 15)
    at = kafka.list_offsets([(topic, 0), (topic, 1)], middle.timestamp_ms, cluster)[0]
    moment = datetime.fromtimestamp(middle.timestamp_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    page = get(admin_client, browse_url(topic=topic, start="time", at=moment))
    rows = shown(page)
    firsts = {p: min(o for q, o in rows if q == p) for p, _ in rows}
    assert firsts == {p: offset for (_, p), offset in at.items()}

    before_any = get(admin_client, browse_url(topic=topic, start="time", at="1971-01-01T00:00"))
    assert shown(before_any)[0][1] == 0


def test_all_partitions_page_by_timestamp_each_record_once_both_ways(admin_client, make_topic, cluster):
    topic = make_topic(3, 2, SPARE, prefix="browse")
    produce_one_by_one(cluster, topic, [i % 3 if i < 90 else 2 for i in range(130)])
    records = consume_all(topic, 3, cluster)
    in_time = sorted(records, key=lambda r: (r.timestamp_ms, r.partition, r.offset))

    forward_pages = walk(admin_client, browse_url(topic=topic, start="oldest"), "newer-link")
    forward = [row for page in forward_pages for row in page]
    backward = walk(admin_client, browse_url(topic=topic), "older-link")
    backward_rows = [row for page in reversed(backward) for row in page]

    stamps = {(r.partition, r.offset): r.timestamp_ms for r in records}
    assert sorted(forward) == sorted((r.partition, r.offset) for r in records) == sorted(backward_rows)
    assert len(forward) == len(set(forward)) == 130
    assert [stamps[row] for row in forward] == sorted(r.timestamp_ms for r in in_time)
    assert [stamps[row] for row in backward_rows] == sorted(r.timestamp_ms for r in in_time)
    for partition in range(3):  # each partition's records in offset order
        assert [o for p, o in forward if p == partition] == sorted(o for p, o in forward if p == partition)


def consume_all(topic: str, partitions: int, cluster) -> list[kafka.Record]:
    client = kafka.browse_consumer(cluster)
    try:
        ends, _ = kafka.list_offsets([(topic, p) for p in range(partitions)], "latest", cluster)
        read = kafka.read_windows(client, {position: (0, end) for position, end in ends.items()}, 20, cluster)
    finally:
        client.close()
    return [record for records in read.records.values() for record in records]


def test_a_partition_holding_a_whole_page_of_the_earliest_records_fills_it(admin_client, make_topic, cluster):
    # Ten partitions: each is read a share of a page at first (15 records); partition 0's 60 come first
    # in time, so the merge runs out of it before the page is full and reads more of it.
    topic = make_topic(10, 2, SPARE, prefix="browse")
    produce_one_by_one(cluster, topic, [0] * 60 + [p for p in range(1, 10) for _ in range(5)])

    oldest = shown(get(admin_client, browse_url(topic=topic, start="oldest")))
    newest = shown(get(admin_client, browse_url(topic=topic)))

    assert oldest == [(0, offset) for offset in range(50)]
    # The same millisecond may stamp partition 0's last record and another's first: compared as a set.
    assert sorted(newest) == [(0, offset) for offset in range(55, 60)] + [
        (p, o) for p in range(1, 10) for o in range(5)
    ]


def test_past_its_time_a_page_is_what_was_merged_so_far_and_the_next_goes_on_from_there(
    admin_client, make_topic, cluster, monkeypatch
):
    # A partition sparse in records (compaction, aborted transactions) could need read after read:
    # one page gets one KAFKA_REQUEST_TIMEOUT in all. Here the clock has run out after the first read.
    topic = make_topic(10, 2, SPARE, prefix="browse")
    produce_one_by_one(cluster, topic, [0] * 60 + [p for p in range(1, 10) for _ in range(5)])
    calls = iter(range(10**6))
    monkeypatch.setattr(browse, "time", SimpleNamespace(monotonic=lambda: 0 if next(calls) == 0 else 10**9))

    first = get(admin_client, browse_url(topic=topic, start="oldest"))

    assert shown(first) == [(0, offset) for offset in range(15)]  # partition 0's first share, in order
    monkeypatch.undo()
    assert shown(get(admin_client, link(first, "newer-link")))[:35] == [(0, offset) for offset in range(15, 50)]
