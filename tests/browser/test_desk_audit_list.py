"""The audit list at 1280 and 1440 px in real Chromium, beside the filters: every column inside the
viewport and wide enough to read, long outcomes cut to three lines, long names wrapped between words."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import User

from republish.models import AuditEntry, ReplayJob

from .conftest import assert_columns_inside
from .wrapping import broken_words

SCREENSHOTS = os.environ.get("DESK_SCREENSHOTS")  # a directory: also save what the test saw
COLUMNS = ("at_shown", "action_shown", "job_link", "record_count", "target_shown", "outcome_shown")
LONG_TOPIC = "billing.events.account-lifecycle.compacted-v2-eu-central-1"
# What a walkthrough's entries say: a stopped job's end, and a request that left records out.
OUTCOMES = [
    "republish job 2 stopped: 120 of 384 settled in 6 chunk(s): 120 republished, 0 failed, 0 skipped. "
    "First error: stopped by admin",
    "requested republish job 3 of 75 record(s) (left out 25 flagged record(s): event id already republished), "
    "waiting for a second operator's approval",
    "1 discarded, 0 skipped (already acted on): duplicate of a settled invoice, confirmed with ledger team",
    "1 republished",
]


# The lines each cell's text shows (a cut one hides the rest below its box).
LINES_SHOWN = "spans => spans.map(s => Math.round(s.clientHeight / parseFloat(getComputedStyle(s).lineHeight)))"


@pytest.fixture
def entries(transactional_db):
    user = User.objects.create_superuser("desk-auditor", password="desk-password")
    job = ReplayJob.objects.create(record_ids=list(range(1, 385)), total=384, state="stopped", requested_by=user)
    for n, outcome in enumerate(OUTCOMES):
        AuditEntry.objects.create(
            user=user, action=["job_ended", "bulk_republish", "discard", "edited_republish"][n],
            job=job if n < 2 else None, record_ids=[] if n == 0 else list(range(1, 76)),
            target_topic=["", LONG_TOPIC, "", "billing.transaction.events"][n], outcome=outcome,
        )  # fmt: skip


@pytest.mark.parametrize("width", [1280, 1440])
def test_every_column_of_the_audit_list_is_inside_the_viewport_and_readable(entries, live_server, page, log_in, width):
    page.set_viewport_size({"width": width, "height": 1000})
    log_in("desk-auditor", "desk-password")
    page.goto(f"{live_server.url}/admin/republish/auditentry/")
    page.wait_for_selector("#result_list")

    assert_columns_inside(page, COLUMNS, width)
    outcome = page.locator("#result_list th.column-outcome_shown").bounding_box()
    assert outcome is not None and outcome["width"] >= 150, outcome  # not the one-character sliver it was
    heights = page.locator("#result_list td.field-outcome_shown .rp-clamp").evaluate_all(LINES_SHOWN)
    assert max(heights) == 3 and min(heights) == 1, heights  # long ones cut to three lines, short ones whole
    titles = page.locator("#result_list td.field-outcome_shown .rp-clamp").evaluate_all(
        "spans => spans.map(s => s.title)"
    )
    assert sorted(titles) == sorted(OUTCOMES)  # the whole on hover
    # A time, an action and a usual topic wrap between words (the newest row's topic: wrapped at its dots).
    words = "#result_list td.field-at_shown, #result_list td.field-action_shown, #result_list tr:first-child td"
    assert broken_words(page, words) == []
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/audit-list-{width}.png", full_page=True)
