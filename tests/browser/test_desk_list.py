"""The dead-letter list at 1440 px (and 1280 px) in real Chromium: every triage column on screen."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from deadletter.models import DeadLetterRecord
from tests.deadletter import samples
from tests.deadletter.desk_support import store

from .conftest import assert_columns_inside
from .wrapping import broken_words, lines_of

TRIAGE_COLUMNS = ("error_shown", "status_shown", "age", "topic_shown", "account_shown", "event_type_shown", "assignee")
SCREENSHOTS = os.environ.get("DESK_SCREENSHOTS")  # a directory: also save what the test saw


@pytest.fixture
def records(transactional_db):
    """A morning's mix: every producer family, long Java class names, a long message."""
    long_error = [("x-error-type", b"org.springframework.dao.DataIntegrityViolationException")]
    rows = [store(n, b"acc_%d" % n, samples.billing_event(f"acc_{n}"), make()) for n, make in enumerate(samples.MIXED)]
    rows.append(store(50, b"acc_00223", samples.billing_event("acc_00223"), long_error + samples.billing_headers()[1:]))
    # Two minutes old: the age column reads "2 minutes", the widest usual age.
    DeadLetterRecord.objects.filter(pk=rows[-1].pk).update(timestamp=timezone.now() - timedelta(minutes=2, seconds=5))
    User.objects.create_superuser("desk", password="desk-password")
    return rows


@pytest.mark.parametrize("width", [1440, 1280])
def test_the_triage_columns_are_inside_the_viewport(records, live_server, page, log_in, width):
    page.set_viewport_size({"width": width, "height": 1000})
    log_in("desk", "desk-password")
    page.goto(f"{live_server.url}/admin/deadletter/deadletterrecord/")
    page.wait_for_selector("#result_list")
    assert_columns_inside(page, TRIAGE_COLUMNS, width)
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/list-{width}.png", full_page=True)


@pytest.mark.parametrize("width", [1440, 1280])
def test_text_wraps_between_words_never_inside_one(records, live_server, page, log_in, width):
    """Short values on one line, long names wrapped at spaces, dots and CamelCase words
    (DataIntegrity|Violation|Exception), never "2 minut|es" or "acc_002|23"."""
    page.set_viewport_size({"width": width, "height": 1000})
    log_in("desk", "desk-password")
    page.goto(f"{live_server.url}/admin/deadletter/deadletterrecord/?q=acc_00223")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list td.field-age").first.inner_text() == "2\xa0minutes"
    assert lines_of(page, "#result_list td.field-age") == 1
    assert page.locator("#result_list td.field-account_shown").first.inner_text() == "acc_00223"
    assert lines_of(page, "#result_list td.field-account_shown") == 1
    page.goto(f"{live_server.url}/admin/deadletter/deadletterrecord/")
    page.wait_for_selector("#result_list")
    if width >= 1440:  # at 1280 a word wider than its column (SerializationException's first) may still break
        assert broken_words(page) == []


def test_the_record_page_and_summary_keep_the_page_width(records, live_server, page, log_in):
    page.set_viewport_size({"width": 1440, "height": 1000})
    log_in("desk", "desk-password")
    for name, path in (
        ("record", f"/admin/deadletter/deadletterrecord/{records[1].pk}/change/"),
        ("summary", "/admin/deadletter/deadletterrecord/summary/"),
    ):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_selector("#content")
        assert page.evaluate("document.documentElement.scrollWidth") <= 1440, name
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/{name}-1440.png", full_page=True)
