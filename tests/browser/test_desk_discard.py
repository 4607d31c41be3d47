"""The bulk discard confirmation in headless Chromium at 1440x1000 (walkthrough): 40,000 selected
records summarised on a page whose reason and confirm button need no scrolling; Cancel returns to
the filtered list and nothing is discarded."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from deadletter.models import DeadLetterRecord, Review, Status
from tests.conftest import ensure_ops_groups

WIDTH, HEIGHT = 1440, 1000


@pytest.fixture
def operator_in(transactional_db, log_in, page):
    ensure_ops_groups()
    user = User.objects.create_user("olga", password="olga-password", is_staff=True)
    user.groups.add(Group.objects.get(name="Ops operator"))
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    log_in("olga", "olga-password")
    return user


def store(count: int, error_type: str, first_offset: int = 0) -> None:
    DeadLetterRecord.objects.bulk_create(
        [
            DeadLetterRecord(
                dlq_topic="test.desk-discard-browser-dlq",
                partition=0,
                offset=first_offset + n,
                key=f"acc_{n % 300}".encode(),
                key_text=f"acc_{n % 300}",
                value=b'{"eventType": "LedgerPosted"}',
                original_topic="billing.ledger.events",
                error_type=error_type,
            )
            for n in range(count)
        ],
        batch_size=5000,
    )


def test_a_40000_record_discard_confirmation_shows_reason_and_button_without_scrolling(operator_in, live_server, page):
    store(40_000, "LedgerTimeoutError")
    store(10, "InsufficientFundsError", first_offset=50_000)  # outside the list's filter
    # Refused by discard. By id: a join on 40,000 rows just written (no statistics yet) was planned as a
    # nested loop over both tables, minutes long.
    first = list(DeadLetterRecord.objects.order_by("pk").values_list("pk", flat=True)[:25])
    Review.objects.filter(record_id__in=first).update(status=Status.REPUBLISHED)
    listing = f"{live_server.url}/admin/deadletter/deadletterrecord/?error_type=LedgerTimeoutError"

    page.goto(listing)
    page.check("#action-toggle")
    page.locator(".actions .question a, .actions a.question").first.click()  # select all 40,000
    page.select_option("select[name=action]", "discard_selected")
    page.click("button[name=index]")

    expect(page.locator("#discard-summary")).to_contain_text("40000 dead letters selected: 39975 will be marked")
    expect(page.locator("#discard-refused")).to_have_text("25")
    expect(page.locator("#discard-by-status tr[data-status=republished]")).to_contain_text("refused")
    for element in ("#id_reason", "#discard-submit", "#discard-cancel"):
        box = page.locator(element).bounding_box()
        assert box is not None and box["y"] + box["height"] <= HEIGHT, (element, box)  # seen without scrolling
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= HEIGHT + 200, height  # bounded, whatever the selection's size
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    assert page.locator("#content input[type=submit]").count() == 1
    page.click("#discard-cancel")
    page.wait_for_url(listing)  # its filter kept
    assert not Review.objects.filter(status=Status.DISCARDED).exists()
