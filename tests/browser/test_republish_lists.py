"""The replays and replay-jobs lists at 1280, 1440 and 1920 px in real Chromium: every column
inside the viewport, no horizontal scrolling (long topic names, errors and ids wrap)."""

from __future__ import annotations

import os
import uuid

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from deadletter.models import DeadLetterRecord
from republish.models import Replay, ReplayJob
from tests.deadletter import samples
from tests.deadletter.desk_support import store

from .conftest import assert_columns_inside
from .wrapping import broken_words

SCREENSHOTS = os.environ.get("DESK_SCREENSHOTS")  # a directory: also save what the test saw
LONG_TOPIC = "billing.events.account-lifecycle.compacted-v2-eu-central-1"
ERROR = 'KafkaError{code=MSG_SIZE_TOO_LARGE,val=10,str="Broker: Message size too large"} ' * 3
LISTS = {
    "replay": ("replay_shown", "state_shown", "written_to", "dead_letter_id", "job_id_shown", "created"),
    "replayjob": ("job_shown", "state", "progress", "target", "people", "created", "finished"),
}


@pytest.fixture
def replays_and_jobs(transactional_db):
    user = User.objects.create_superuser("desk", password="desk-password")
    rows = [store(n, b"acc_%d" % n, samples.billing_event(f"acc_{n}"), make()) for n, make in enumerate(samples.MIXED)]
    now = timezone.now()
    running = ReplayJob.objects.create(
        record_ids=[r.pk for r in rows], total=len(rows), done=3, failed=1, state="running", requested_by=user,
        started_at=now, progress_at=now, last_error=ERROR,
    )  # fmt: skip
    ReplayJob.objects.create(
        record_ids=[rows[0].pk], total=1, done=1, state="finished", target_topic=LONG_TOPIC, rate_limit=500,
        requested_by=user, approved_by=user, started_at=now, finished_at=now,
    )  # fmt: skip
    for n, row in enumerate(rows):
        written = n % 3 == 0
        Replay.objects.create(
            replay_id=uuid.uuid4(), record=row, job=running, state="republished" if written else "failed",
            target_topic=LONG_TOPIC, target_partition=n, start_offset=123456789 + n,
            offset=123456789 + n if written else None, edited=n % 2 == 0, error="" if written else ERROR,
            requested_by=user,
        )  # fmt: skip


@pytest.mark.parametrize("width", [1280, 1440, 1920])
@pytest.mark.parametrize("model", ["replay", "replayjob"])
def test_every_column_of_the_replay_lists_is_inside_the_viewport(
    replays_and_jobs, live_server, page, log_in, model, width
):
    page.set_viewport_size({"width": width, "height": 1000})
    log_in("desk", "desk-password")
    page.goto(f"{live_server.url}/admin/republish/{model}/")
    page.wait_for_selector("#result_list")
    assert_columns_inside(page, LISTS[model], width)
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/{model}-list-{width}.png", full_page=True)


@pytest.mark.parametrize("width", [1280, 1440])
def test_where_a_replay_was_written_wraps_between_its_parts(replays_and_jobs, live_server, page, log_in, width):
    """billing.account.events[5]@367 wraps after a dot or before [ or @, never as "events[5]@3|67"."""
    user = User.objects.get(username="desk")
    job = ReplayJob.objects.get(state="running")
    for n, record in enumerate(DeadLetterRecord.objects.order_by("pk")[:3]):
        Replay.objects.create(
            replay_id=uuid.uuid4(), record=record, job=job, state="republished", target_topic="billing.account.events",
            target_partition=5, start_offset=360 + n, offset=367 + n, requested_by=user,
        )  # fmt: skip
    page.set_viewport_size({"width": width, "height": 1000})
    log_in("desk", "desk-password")
    page.goto(f"{live_server.url}/admin/republish/replay/?target_topic=billing.account.events")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list td.field-written_to").count() == 3
    assert broken_words(page) == []
