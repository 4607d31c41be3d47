"""In real Chromium at 1440 px: the job page's heading stays true while the live progress moves
(nothing outside the polled box shows a count), and the offset-reset preview's final button is red
like Django's delete, beside each partition's lag now and after."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import expect

from republish.models import ReplayJob
from tests.offsets.conftest import scenario  # noqa: F401 - the fixture, used by name

DJANGO_DELETE_RED = "rgb(186, 33, 33)"  # admin/css/base.css --delete-button-bg


@pytest.fixture
def desk(transactional_db, log_in, page):
    User.objects.create_superuser("desk", password="desk-password")
    page.set_viewport_size({"width": 1440, "height": 1000})
    log_in("desk", "desk-password")


def test_the_job_page_heading_does_not_go_stale_while_progress_updates(desk, live_server, page):
    now = timezone.now()
    job = ReplayJob.objects.create(
        record_ids=list(range(1, 9)), total=8, state="running", started_at=now, progress_at=now
    )
    page.goto(f"{live_server.url}/admin/republish/replayjob/{job.pk}/change/")
    heading = page.inner_text("#content h2")
    expect(page.locator("#job-settled")).to_have_text("0")

    ReplayJob.objects.filter(pk=job.pk).update(done=3, failed=1, progress_at=timezone.now())

    expect(page.locator("#job-settled")).to_have_text("4", timeout=10_000)  # polled, no reload
    assert page.inner_text("#content h2") == heading == f"Republish job {job.pk} · 8 records"
    outside_the_live_box = page.evaluate(
        "Array.from(document.querySelectorAll("
        "'#content-main > :not(#job-live), .breadcrumbs, #content > h1, #content > h2'"
        ")).map(e => e.innerText).join(' ')"
    )
    assert "Done" not in outside_the_live_box and "Failed" not in outside_the_live_box, outside_the_live_box


def test_the_reset_preview_button_is_red_and_the_lag_is_shown(desk, scenario, live_server, page):  # noqa: F811
    page.goto(f"{live_server.url}/admin/offsets/offsetreset/new/?group_id={scenario.group}")
    expect(page.locator("#id_topics")).to_have_value(scenario.topic)
    page.select_option("#id_reset_type", "to-offset")
    page.fill("#id_value", "7")
    page.click("input[name=preview]")

    submit = page.locator("input[type=submit][value='Yes, reset these offsets']")
    expect(submit).to_be_visible()
    assert submit.evaluate("e => getComputedStyle(e).backgroundColor") == DJANGO_DELETE_RED
    assert page.locator("td.lag-now").all_inner_texts() == ["6", "0", "-"]
    assert page.locator("td.lag-after").all_inner_texts() == ["3", "3", "0"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
