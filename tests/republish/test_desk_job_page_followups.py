"""The job page after the walkthrough: a stopped job whose rest was run links the job its rest was
queued as; a job awaiting approval is approved or rejected on its own page, with the list actions'
checks and functions (nobody approves their own request; a reject asks why first)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deadletter.models import DeadLetterRecord
from republish import jobs
from republish.models import AuditEntry, ReplayJob
from tests.pages import signed_in

from .conftest import billing_event, messages_of

pytestmark = pytest.mark.django_db

JOB_PAGE = "admin:republish_replayjob_change"
REASON = "wrong target: the ledger consumer is being migrated today"


def store(count: int) -> list[int]:
    rows = DeadLetterRecord.objects.bulk_create(
        [
            DeadLetterRecord(
                dlq_topic="test.desk-followups-dlq",
                partition=0,
                offset=n,
                key=f"acc_{n}".encode(),
                value=billing_event(f"acc_{n}"),
                original_topic="test.nowhere",
                original_partition=0,
                original_offset=n,
            )
            for n in range(count)
        ]
    )
    return [row.pk for row in rows]


def page_of(client, job: ReplayJob) -> str:
    return client.get(reverse(JOB_PAGE, args=[job.pk])).content.decode()


def form_posting_to(html: str, url: str) -> str:
    start = html.index(f'<form method="post" action="{url}">')
    return html[start : html.index("</form>", start)]


def waiting_job(operator) -> ReplayJob:
    return jobs.create_job(store(3), user=operator, awaiting_approval=True)


def test_a_stopped_jobs_page_links_the_job_its_rest_was_queued_as(operator, task_queue):
    job = jobs.create_job(store(5), user=operator)
    ReplayJob.objects.filter(pk=job.pk).update(state=ReplayJob.State.RUNNING, done=2)
    assert jobs.request_stop(job, user=operator)
    client = signed_in(operator)
    rest_url = reverse("admin:republish_replayjob_rest", args=[job.pk])
    before = page_of(client, job)
    assert 'id="job-rest-queued"' not in before and f'action="{rest_url}"' in before

    client.post(rest_url)

    rest = ReplayJob.objects.exclude(pk=job.pk).get()
    html = page_of(client, job)
    assert f'action="{rest_url}"' not in html  # not offered again while its rest is still to run
    link = f'<a href="{reverse(JOB_PAGE, args=[rest.pk])}" id="job-rest-job-link">job {rest.pk}</a>'
    assert f'<span id="job-rest-queued">The rest was queued as {link} (queued).</span>' in html
    assert jobs.rest_job(rest) is None  # the rest of no job of its own


def test_the_rest_of_job_1_is_not_taken_for_the_rest_of_job_12(operator):
    other = jobs.create_job(store(1), user=operator, note=jobs.REST_OF.format(12))
    job = ReplayJob.objects.get(pk=other.pk)
    assert jobs.rest_job(ReplayJob(pk=1)) is None
    assert jobs.rest_job(ReplayJob(pk=12)) == job


def test_an_approver_approves_a_waiting_job_on_its_page(
    operator, second_operator, task_queue, django_capture_on_commit_callbacks
):
    job = waiting_job(operator)
    client = signed_in(second_operator)
    approve_url = reverse("admin:republish_replayjob_approve", args=[job.pk])
    form = form_posting_to(page_of(client, job), approve_url)
    assert 'name="csrfmiddlewaretoken"' in form and 'id="job-approve"' in form

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(approve_url, follow=True)

    assert response.redirect_chain == [(reverse(JOB_PAGE, args=[job.pk]), 302)]
    assert messages_of(response) == [f"Job {job.pk} approved and queued."]
    job.refresh_from_db()
    assert (job.state, job.approved_by) == (ReplayJob.State.QUEUED, second_operator)
    assert task_queue.sent() == [("republish.run_replay_job", (job.pk,))]
    assert AuditEntry.objects.filter(job=job, action=AuditEntry.Action.APPROVE, user=second_operator).exists()
    assert 'id="job-approve"' not in page_of(client, job)  # approved: nothing left to approve


def test_the_requester_is_offered_no_approve_and_is_refused_one(operator, task_queue):
    job = waiting_job(operator)
    client = signed_in(operator)
    html = page_of(client, job)
    assert 'id="job-approve"' not in html and 'id="job-reject"' in html  # rejecting their own is cancelling

    response = client.post(reverse("admin:republish_replayjob_approve", args=[job.pk]), follow=True)

    assert messages_of(response) == ["four-eyes: a second operator must approve this republish, not its requester"]
    job.refresh_from_db()
    assert job.state == ReplayJob.State.AWAITING_APPROVAL and task_queue.sent() == []


def test_a_viewer_is_offered_neither_and_may_do_neither(operator, viewer):
    job = waiting_job(operator)
    client = signed_in(viewer)
    html = page_of(client, job)
    assert 'id="job-approve"' not in html and 'id="job-reject"' not in html

    for name in ("approve", "reject"):
        assert client.post(reverse(f"admin:republish_replayjob_{name}", args=[job.pk])).status_code == 403
    assert client.get(reverse("admin:republish_replayjob_approve", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.state == ReplayJob.State.AWAITING_APPROVAL


def test_reject_on_the_job_page_asks_why_then_rejects_and_returns_to_the_page(operator, second_operator):
    job = waiting_job(operator)
    client = signed_in(second_operator)
    reject_url = reverse("admin:republish_replayjob_reject", args=[job.pk])
    assert 'id="job-reject"' in form_posting_to(page_of(client, job), reject_url)

    confirmation = client.post(reject_url)

    html = confirmation.content.decode()
    assert confirmation.status_code == 200 and '<textarea name="reason"' in html
    assert f'href="{reverse(JOB_PAGE, args=[job.pk])}" class="button cancel-link" id="confirm-cancel"' in html
    job.refresh_from_db()
    assert job.state == ReplayJob.State.AWAITING_APPROVAL
    refused = client.post(reject_url, {"post": "yes", "reason": "  "})
    assert "This field is required." in refused.content.decode()

    response = client.post(reject_url, {"post": "yes", "reason": REASON}, follow=True)

    assert response.redirect_chain == [(reverse(JOB_PAGE, args=[job.pk]), 302)]
    assert messages_of(response) == ["1 job rejected."]
    job.refresh_from_db()
    assert job.state == ReplayJob.State.REJECTED
    entry = AuditEntry.objects.get(action=AuditEntry.Action.REJECT)
    assert (entry.user, entry.details) == (second_operator, {"reason": REASON})


def test_a_second_run_the_rest_is_refused_while_the_first_rest_is_still_to_run(operator, task_queue):
    job = jobs.create_job(store(5), user=operator)
    ReplayJob.objects.filter(pk=job.pk).update(state=ReplayJob.State.RUNNING, done=2)
    assert jobs.request_stop(job, user=operator)
    job.refresh_from_db()
    first = jobs.rest_of(job, user=operator)

    with pytest.raises(jobs.RepublishRefused, match=f"already job {first.pk}"):
        jobs.rest_of(job, user=operator)

    ReplayJob.objects.filter(pk=first.pk).update(state=ReplayJob.State.FINISHED)
    assert jobs.rest_of(job, user=operator).pk != first.pk  # once that one ran, what is left may be run again
