"""Compact pages without Kafka: readable configs and time lags, value previews, and the mirror
lists fitting a 1440 px window in real Chromium (rows made in the database, no cluster needed)."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from opsportal import kafka
from opsportal.text import breakable
from tests.browser.conftest import browser, log_in, page  # noqa: F401 - the browser fixtures
from tests.browser.wrapping import broken_words
from topics import display, stuck
from topics.admin import config_rows, readable_config
from topics.models import ConsumerGroup, Partition, Topic


def broken_at_hyphens_only(tab, word: str) -> bool:  # type: ignore[no-untyped-def]
    """A word split across lines only at its hyphens or soft hyphens (the browser's own breaks there)."""
    if "\u00ad" in word:  # a soft hyphen is a break the page asks for ("coordi-nator")
        return True
    pieces = word.split("-")
    return len(pieces) > 1 and not [piece for piece in broken_pieces(tab) if piece in pieces]


def broken_pieces(tab) -> list[str]:  # type: ignore[no-untyped-def]
    """The pieces between hyphens that are themselves split across lines."""
    return tab.evaluate(_PIECES_SPLIT)


_PIECES_SPLIT = """(() => {
  const out = [];
  for (const cell of document.querySelectorAll('#result_list td, #result_list th')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/[^\\s-]+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const rects = [...range.getClientRects()].filter(r => r.width > 0);
        if (new Set(rects.map(r => Math.round(r.top))).size > 1) out.push(match[0]);
      }
    }
  }
  return out;
})()"""


def test_config_values_read_as_people_say_them() -> None:
    assert readable_config("retention.ms", "-1") == "forever"
    assert readable_config("retention.bytes", "-1") == "unlimited"
    assert readable_config("max.compaction.lag.ms", "9223372036854775807") == "unlimited"
    assert readable_config("retention.ms", "604800000") == "7 d"
    assert readable_config("segment.ms", "7200000") == "2 h"
    assert readable_config("file.delete.delay.ms", "60000") == "60 s"
    assert readable_config("cleanup.policy", "compact,delete") == "compact,delete"


def test_overrides_come_first_and_defaults_apart() -> None:
    overrides, defaults = config_rows(
        {
            "segment.bytes": ["1073741824", "DEFAULT_CONFIG"],
            "retention.ms": ["-1", "DYNAMIC_TOPIC_CONFIG"],
            "min.insync.replicas": ["2", "STATIC_BROKER_CONFIG"],
            "cleanup.policy": ["delete", "DEFAULT_CONFIG"],
        }
    )
    assert [(c["key"], c["value"], c["raw"]) for c in overrides] == [
        ("min.insync.replicas", "2", ""),
        ("retention.ms", "forever", "-1"),
    ]
    assert [c["key"] for c in defaults] == ["cleanup.policy", "segment.bytes"]


def test_names_may_break_after_their_dots_and_are_escaped() -> None:
    assert breakable("billing.transaction.events") == "billing.<wbr>transaction.<wbr>events"
    assert breakable("a<b>.c[1]") == "a&lt;b&gt;.<wbr>c<wbr>[1]"


def test_time_lags_are_rounded_to_the_second() -> None:
    assert stuck.human_duration(timedelta(seconds=73.4)) == "1 min 13 s"
    assert stuck.human_duration(timedelta(seconds=0.2)) == "0 s"
    assert stuck.human_duration(timedelta(hours=2, seconds=5)) == "2 h 0 min 5 s"


def test_event_type_from_the_value_or_a_header() -> None:
    body = json.dumps({"eventId": "e1", "eventType": "PaymentCaptured"}).encode()
    assert stuck.event_type(kafka.Record("t", 0, 1, None, b"k", body, ())) == "PaymentCaptured"
    assert stuck.event_type(kafka.Record("t", 0, 1, None, b"k", b"x", [("x-event-type", b"Refund")])) == "Refund"
    assert stuck.event_type(kafka.Record("t", 0, 1, None, b"k", b"{not json", ())) == ""


def test_a_long_value_gets_a_short_preview() -> None:
    long_json = display.show(json.dumps({"eventId": "ev-1", "items": list(range(200))}).encode())
    preview = display.preview(long_json)
    assert preview.startswith('{ "eventId": "ev-1"') and len(preview) <= display.PREVIEW_CHARS + 1
    assert display.preview(display.show(b'{"a": 1}')) == ""  # short: shown whole, no preview
    assert display.preview(display.show(None)) == ""


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 1440, 1920])
def test_the_topic_and_group_lists_fit_the_window(live_server, page, log_in, width: int) -> None:  # noqa: F811
    now = timezone.now()
    for i in range(3):
        Topic.objects.create(
            name=f"billing.transaction.events-with-a-long-name-{i}",
            partition_count=10,
            replication_factor=3,
            retention_ms="-1",
            approx_messages=1_234_567_890,
            last_synced=now,
        )
        ConsumerGroup.objects.create(
            group_id=f"billing-notifications-svc-with-a-long-name-{i}",
            state="PREPARING_REBALANCE" if i else "EMPTY",
            protocol_type="consumer",
            member_count=12,
            coordinator=3,
            total_lag=123_456_789,
            last_synced=now,
            vanished_at=now if i == 2 else None,
        )
    User.objects.create_superuser("ops-admin", "ops@example.com", "correct horse battery")
    page.set_viewport_size({"width": width, "height": 900})
    log_in("ops-admin", "correct horse battery")

    for url in (
        reverse("admin:topics_topic_changelist"),
        f"{reverse('admin:topics_consumergroup_changelist')}?vanished=all",
    ):
        page.goto(f"{live_server.url}{url}")
        assert page.locator("#result_list tbody tr").count() == 3
        assert page.evaluate("document.documentElement.scrollWidth") <= width, url
        # Every column inside the list's box, the last ("last synced") included.
        overflow = page.evaluate(
            """(() => {
                const box = document.querySelector('#changelist .results').getBoundingClientRect();
                return [...document.querySelectorAll('#result_list th, #result_list td')]
                    .filter(c => c.getBoundingClientRect().right > box.right + 1 || c.scrollWidth > c.clientWidth + 1)
                    .map(c => `${c.className}: ${c.textContent.trim()} ${c.scrollWidth}/${c.clientWidth}`);
            })()"""
        )
        assert overflow == [], url
        # Names wrap after their dots and hyphens, never inside a word ("billing.transaction.e vents").
        assert [w for w in broken_words(page) if not broken_at_hyphens_only(page, w)] == [], url
        if os.environ.get("LAYOUT_SCREENSHOTS"):  # to look at: a folder to write them to
            name = "groups" if "consumergroup" in url else "topics"
            page.screenshot(path=f"{os.environ['LAYOUT_SCREENSHOTS']}/{name}-{width}.png")
    # A state is one word per line at most, never cut inside a word ("EMPT Y").
    state = page.locator("td.field-state_shown").first
    assert state.inner_text() in ("Empty", "Preparing rebalance")
    assert page.evaluate(
        "(() => { const c = document.querySelector('td.field-state_shown'); return c.scrollWidth <= c.clientWidth; })()"
    )


