"""The job page after a stop and while it runs: a stop is a notice saying how many records were
not sent and where they are (not a red error); "Progress at" moves with the live box; the inline
replays say how many of how many they are."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from deadletter.models import Review, Status
from republish import jobs
from republish.models import Replay, ReplayJob
from tests.deadletter import samples
from tests.deadletter.desk_support import CHANGELIST, store
from tests.pages import signed_in

JOB_PAGE = "admin:republish_replayjob_change"
pytestmark = pytest.mark.django_db


@pytest.fixture
def records(db):
    return [store(n, b"acc_%d" % n, samples.billing_event(f"acc_{n}"), samples.billing_headers(n)) for n in range(25)]


def running_job(records, operator, settled: int) -> ReplayJob:
    job = jobs.create_job([r.pk for r in records], user=operator)
    for record in records[:settled]:
        Replay.objects.create(
            record=record, job=job, state="republished", target_topic="billing.transaction.events",
            target_partition=3, start_offset=1, offset=1,
        )  # fmt: skip
    Review.objects.filter(pk__in=[r.pk for r in records[:settled]]).update(status=Status.REPUBLISHED)
    now = timezone.now()
    ReplayJob.objects.filter(pk=job.pk).update(state="running", done=settled, started_at=now, progress_at=now)
    job.refresh_from_db()
    return job


def test_a_stopped_job_says_how_many_were_not_sent_and_links_to_them_not_as_an_error(records, operator):
    job = running_job(records, operator, settled=21)
    assert jobs.request_stop(job, user=operator)
    client = signed_in(operator)

    html = client.get(reverse(JOB_PAGE, args=[job.pk])).content.decode()

    assert 'id="job-error" class="errornote" style="display: none"></p>' in html  # no red box
    assert "Stopped by olga-operator." in html
    assert "4 records were not sent: they keep their status (New unless triaged)" in html
    url = f"{reverse(CHANGELIST)}?republish_job={job.pk}"
    assert f'<a href="{url}" id="job-rest-link">' in html
    listed = client.get(url).context["cl"].result_list
    assert sorted(r.pk for r in listed) == sorted(r.pk for r in records[21:])


def test_a_job_stopped_for_a_lost_worker_counts_its_chunk_in_flight_apart_for_reconcile(records, operator):
    job = running_job(records, operator, settled=21)
    for record in records[21:23]:  # the chunk in flight when the worker was lost: may have been written
        Replay.objects.create(
            record=record, job=job, state="publishing", target_topic="billing.transaction.events",
            target_partition=3, start_offset=1,
        )  # fmt: skip
    Review.objects.filter(pk__in=[r.pk for r in records[21:23]]).update(status=Status.PUBLISHING)
    ReplayJob.objects.filter(pk=job.pk).update(state="stopped", last_error="stopped: its worker was lost")
    client = signed_in(operator)

    html = client.get(reverse(JOB_PAGE, args=[job.pk])).content.decode()

    assert '<p id="job-error" class="errornote">stopped: its worker was lost</p>' in html
    assert "not sent" not in html
    assert "2 records were never taken up by it: they keep their status" in html
    assert "2 records were being published when it stopped: they may have been written" in html
    listed = client.get(f"{reverse(CHANGELIST)}?republish_job={job.pk}").context["cl"].result_list
    assert sorted(r.pk for r in listed) == sorted(r.pk for r in records[23:])


def test_progress_at_is_polled_with_the_live_box(records, operator):
    job = running_job(records, operator, settled=3)
    client = signed_in(operator)

    progress = client.get(reverse("admin:republish_replayjob_progress", args=[job.pk])).json()
    html = client.get(reverse(JOB_PAGE, args=[job.pk])).content.decode()

    assert progress["progress_at"] == timezone.localtime(job.progress_at).strftime("%Y-%m-%d %H:%M:%S %Z")
    assert 'document.querySelector(".field-progress_at .readonly")' in html and "p.progress_at" in html


def test_the_inline_replays_say_how_many_of_how_many_with_a_link_to_all(records, operator):
    job = running_job(records, operator, settled=25)

    html = signed_in(operator).get(reverse(JOB_PAGE, args=[job.pk])).content.decode()

    replays = f"{reverse('admin:republish_replay_changelist')}?job={job.pk}"
    assert f'20 of 25 replays shown, oldest first · <a href="{replays}">all 25</a>' in html
