"""Bulk jobs at the review desk: one poisoned record does not sink its chunk (issue 16 item 3),
two audit entries a job (issue 17 item 6), the job page's progress and a safe stop (item 7),
Run the rest decided from every remaining record (issue 16 item 11), bad list input (item 6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from deadletter.models import DeadLetterRecord, Review, Status
from republish import jobs, runner
from republish.models import AuditEntry, Replay, ReplayJob
from tests.pages import signed_in

from .conftest import JOBS, billing_event, stop_at_the_first_pause, wait_for_metadata

JOB_PAGE = "admin:republish_replayjob_change"


def store(count: int, original_topic: str, offset: int = 0) -> list[int]:
    rows = DeadLetterRecord.objects.bulk_create(
        [
            DeadLetterRecord(
                dlq_topic="test.desk-jobs-dlq",
                partition=0,
                offset=offset + n,
                key=f"acc_{n}".encode(),
                value=billing_event(f"acc_{n}"),
                headers=[["x-error-type", "RXJy"]],
                original_topic=original_topic,
                original_partition=0,
                original_offset=offset + n,
            )
            for n in range(count)
        ]
    )
    return [row.pk for row in rows]


@pytest.fixture
def target(make_topic, cluster) -> str:
    topic = make_topic(partitions=1, prefix="test.desk-jobs")
    wait_for_metadata(cluster, topic)
    return topic


@pytest.mark.django_db(transaction=True)
def test_one_poisoned_record_does_not_sink_its_chunk(target, operator):
    ids = store(1, target) + store(1, "test.desk-jobs-never-created", offset=10) + store(1, "bad name!", offset=20)
    job = jobs.create_job(ids, user=operator)

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert (job.state, job.done, job.failed, job.skipped) == ("finished", 1, 2, 0)
    assert job.done + job.failed + job.skipped == job.total
    statuses = dict(Review.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert statuses == {ids[0]: Status.REPUBLISHED, ids[1]: Status.NEW, ids[2]: Status.NEW}
    ended = AuditEntry.objects.get(job=job, action=AuditEntry.Action.JOB_ENDED)
    assert ended.details["errors"] == [
        "target topic 'test.desk-jobs-never-created' does not exist in the cluster",
        "'bad name!' is not a valid Kafka topic name",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_job_writes_one_audit_entry_when_asked_and_one_when_it_ends(target, operator, monkeypatch):
    monkeypatch.setattr(jobs, "CHUNK_SIZE", 2)
    job = jobs.create_job(store(5, target), user=operator)

    runner.run_job(job.pk)

    entries = list(AuditEntry.objects.order_by("id").values_list("job_id", "action"))
    assert entries == [(job.pk, "bulk_republish"), (job.pk, "job_ended")]
    ended = AuditEntry.objects.get(action="job_ended")
    assert ended.outcome == (
        f"republish job {job.pk} finished: 5 of 5 settled in 3 chunk(s): 5 republished, 0 failed, 0 skipped"
    )
    assert ended.details["chunks"] == 3


@pytest.mark.django_db(transaction=True)
def test_stop_ends_a_running_job_between_chunks_and_leaves_the_rest_republishable(target, operator, monkeypatch):
    ids = store(8, target)
    job = jobs.create_job(ids, user=operator, rate_limit=2)  # chunks of 2
    client = signed_in(operator)
    stops = stop_at_the_first_pause(client, job, monkeypatch)

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert stops[0].status_code == 302
    assert (job.state, job.done, job.failed) == ("stopped", 2, 0)
    assert job.last_error == "stopped by olga-operator"
    assert not Replay.objects.filter(state=Replay.State.PUBLISHING).exists()  # nothing half-sent
    assert Review.objects.filter(pk__in=ids, status=Status.NEW).count() == 6
    assert jobs.rest_of(job, user=operator).record_ids == ids[2:]
    actions = list(AuditEntry.objects.filter(job=job).order_by("id").values_list("action", flat=True))
    assert actions == ["bulk_republish", "stop", "job_ended"]


@pytest.mark.django_db
def test_the_job_page_shows_progress_rate_eta_a_stop_button_and_links(operator):
    job = jobs.create_job(store(10, "test.nowhere"), user=operator)
    jobs.claim_for_run(job.pk)
    ReplayJob.objects.filter(pk=job.pk).update(done=4, skipped=1)
    client = signed_in(operator)

    page = client.get(reverse(JOB_PAGE, args=[job.pk]))
    progress = client.get(reverse("admin:republish_replayjob_progress", args=[job.pk])).json()

    html = page.content.decode()
    assert 'id="job-stop"' in html and 'id="job-bar"' in html
    assert f'href="/admin/republish/replay/?job={job.pk}"' in html
    assert (progress["settled"], progress["total"], progress["percent"], progress["running"]) == (5, 10, 50, True)
    assert progress["rate"] > 0 and progress["eta_seconds"] >= 0


@pytest.mark.django_db
def test_a_rejected_job_shows_nothing_sent_not_one_of_one(operator, second_operator):
    job = jobs.create_job(store(1, "test.nowhere"), user=operator, awaiting_approval=True)
    jobs.reject(job, user=second_operator)
    client = signed_in(operator)

    page = client.get(reverse(JOB_PAGE, args=[job.pk])).content.decode()
    listing = client.get(reverse(JOBS)).content.decode()

    assert "Rejected: nothing was sent" in page and "(100%)" not in page and 'id="job-stop"' not in page
    assert "rejected: nothing sent" in listing and "1/1 (100%)" not in listing


@pytest.mark.django_db
def test_run_the_rest_decides_four_eyes_from_every_remaining_record(settings, operator):
    settings.OPSPORTAL_FOUR_EYES, settings.OPSPORTAL_FOUR_EYES_TOPICS = True, ["billing.guarded"]
    ids = store(jobs.CHUNK_SIZE, "billing.open") + store(1, "billing.guarded", offset=jobs.CHUNK_SIZE)
    job = jobs.create_job(ids, user=operator)
    ReplayJob.objects.filter(pk=job.pk).update(state=ReplayJob.State.STOPPED)
    job.refresh_from_db()

    rest = jobs.rest_of(job, user=operator)

    assert rest.total == len(ids) and rest.state == ReplayJob.State.AWAITING_APPROVAL


@pytest.mark.django_db
@pytest.mark.parametrize("selected", ["abc", "9" * 30])
@pytest.mark.parametrize("action", ["approve_jobs", "reject_jobs", "run_the_rest"])
def test_nonsense_selections_on_the_job_list_are_a_message_not_a_500(operator, second_operator, selected, action):
    job = jobs.create_job(store(1, "test.nowhere"), user=operator, awaiting_approval=True)

    response = signed_in(second_operator).post(reverse(JOBS), {"action": action, "_selected_action": [selected]})

    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == ReplayJob.State.AWAITING_APPROVAL


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["abc", "12", "9" * 40])
def test_reconcile_replays_refuses_a_replay_id_that_is_no_uuid(value):
    with pytest.raises(CommandError, match="argument --replay"):
        call_command("reconcile_replays", "--replay", value)


@pytest.mark.django_db
def test_the_audit_list_filters_by_user_record_job_and_date(operator, second_operator):
    first = jobs.create_job(store(2, "test.nowhere"), user=operator, awaiting_approval=True)
    second = jobs.create_job(store(1, "test.nowhere", offset=5), user=second_operator)
    jobs.reject(first, user=second_operator)
    client = signed_in(operator)
    audit = reverse("admin:republish_auditentry_changelist")

    def listed(query: str) -> set[tuple[int | None, str]]:
        page = client.get(f"{audit}?{query}")
        assert page.status_code == 200, page
        return {(entry.job_id, entry.action) for entry in page.context["cl"].result_list}

    assert listed(f"job={first.pk}") == {(first.pk, "bulk_republish"), (first.pk, "reject")}
    assert listed(f"user__id__exact={second_operator.pk}") == {(second.pk, "bulk_republish"), (first.pk, "reject")}
    assert listed(f"record={second.record_ids[0]}") == {(second.pk, "bulk_republish")}
    today = timezone.localdate()
    assert len(listed(f"at__gte={today}&at__lt={today + timedelta(days=1)}")) == 3
    assert listed(f"at__gte={today + timedelta(days=1)}") == set()
    assert listed("record=abc") == set()
