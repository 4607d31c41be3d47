"""Rejecting a republish job from the jobs list (four-eyes, walkthrough): a confirmation page first,
naming the jobs and asking why; nothing changes until it is confirmed with a reason, which the job's
page and the audit keep; a rejected job never reaches Kafka."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from republish import jobs
from republish.models import AuditEntry, ReplayJob
from republish.tasks import run_replay_job
from tests.pages import signed_in

from .conftest import JOBS, billing_event, bulk_republish, messages_of, read_partition

pytestmark = pytest.mark.django_db

WAITING_LIST = f"{reverse(JOBS)}?state__exact=awaiting_approval"
REASON = "wrong target: the ledger consumer is being migrated today"


def waiting_job(operator, count: int = 3) -> ReplayJob:
    return jobs.create_job(list(range(1, count + 1)), user=operator, awaiting_approval=True)


def reject(client, selected: list[ReplayJob], reason: str | None = None, url: str = WAITING_LIST):
    data = {"action": "reject_jobs", "index": "0", "_selected_action": [job.pk for job in selected]}
    if reason is not None:
        data |= {"post": "yes", "reason": reason}
    return client.post(url, data, follow=reason is not None)


def test_reject_asks_for_a_reason_on_a_confirmation_page_and_changes_nothing_before(operator, second_operator):
    job = waiting_job(operator)

    page = reject(signed_in(second_operator), [job])

    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="{reverse("admin:republish_replayjob_change", args=[job.pk])}"' in html
    named = f"Republish job {job.pk} · 3 records to each record&#x27;s original topic, requested by olga-operator"
    assert named in html
    assert '<textarea name="reason"' in html and 'value="Yes, reject 1 job"' in html
    assert f'name="_selected_action" value="{job.pk}"' in html
    assert f'href="{WAITING_LIST}" class="button cancel-link" id="confirm-cancel"' in html  # the list, filtered
    job.refresh_from_db()
    assert job.state == ReplayJob.State.AWAITING_APPROVAL
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.REJECT).exists()


@pytest.mark.parametrize("reason", ["", "  \n  "])
def test_a_reject_without_a_reason_is_refused(operator, second_operator, reason):
    job = waiting_job(operator)

    page = reject(signed_in(second_operator), [job], reason)

    assert page.status_code == 200 and "This field is required." in page.content.decode()
    job.refresh_from_db()
    assert job.state == ReplayJob.State.AWAITING_APPROVAL
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.REJECT).exists()


def test_a_confirmed_reject_keeps_its_reason_on_the_job_page_and_in_the_audit(operator, second_operator):
    job = waiting_job(operator)
    client = signed_in(second_operator)

    response = reject(client, [job], f"  {REASON} ")

    assert messages_of(response) == ["1 job rejected."]
    assert response.redirect_chain[-1][0] == WAITING_LIST
    job.refresh_from_db()
    assert (job.state, job.skipped) == (ReplayJob.State.REJECTED, 3)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.REJECT)
    assert (entry.user, entry.job) == (second_operator, job)
    assert entry.outcome == f"rejected republish job {job.pk} of 3 record(s); nothing was sent: {REASON}"
    assert entry.details == {"reason": REASON}
    html = client.get(reverse("admin:republish_replayjob_change", args=[job.pk])).content.decode()
    assert "Rejected: nothing was sent (3 record(s) asked for)." in html
    assert f"By oscar-second-operator: “{REASON}”." in html
    assert 'id="job-error" class="errornote" style="display: none"></p>' in html  # a decision, not an error


def test_only_jobs_awaiting_approval_are_rejected_the_others_are_named_as_left_alone(operator, second_operator):
    waiting, queued = waiting_job(operator), jobs.create_job([7], user=operator)
    client = signed_in(second_operator)
    url = reverse(JOBS)

    page = reject(client, [waiting, queued], url=url)
    response = reject(client, [waiting, queued], REASON, url=url)

    html = page.content.decode()
    assert 'value="Yes, reject 1 job"' in html
    assert "1 of the selected jobs are not awaiting approval and are left as they are." in html
    assert len(re.findall(r"<li><a href=", html)) == 1
    assert messages_of(response) == ["1 job rejected."]
    states = dict(ReplayJob.objects.values_list("pk", "state"))
    assert states == {waiting.pk: ReplayJob.State.REJECTED, queued.pk: ReplayJob.State.QUEUED}


def test_rejecting_all_across_the_list_rejects_only_the_jobs_the_page_named(operator, second_operator):
    shown = waiting_job(operator)
    client = signed_in(second_operator)
    across = {"action": "reject_jobs", "index": "0", "select_across": "1", "_selected_action": [shown.pk]}
    page = client.post(WAITING_LIST, across)
    requested_meanwhile = waiting_job(operator)

    posted = re.findall(r'name="(select_across|_selected_action)" value="(\d+)"', page.content.decode())
    response = client.post(
        WAITING_LIST,
        {"action": "reject_jobs", "index": "0", "post": "yes", "reason": REASON}
        | {name: [value for n, value in posted if n == name] for name, _ in posted},
        follow=True,
    )

    assert messages_of(response) == ["1 job rejected."]
    states = dict(ReplayJob.objects.values_list("pk", "state"))
    assert states == {shown.pk: ReplayJob.State.REJECTED, requested_meanwhile.pk: ReplayJob.State.AWAITING_APPROVAL}


def test_a_selection_without_a_job_awaiting_approval_is_told_so_without_a_confirmation(operator, second_operator):
    queued = jobs.create_job([7], user=operator)

    response = signed_in(second_operator).post(
        reverse(JOBS), {"action": "reject_jobs", "index": "0", "_selected_action": [queued.pk]}, follow=True
    )

    assert messages_of(response) == ["None of the selected jobs awaits approval: nothing to reject."]
    queued.refresh_from_db()
    assert queued.state == ReplayJob.State.QUEUED


@pytest.mark.django_db(transaction=True)
def test_a_job_rejected_with_a_reason_sends_nothing_to_kafka(
    dead_letters, operator, second_operator, four_eyes_on_the_original_topic, cluster, task_queue
):
    rows = dead_letters([(b"acc_r1", billing_event("acc_r1")), (b"acc_r2", billing_event("acc_r2"))])
    bulk_republish(signed_in(operator), rows)
    job = ReplayJob.objects.get(state=ReplayJob.State.AWAITING_APPROVAL)
    ends = {p: read_partition(cluster, four_eyes_on_the_original_topic, p) for p in range(10)}

    reject(signed_in(second_operator), [job], REASON, url=reverse(JOBS))
    run_replay_job.apply(args=[job.pk])  # a task delivered anyway finds nothing to run

    job.refresh_from_db()
    assert (job.state, job.done) == (ReplayJob.State.REJECTED, 0)
    assert {p: read_partition(cluster, four_eyes_on_the_original_topic, p) for p in range(10)} == ends
    assert task_queue.sent() == []
