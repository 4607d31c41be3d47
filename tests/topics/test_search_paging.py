"""Search pages: at most a page of matches per run, "continue" resumes exactly where the page ended.

No Kafka: kafka.read_windows is replaced by an in-memory topic, so the paging logic is tested alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from opsportal import kafka
from topics import search
from topics.browse import PAGE_SIZE, Bounds

TOPIC = "paging.events"


def make_topic(partitions: int, size: int, every: int) -> dict[int, list[kafka.Record]]:
    """`size` records a partition; every `every`th one's value holds "hit". Timestamps rise with offsets."""
    return {
        p: [
            kafka.Record(
                TOPIC, p, o, 1_000_000 + o * 10 + p, f"k{o}".encode(), b"hit" if o % every == 0 else b"miss", ()
            )
            for o in range(size)
        ]
        for p in range(partitions)
    }


@pytest.fixture
def fake_topic(monkeypatch: pytest.MonkeyPatch) -> dict[int, list[kafka.Record]]:
    data = make_topic(partitions=3, size=400, every=2)

    def read_windows(
        client: object, windows: Mapping[kafka.Position, tuple[int, int]], timeout: float
    ) -> kafka.WindowRead:
        records = {pos: data[pos[1]][start:stop] for pos, (start, stop) in windows.items()}
        return kafka.WindowRead(records, set(windows))

    monkeypatch.setattr(kafka, "read_windows", read_windows)
    return data


def run_all_pages(known: Bounds, query: search.Query, page_size: int) -> list[search.SearchResult]:
    cursor, pages = dict(known.end), []
    while True:
        result = search.search(None, TOPIC, cursor, known, query, 200_000, page_size)  # type: ignore[arg-type]
        pages.append(result)
        if result.stopped_by == "done":
            return pages
        cursor = result.cursor
        assert len(pages) < 100, "the search never finished"


@pytest.mark.parametrize("page_size", [PAGE_SIZE, 7])
def test_every_match_shows_once_a_page_at_a_time(fake_topic: dict[int, list[kafka.Record]], page_size: int) -> None:
    known = Bounds(dict.fromkeys(fake_topic, 0), {p: len(records) for p, records in fake_topic.items()})
    query = search.parse_query("text", "hit", "")

    pages = run_all_pages(known, query, page_size)

    expected = {(r.partition, r.offset) for records in fake_topic.values() for r in records if r.value == b"hit"}
    shown = [(r.partition, r.offset) for page in pages for r in page.matches]
    assert all(len(page.matches) <= page_size for page in pages)
    assert len(shown) == len(set(shown)) == len(expected)  # none twice, none skipped
    assert set(shown) == expected
    assert len(pages) >= len(expected) // page_size
    # Newest first within a page and across pages; the offsets scanned add up to the topic, once.
    stamps = [r.timestamp_ms for page in pages for r in page.matches]
    assert stamps == sorted(stamps, reverse=True)
    assert sum(page.scanned for page in pages) == known.total()
    assert all(page.stopped_by == "matches" for page in pages[:-1])


def test_a_first_page_stops_at_a_page_of_matches(fake_topic: dict[int, list[kafka.Record]]) -> None:
    known = Bounds(dict.fromkeys(fake_topic, 0), {p: len(records) for p, records in fake_topic.items()})
    result = search.search(None, TOPIC, dict(known.end), known, search.parse_query("text", "hit", ""), 200_000)  # type: ignore[arg-type]

    assert len(result.matches) == PAGE_SIZE
    assert result.stopped_by == "matches"
    # Each partition's cursor sits just above the highest match left for the next page, below those shown.
    for p, records in fake_topic.items():
        shown = {r.offset for r in result.matches if r.partition == p}
        assert shown == {r.offset for r in records[result.cursor[p] :] if r.value == b"hit"}
        assert records[result.cursor[p] - 1].value == b"hit"


@pytest.mark.django_db
def test_the_search_page_shows_compact_rows_and_a_continue_link(admin_user, rf) -> None:
    from django.contrib.admin import site
    from django.template.response import TemplateResponse

    from topics import views
    from topics.models import Topic

    data = make_topic(partitions=1, size=60, every=1)[0]
    big = json.dumps({"eventId": "ev-big", "items": list(range(300))}).encode()
    records = [data[0]._replace(value=big, headers=[(f"h{i}", b"v") for i in range(5)]), *data[1:PAGE_SIZE]]
    request = rf.get("/admin/topics/topic/messages/search/", {"topic": TOPIC, "kind": "text", "value": "hit"})
    request.user = admin_user
    context = views._base_context(request, site._registry[Topic], "Search")
    result = search.SearchResult(records, 60, {0: 10}, "matches", 0.1)
    query = search.parse_query("text", "hit", "")
    context.update(
        mode="search", query=query, result=result, rows=views.message_rows(records), scanned=60, total=70,
        page_size=PAGE_SIZE, looked_down_to=[(0, 10)], continue_url="/next", all_partitions=[0],
    )  # fmt: skip

    html = TemplateResponse(request, views.TEMPLATE, context).render().content.decode()

    assert html.count('<tr class="message"') == PAGE_SIZE
    assert 'id="continue-link"' in html and f"next {PAGE_SIZE} older matches" in html
    assert html.count('<details class="value-more">') == 1  # only the long value is folded
    assert "2 more headers" in html
    assert "Cluster</a>\n› <a" in html and "Topics</a>\n› <a" not in html  # no "Topics › Topics"
