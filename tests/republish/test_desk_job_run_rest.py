"""A stopped job (walkthrough): its closing audit entry says it was stopped, by whom and after how
many of how many, instead of calling the stop its first error (real first errors stay); its page
runs the rest with a POST button that does what the jobs list's action does, under the same checks."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from deadletter.models import DeadLetterRecord
from republish import jobs, runner
from republish.models import AuditEntry, ReplayJob
from tests.pages import signed_in

from .conftest import (
    JOBS,
    billing_event,
    bulk_republish,
    messages_of,
    read_partition,
    stop_at_the_first_pause,
    wait_for_metadata,
)

JOB_PAGE = "admin:republish_replayjob_change"


def store(count: int, original_topic: str) -> list[int]:
    rows = DeadLetterRecord.objects.bulk_create(
        [
            DeadLetterRecord(
                dlq_topic="test.desk-run-rest-dlq",
                partition=0,
                offset=n,
                key=f"acc_{n}".encode(),
                value=billing_event(f"acc_{n}"),
                original_topic=original_topic,
                original_partition=0,
                original_offset=n,
            )
            for n in range(count)
        ]
    )
    return [row.pk for row in rows]


def stopped_job(operator, count: int = 5, done: int = 2) -> ReplayJob:
    job = jobs.create_job(store(count, "test.nowhere"), user=operator)
    ReplayJob.objects.filter(pk=job.pk).update(state=ReplayJob.State.RUNNING, done=done)
    assert jobs.request_stop(job, user=operator)
    job.refresh_from_db()
    return job


def ended(job: ReplayJob) -> AuditEntry:
    return AuditEntry.objects.get(job=job, action=AuditEntry.Action.JOB_ENDED)


@pytest.mark.django_db(transaction=True)
def test_a_job_stopped_from_its_page_ends_as_a_stop_and_its_page_runs_the_rest_into_kafka_once(
    make_topic, cluster, operator, monkeypatch, task_queue
):
    target = make_topic(partitions=1, prefix="test.desk-run-rest")
    wait_for_metadata(cluster, target)
    ids = store(8, target)
    job = jobs.create_job(ids, user=operator, rate_limit=2)  # chunks of 2
    client = signed_in(operator)
    stops = stop_at_the_first_pause(client, job, monkeypatch)
    runner.run_job(job.pk)
    assert stops[0].status_code == 302  # pressed once, between the first two chunks

    end = ended(job)
    assert end.outcome == (
        f"republish job {job.pk} stopped: 2 of 8 settled in 1 chunk(s): 2 republished, 0 failed, 0 skipped. "
        "Stopped by olga-operator after 2 of 8 sent"
    )
    assert end.details["errors"] == [] and end.details["stopped_by"] == "olga-operator"

    page = client.get(reverse(JOB_PAGE, args=[job.pk])).content.decode()
    rest_url = reverse("admin:republish_replayjob_rest", args=[job.pk])
    form = page[page.index(f'<form method="post" action="{rest_url}">') :]
    assert form.index('name="csrfmiddlewaretoken"') < form.index('id="job-run-rest"') < form.index("</form>")

    response = client.post(rest_url, follow=True)

    rest = ReplayJob.objects.exclude(pk=job.pk).get()
    assert response.redirect_chain == [(reverse(JOB_PAGE, args=[rest.pk]), 302)]
    assert messages_of(response) == [f"Job {rest.pk} created for the 6 record(s) job {job.pk} did not get to."]
    assert (rest.record_ids, rest.state, rest.rate_limit) == (ids[2:], ReplayJob.State.QUEUED, 2)
    assert task_queue.sent() == [("republish.run_replay_job", (rest.pk,))]
    monkeypatch.setattr(runner.time, "sleep", lambda seconds: None)
    runner.run_job(rest.pk)
    keys = sorted(record.key for record in read_partition(cluster, target, 0))
    assert keys == sorted(f"acc_{n}".encode() for n in range(8))  # every record once: none twice, none lost


@pytest.mark.django_db
def test_each_way_of_creating_a_job_says_so_in_exactly_one_message(
    dead_letters, operator, four_eyes_on_the_original_topic
):
    """The walkthrough saw an empty second message after a job was created; not reproduced on any
    of these paths (see the report): this keeps each of them at one message with text."""
    rows = dead_letters([(f"acc_m{n}".encode(), billing_event(f"acc_m{n}")) for n in range(3)])
    client = signed_in(operator)
    bulk = bulk_republish(client, rows[:2])
    single = client.post(
        reverse("admin:deadletter_deadletterrecord_republish", args=[rows[2].pk]), {"post": "yes"}, follow=True
    )
    job = ReplayJob.objects.order_by("pk").first()
    assert job is not None
    ReplayJob.objects.filter(pk=job.pk).update(state=ReplayJob.State.STOPPED)
    rest = client.post(reverse("admin:republish_replayjob_rest", args=[job.pk]), follow=True)

    for response in (bulk, single, rest):
        shown = messages_of(response)
        assert len(shown) == 1 and shown[0].strip(), shown
        listed = re.search(r'<ul class="messagelist">(.*?)</ul>', response.content.decode(), re.S)
        assert listed is not None
        items = re.findall(r"<li[^>]*>(.*?)</li>", listed.group(1), re.S)
        assert len(items) == 1 and items[0].strip(), items


@pytest.mark.django_db
def test_a_real_first_error_stays_the_first_error_beside_the_stop(operator):
    by_operator = stopped_job(operator)
    on_its_own = jobs.create_job([1, 2], user=operator)
    ReplayJob.objects.filter(pk=on_its_own.pk).update(
        state=ReplayJob.State.STOPPED, last_error="stopped: the chunk could not be settled: connection lost"
    )

    jobs.audit_end(by_operator, ["target topic 'billing.gone' does not exist in the cluster"])
    jobs.audit_end(on_its_own)

    assert ended(by_operator).outcome.endswith(
        "Stopped by olga-operator after 2 of 5 sent. First error: target topic 'billing.gone' does not exist in the "
        "cluster"
    )
    assert ended(on_its_own).outcome.endswith("First error: stopped: the chunk could not be settled: connection lost")
    assert "Stopped by" not in ended(on_its_own).outcome


@pytest.mark.django_db
def test_run_the_rest_is_offered_on_a_stopped_jobs_page_only(operator):
    stopped = stopped_job(operator)
    finished = jobs.create_job([1], user=operator)
    ReplayJob.objects.filter(pk=finished.pk).update(state=ReplayJob.State.FINISHED, done=1)
    client = signed_in(operator)

    assert 'id="job-run-rest"' in client.get(reverse(JOB_PAGE, args=[stopped.pk])).content.decode()
    assert 'id="job-run-rest"' not in client.get(reverse(JOB_PAGE, args=[finished.pk])).content.decode()


@pytest.mark.django_db
def test_the_pages_run_the_rest_needs_a_post_and_the_bulk_republish_permission(operator, viewer):
    job = stopped_job(operator)
    url = reverse("admin:republish_replayjob_rest", args=[job.pk])

    page = signed_in(viewer).get(reverse(JOB_PAGE, args=[job.pk])).content.decode()
    by_viewer = signed_in(viewer).post(url)
    by_get = signed_in(operator).get(url)

    assert 'id="job-run-rest"' not in page
    assert (by_viewer.status_code, by_get.status_code) == (403, 403)
    assert ReplayJob.objects.count() == 1


@pytest.mark.django_db
def test_the_rest_of_an_edited_job_needs_the_edited_republish_permission_as_on_the_list(operator):
    job = stopped_job(operator, count=1, done=0)
    ReplayJob.objects.filter(pk=job.pk).update(edit={"value": "e30=", "headers": [], "diff": "-{}\n+{}"})
    bulk_only = User.objects.create_user("bulk-only", is_staff=True)
    bulk_only.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_replayjob", "bulk_republish", "view_deadletterrecord"])
    )
    client = signed_in(bulk_only)

    from_page = client.post(reverse("admin:republish_replayjob_rest", args=[job.pk]), follow=True)
    from_list = client.post(reverse(JOBS), {"action": "run_the_rest", "index": "0", "_selected_action": [job.pk]})

    refusal = f"job {job.pk} sends an edited value: that needs the edited-republish permission"
    assert messages_of(from_page) == [refusal]
    assert from_page.redirect_chain == [(reverse(JOB_PAGE, args=[job.pk]), 302)]
    assert from_list.status_code == 302
    assert ReplayJob.objects.count() == 1
