"""After a bulk republish the operator lands on the job's page, the message linking to it; the page
names the job without counts (they are the live part, which polling keeps current) and its crumbs
lead up without repeating the headings (issue 17, review-desk follow-up)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from deadletter.models import DeadLetterRecord
from republish import jobs
from republish.models import Replay, ReplayJob
from tests.pages import crumbs_and_headings, signed_in

from .conftest import CHANGELIST, billing_event, bulk_republish, messages_of

JOB_PAGE = "admin:republish_replayjob_change"
pytestmark = pytest.mark.django_db


def store(count: int, original_topic: str) -> list[DeadLetterRecord]:
    return DeadLetterRecord.objects.bulk_create(
        [
            DeadLetterRecord(
                dlq_topic="test.desk-job-page-dlq",
                partition=0,
                offset=n,
                key=f"acc_{n}".encode(),
                key_text=f"acc_{n}",
                value=billing_event(f"acc_{n}"),
                headers=[["x-error-type", "RXJy"]],
                original_topic=original_topic,
                original_partition=0,
                original_offset=n,
            )
            for n in range(count)
        ]
    )


def assert_each_crumb_once(html: str) -> list[str]:
    crumbs, _ = crumbs_and_headings(html)
    assert len(crumbs) == len(set(crumbs)), crumbs
    return crumbs


def test_a_bulk_republish_lands_on_its_job_page_with_a_message_linking_to_it(operator, original_topic):
    rows = store(3, original_topic)

    response = bulk_republish(signed_in(operator), rows)

    job = ReplayJob.objects.get()
    url = reverse(JOB_PAGE, args=[job.pk])
    assert response.redirect_chain == [(url, 302)]
    assert f'<a href="{url}">{job.pk}</a>' in messages_of(response)[0]
    assert 'id="job-live"' in response.content.decode()


def test_a_bulk_republish_that_cannot_start_stays_on_the_list(operator, original_topic):
    rows = store(2, original_topic)  # both discarded after the confirmation page was built
    for row in rows:
        row.review.status = "discarded"
        row.review.save()

    response = bulk_republish(signed_in(operator), rows)

    assert response.redirect_chain == [(reverse(CHANGELIST), 302)]
    assert not ReplayJob.objects.exists()


def test_the_job_page_heading_names_the_job_without_counts_that_would_go_stale(operator):
    job = jobs.create_job([1, 2, 3, 4, 5, 6, 7, 8], user=operator)
    ReplayJob.objects.filter(pk=job.pk).update(state="running", done=3, failed=1, started_at=timezone.now())

    html = signed_in(operator).get(reverse(JOB_PAGE, args=[job.pk])).content.decode()

    _, headings = crumbs_and_headings(html)
    assert f"Republish job {job.pk} · 8 records" in headings
    assert not any(re.search(r"\d+/\d+|done|failed", heading) for heading in headings), headings
    # The counts are shown once, in the live box polling updates, not again in fields it does not.
    assert 'id="job-settled">4<' in html
    assert not re.search(r'class="[^"]*field-(state|total|done|failed|skipped|last_error)\b', html)


def test_the_job_replay_and_record_pages_show_each_crumb_once_ending_at_the_object(operator, original_topic):
    """Django's trail: up to the list, then the object itself (as the subtitle names it too)."""
    row = store(1, original_topic)[0]
    job = jobs.create_job([row.pk], user=operator)
    replay = Replay.objects.create(record=row, job=job, target_topic=original_topic, target_partition=0, start_offset=0)
    client = signed_in(operator)

    for url, obj in (
        (reverse(JOB_PAGE, args=[job.pk]), job),
        (reverse("admin:republish_replay_change", args=[replay.pk]), replay),
        (reverse("admin:deadletter_deadletterrecord_change", args=[row.pk]), row),
        (reverse("admin:deadletter_deadletterrecord_republish", args=[row.pk]), row),  # the question is the heading
    ):
        crumbs = assert_each_crumb_once(client.get(url).content.decode())
        assert crumbs[0] == "Home" and crumbs[-1] == str(obj), (url, crumbs)
