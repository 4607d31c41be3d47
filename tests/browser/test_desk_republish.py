"""The review desk's republish pages in headless Chromium at 1440 px (issue 17 items 2, 5, 7):
broken JSON refused with its line and column and a readable diff, a 40,000-record bulk
confirmation of bounded height with one button and a cancel, the job page's live progress and stop."""

from __future__ import annotations

import os
import threading

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from playwright.sync_api import expect

from deadletter.models import DeadLetterRecord, Review, Status
from republish import jobs, runner
from republish.edits import pretty
from republish.models import Replay, ReplayJob
from tests.conftest import ensure_ops_groups
from tests.republish.conftest import billing_event, wait_for_metadata

WIDTH = 1440
MALFORMED = (
    b'{"eventId": "fbc48b1a", "eventType": "TransactionSettled", "aggregateId": "acc_44", '
    b'"payload": {"transactionId": "tx_100226", "amount": "1834.52", "currency": "CHF"}, '
    b'"metadata": {"correlationId": "c366048f", "source": "payments-api"},}'
)


def shot(page, name: str) -> None:
    folder = os.environ.get("DESK_SCREENSHOTS")
    if folder:
        page.screenshot(path=f"{folder}/{name}.png", full_page=True)


@pytest.fixture
def operator_in(transactional_db, log_in, page):
    ensure_ops_groups()
    user = User.objects.create_user("olga", password="olga-password", is_staff=True)
    user.groups.add(Group.objects.get(name="Ops operator"))
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    log_in("olga", "olga-password")
    return user


@pytest.fixture
def original(make_topic, cluster) -> str:
    topic = make_topic(partitions=5, prefix="test.desk-browser")
    wait_for_metadata(cluster, topic)
    return topic


def store(count: int, topic: str, value: bytes | None = None) -> list[DeadLetterRecord]:
    return DeadLetterRecord.objects.bulk_create(
        [
            DeadLetterRecord(
                dlq_topic="test.desk-browser-dlq",
                partition=0,
                offset=n,
                key=f"acc_{n % 300}".encode(),
                key_text=f"acc_{n % 300}",
                value=value or billing_event(f"acc_{n % 300}", event_id=f"evt-{n}"),
                headers=[["traceparent", "MDAtYWJj"]],
                original_topic=topic,
                original_partition=0,
                original_offset=n,
                event_id=f"evt-{n}",
            )
            for n in range(count)
        ],
        batch_size=5000,
    )


def test_broken_json_is_refused_with_its_position_and_the_fix_shows_as_a_readable_diff(
    operator_in, original, live_server, page
):
    (row,) = store(1, original, MALFORMED)

    page.goto(f"{live_server.url}/admin/deadletter/deadletterrecord/{row.pk}/republish-edited/")
    editor = page.locator("#id_value")
    assert editor.input_value() == pretty(MALFORMED.decode())  # laid out: only whitespace between tokens
    expect(page.locator("#stored-problem")).to_contain_text("line 14, column 1")
    page.click("input[type=submit][value='Check the edit']")

    expect(page.locator(".errorlist")).to_contain_text("unchanged and still malformed JSON")
    expect(page.locator(".errorlist")).to_contain_text("line 14, column 1")
    assert page.locator("input[value='Yes, republish the edited copy']").count() == 0

    fixed = MALFORMED.decode().replace("},}", "}}").replace('"1834.52"', '"1843.52"')
    editor.fill(fixed)
    page.click("input[type=submit][value='Check the edit']")

    diff = page.locator("#edit-diff")
    expect(diff.locator(".removed", has_text='"amount"')).to_have_text('-    "amount": "1834.52",')
    expect(diff.locator(".added", has_text='"amount"')).to_have_text('+    "amount": "1843.52",')
    expect(diff.locator(".removed, .added")).to_have_count(4)  # amount, and the stray comma (no blank line)
    box = diff.bounding_box()
    assert box is not None and box["x"] + box["width"] <= WIDTH
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH  # nothing cut at the edge
    expect(page.locator("input[value='Yes, republish the edited copy']")).to_have_count(1)
    shot(page, "edit-page")


def test_a_40000_record_confirmation_is_short_with_one_button_and_a_cancel(operator_in, original, live_server, page):
    store(40_000, original)

    page.goto(f"{live_server.url}/admin/deadletter/deadletterrecord/?original_topic={original}")
    page.check("#action-toggle")
    page.locator(".actions .question a, .actions a.question").first.click()
    page.select_option("select[name=action]", "republish_selected")
    page.click("button[name=index]")

    expect(page.locator("#safety-scope")).to_contain_text("Checked all 40000 record(s)")
    assert page.locator("#content input[type=submit]").count() == 1
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 2500, height
    button = page.locator("#content input[type=submit]").bounding_box()
    assert button is not None and button["y"] < 600  # near the top, no scrolling
    shot(page, "bulk-confirmation")
    page.click("#bulk-cancel")
    page.wait_for_url(f"**/admin/deadletter/deadletterrecord/?original_topic={original}")  # its filters kept
    assert not ReplayJob.objects.exists()


def run_and_close(job_pk: int) -> None:
    try:
        runner.run_job(job_pk)
    finally:
        connection.close()  # this thread's own: the test database is dropped after the test


def test_the_job_page_shows_live_progress_and_stops_the_job_safely(operator_in, original, live_server, page):
    ids = [row.pk for row in store(40, original)]
    job = jobs.create_job(ids, user=operator_in, rate_limit=4)  # chunks of 4, one a second
    worker = threading.Thread(target=run_and_close, args=(job.pk,))
    worker.start()
    try:
        page.goto(f"{live_server.url}/admin/republish/replayjob/{job.pk}/change/")
        first = int(page.inner_text("#job-settled"))
        # Moves without a reload (the page polls its progress).
        page.wait_for_function(f"Number(document.getElementById('job-settled').textContent) > {first + 4}")
        expect(page.locator("#job-rate")).not_to_have_text("–")
        expect(page.locator("#job-eta")).to_contain_text(" s")
        shot(page, "job-page")
        page.click("#job-stop")
        expect(page.locator("#job-state")).to_have_text("Stopped", timeout=15_000)
    finally:
        worker.join(timeout=60)
    job.refresh_from_db()
    assert job.state == ReplayJob.State.STOPPED and 0 < job.done < job.total
    assert not Replay.objects.filter(state=Replay.State.PUBLISHING).exists()
    assert Review.objects.filter(pk__in=ids, status=Status.NEW).count() == job.total - job.done
