"""The browse-log list at 1440 px in real Chromium: a long detail wraps inside its column, the list
never scrolls sideways; and the topics list's "last synced" times carry their zone."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from tests.browser.conftest import browser, log_in, page  # noqa: F401 - the browser fixtures
from tests.browser.wrapping import broken_words
from topics.admin import short_time
from topics.models import BrowseLog


def test_a_time_of_today_says_its_zone() -> None:
    assert short_time(timezone.now()).endswith(" UTC</time>")


@pytest.mark.django_db(transaction=True)
def test_a_long_detail_wraps_inside_the_browse_log_list(live_server, page, log_in) -> None:  # noqa: F811
    shown = "; ".join(f"{p}: {380 + p}–{400 + p}" for p in range(10))
    for _ in range(3):
        BrowseLog.objects.create(
            username="admin",
            action="browse",
            topic="billing.transaction.events",
            partitions=",".join(map(str, range(10))),
            detail=f"offsets shown [from, to): {shown}",
        )
    User.objects.create_superuser("ops-admin", "ops@example.com", "correct horse battery")
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in("ops-admin", "correct horse battery")
    page.goto(f"{live_server.url}{reverse('admin:topics_browselog_changelist')}")

    assert page.locator("#result_list tbody tr").count() == 3
    assert page.evaluate("document.querySelector('#changelist .results').scrollWidth") <= page.evaluate(
        "document.querySelector('#changelist .results').clientWidth"
    )
    cut = page.evaluate(
        "[...document.querySelectorAll('#result_list td, #result_list tbody th')]"
        ".filter(c => c.scrollWidth > c.clientWidth + 1).length"
    )
    assert cut == 0
    assert broken_words(page) == []