@pytest.mark.django_db
def test_the_topic_page_shows_partitions_groups_then_configs(admin_client) -> None:
    topic = Topic.objects.create(
        name="billing.layout.events",
        partition_count=2,
        replication_factor=3,
        retention_ms="-1",
        last_synced=timezone.now(),
        configs={
            "retention.ms": ["-1", "DYNAMIC_TOPIC_CONFIG"],
            "max.message.bytes": ["1048588", "DEFAULT_CONFIG"],
            "max.compaction.lag.ms": ["9223372036854775807", "DEFAULT_CONFIG"],
        },
    )
    for number in range(2):
        Partition.objects.create(topic=topic, number=number, leader=1, replicas=[1, 2, 3], isr=[1, 2, 3])

    html = admin_client.get(reverse("admin:topics_topic_change", args=[topic.pk])).content.decode()

    # The partitions (their number a link to their messages), then the groups, then the configs.
    order = [html.index(mark) for mark in ('class="field-number_link"', 'id="topic-groups"', 'id="topic-configs"')]
    assert order == sorted(order)
    assert 'data-key="retention.ms"><td>retention.ms</td><td class="config-value">forever' in html
    defaults = html[html.index('id="config-defaults"') :]
    assert "2 defaults" in defaults and "unlimited" in defaults
    assert html.index('id="config-overrides"') < html.index('id="config-defaults"')
    assert '<link rel="icon" href="data:,">' in html  # no /favicon.ico request
