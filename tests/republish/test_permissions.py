"""Viewer, operator and superuser × every act: allowed, or 403 with nothing changed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from deadletter.models import DeadLetterRecord, Review, Status
from republish.models import AuditEntry, Replay

from .conftest import JOBS, billing_event, bulk_republish, messages_of

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:deadletter_deadletterrecord_changelist"


def post_act(client: Client, act: str, pk: int):
    if act == "republish":
        return client.post(reverse("admin:deadletter_deadletterrecord_republish", args=[pk]), {"post": "yes"})
    if act == "edited_republish":
        return client.post(
            reverse("admin:deadletter_deadletterrecord_republish_edited", args=[pk]),
            {"post": "yes", "value": '{"edited": true}', "headers": "[]"},
        )
    if act == "discard":
        return client.post(
            reverse("admin:deadletter_deadletterrecord_discard", args=[pk]), {"post": "yes", "reason": "duplicate"}
        )
    confirmation = client.post(reverse(CHANGELIST), {"action": "republish_selected", "_selected_action": [pk]})
    selection = confirmation.context["selection"] if confirmation.status_code == 200 else ""
    return client.post(
        reverse(CHANGELIST),
        {
            "action": "republish_selected",
            "_selected_action": [pk],
            "post": "yes",
            "rate_limit": "",
            "selection": selection,
        },
    )


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("sue-super", "sue@example.com", "pw-super-123")


# Committed, as in production: a bulk job is queued once its row is (transaction.on_commit), and
# runs with its helper threads on PostgreSQL.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("act", ["republish", "edited_republish", "discard", "bulk_republish"])
@pytest.mark.parametrize("who", ["viewer", "operator", "superuser"])
def test_the_permission_matrix(who, act, request, dead_letters, task_queue):
    from republish.models import ReplayJob
    from republish.tasks import run_replay_job

    (row,) = dead_letters([(b"acc_perm", billing_event("acc_perm"))])
    client = Client()
    client.force_login(request.getfixturevalue(who))

    response = post_act(client, act, row.pk)

    if act == "bulk_republish" and who != "viewer":
        # The admin queued the job on the real Redis; it runs here as a worker would run it
        # (tests/republish/test_queue.py has a real worker take it).
        job = ReplayJob.objects.get()
        assert task_queue.sent() == [("republish.run_replay_job", (job.pk,))]
        run_replay_job.apply(args=[job.pk])
    row.refresh_from_db()
    if who == "viewer":
        assert response.status_code == 403
        assert row.status == Status.NEW
        assert not Replay.objects.exists() and not AuditEntry.objects.exists()
        assert task_queue.sent() == []
    else:
        assert response.status_code == 302, response.content[:500]
        expected = Status.DISCARDED if act == "discard" else Status.REPUBLISHED
        assert row.status == expected
        assert AuditEntry.objects.filter(user__username=request.getfixturevalue(who).username).exists()


def test_a_viewer_sees_the_record_without_any_act(dead_letters, viewer):
    (row,) = dead_letters([(b"acc_v", billing_event("acc_v"))])
    client = Client()
    client.force_login(viewer)

    page = client.get(reverse("admin:deadletter_deadletterrecord_change", args=[row.pk]))
    changelist = client.get(reverse(CHANGELIST))

    assert page.status_code == 200 and changelist.status_code == 200
    assert b"republish-button" not in page.content and b"discard-button" not in page.content
    assert b"republish_selected" not in changelist.content and b"discard_selected" not in changelist.content


def test_an_operator_sees_every_act(dead_letters, operator):
    (row,) = dead_letters([(b"acc_o", billing_event("acc_o"))])
    client = Client()
    client.force_login(operator)

    page = client.get(reverse("admin:deadletter_deadletterrecord_change", args=[row.pk]))
    changelist = client.get(reverse(CHANGELIST))

    for button in (b"republish-button", b"edit-republish-button", b"discard-button"):
        assert button in page.content
    assert b"republish_selected" in changelist.content and b"discard_selected" in changelist.content


def confirm_all_of(client: Client, original_topic: str, first_pk: int) -> tuple[str, str]:
    """The bulk confirmation page for every dead letter from that topic (select across the filtered list)."""
    filtered = reverse(CHANGELIST) + f"?original_topic={original_topic}"
    confirmation = client.post(
        filtered,
        {"action": "republish_selected", "select_across": "1", "index": "0", "_selected_action": [first_pk]},
    )
    assert confirmation.status_code == 200 and confirmation.context["total"] >= 1
    return filtered, confirmation.context["selection"]


def post_confirmed(client: Client, filtered: str, selection: str, first_pk: int):
    data = {
        "action": "republish_selected",
        "select_across": "1",
        "index": "0",
        "post": "yes",
        "_selected_action": [first_pk],
        "selection": selection,
    }
    return client.post(filtered, data, follow=True)


def test_a_bulk_republish_is_refused_when_dead_letters_arrived_after_confirmation(dead_letters, operator, task_queue):
    from republish.models import ReplayJob

    first, second = dead_letters([(b"acc_a", billing_event("acc_a")), (b"acc_b", billing_event("acc_b"))])
    client = Client()
    client.force_login(operator)
    filtered, selection = confirm_all_of(client, first.original_topic, first.pk)
    # Drained meanwhile: the same filter now selects a row the operator never saw.
    late = {"partition": 0, "offset": second.offset + 1, "key": b"acc_c", "original_topic": first.original_topic}
    DeadLetterRecord.objects.create(dlq_topic=first.dlq_topic, **late)

    response = post_confirmed(client, filtered, selection, first.pk)

    assert any("The selection changed since the confirmation page" in m for m in messages_of(response))
    assert not ReplayJob.objects.exists() and not AuditEntry.objects.exists() and task_queue.sent() == []

    # Confirmed again, it goes ahead.
    filtered, selection = confirm_all_of(client, first.original_topic, first.pk)
    post_confirmed(client, filtered, selection, first.pk)
    assert ReplayJob.objects.get().total == 3


def test_rows_acted_on_after_confirmation_are_left_out_of_the_bulk_job(dead_letters, operator, task_queue):
    """A status change leaves the selection's size and last id as they were: the job itself only
    takes rows still republishable when it is created (and each claim checks again)."""
    from republish.models import ReplayJob

    first, second = dead_letters([(b"acc_a", billing_event("acc_a")), (b"acc_b", billing_event("acc_b"))])
    client = Client()
    client.force_login(operator)
    filtered, selection = confirm_all_of(client, first.original_topic, first.pk)
    Review.objects.filter(pk=second.pk).update(status=Status.DISCARDED)  # acted on by someone else meanwhile

    post_confirmed(client, filtered, selection, first.pk)

    job = ReplayJob.objects.get()
    assert (job.record_ids, job.total) == ([first.pk], 1)


def test_a_viewer_can_neither_reconcile_nor_approve_nor_reject(
    dead_letters, viewer, operator, four_eyes_on_the_original_topic
):
    from republish.models import ReplayJob

    (row,) = dead_letters([(b"acc_r", billing_event("acc_r"))])
    requester = Client()
    requester.force_login(operator)
    bulk_republish(requester, [row])
    job = ReplayJob.objects.get(state=ReplayJob.State.AWAITING_APPROVAL)
    client = Client()
    client.force_login(viewer)

    reconcile = client.post(reverse("admin:deadletter_deadletterrecord_reconcile", args=[row.pk]), {"post": "yes"})
    approve = client.post(
        reverse("admin:republish_replayjob_changelist"), {"action": "approve_jobs", "_selected_action": [job.pk]}
    )
    reject = client.post(
        reverse("admin:republish_replayjob_changelist"), {"action": "reject_jobs", "_selected_action": [job.pk]}
    )
    ReplayJob.objects.filter(pk=job.pk).update(state=ReplayJob.State.STOPPED)
    rest = client.post(
        reverse("admin:republish_replayjob_changelist"), {"action": "run_the_rest", "_selected_action": [job.pk]}
    )

    assert (reconcile.status_code, approve.status_code, reject.status_code, rest.status_code) == (403,) * 4
    assert ReplayJob.objects.count() == 1
    job.refresh_from_db()
    assert job.state == ReplayJob.State.STOPPED and job.approved_by is None


def test_an_operator_runs_the_rest_of_a_stopped_job_from_the_job_list(
    dead_letters, operator, task_queue, django_capture_on_commit_callbacks
):
    from republish import jobs
    from republish.models import ReplayJob

    first, second = dead_letters([(b"acc_s", billing_event("acc_s")), (b"acc_t", billing_event("acc_t"))])
    job = jobs.create_job([first.pk, second.pk], user=operator)
    ReplayJob.objects.filter(pk=job.pk).update(state=ReplayJob.State.STOPPED)
    Review.objects.filter(pk=first.pk).update(status=Status.PUBLISHING)
    client = Client()
    client.force_login(operator)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:republish_replayjob_changelist"), {"action": "run_the_rest", "_selected_action": [job.pk]}
        )

    rest = ReplayJob.objects.exclude(pk=job.pk).get()
    assert (rest.record_ids, rest.state) == ([second.pk], ReplayJob.State.QUEUED)
    assert task_queue.sent() == [("republish.run_replay_job", (rest.pk,))]


def test_the_job_list_flags_a_running_job_that_settles_nothing_and_offers_its_rest(
    dead_letters, operator, task_queue, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from republish import jobs
    from republish.models import ReplayJob

    (row,) = dead_letters([(b"acc_l", billing_event("acc_l"))])
    job = jobs.create_job([row.pk], user=operator)
    lost_at = timezone.now() - timedelta(hours=1)
    ReplayJob.objects.filter(pk=job.pk).update(state=ReplayJob.State.RUNNING, progress_at=lost_at)
    client = Client()
    client.force_login(operator)
    changelist = reverse("admin:republish_replayjob_changelist")

    assert "worker lost?" in client.get(changelist).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "run_the_rest", "_selected_action": [job.pk]})

    job.refresh_from_db()
    assert job.state == ReplayJob.State.STOPPED and "its worker was lost" in job.last_error
    rest = ReplayJob.objects.exclude(pk=job.pk).get()
    assert rest.record_ids == [row.pk] and task_queue.sent() == [("republish.run_replay_job", (rest.pk,))]


def test_the_admin_holds_a_four_eyes_republish_until_a_second_operator_approves_it_from_the_job_list(
    dead_letters,
    operator,
    second_operator,
    four_eyes_on_the_original_topic,
    task_queue,
    django_capture_on_commit_callbacks,
):
    from republish.models import ReplayJob

    (row,) = dead_letters([(b"acc_q", billing_event("acc_q"))])
    requester = Client()
    requester.force_login(operator)

    with django_capture_on_commit_callbacks(execute=True):
        response = bulk_republish(requester, [row])

    job = ReplayJob.objects.get()
    assert job.state == ReplayJob.State.AWAITING_APPROVAL and job.requested_by == operator
    assert any("It waits for a second operator" in m for m in messages_of(response)), messages_of(response)
    assert task_queue.sent() == []  # nothing queued for a worker
    # The requester cannot approve their own request.
    own = requester.post(reverse(JOBS), {"action": "approve_jobs", "_selected_action": [job.pk]}, follow=True)
    assert any("a second operator must approve" in m for m in messages_of(own)), messages_of(own)
    job.refresh_from_db()
    assert job.state == ReplayJob.State.AWAITING_APPROVAL and task_queue.sent() == []

    approver = Client()
    approver.force_login(second_operator)
    with django_capture_on_commit_callbacks(execute=True):
        approved = approver.post(reverse(JOBS), {"action": "approve_jobs", "_selected_action": [job.pk]}, follow=True)

    assert messages_of(approved) == ["1 job approved and queued."]
    job.refresh_from_db()
    assert job.state == ReplayJob.State.QUEUED and job.approved_by == second_operator
    assert task_queue.sent() == [("republish.run_replay_job", (job.pk,))]
    row.refresh_from_db()
    assert row.status == Status.NEW  # sent only when the worker runs it


def test_a_republish_to_a_topic_without_four_eyes_is_queued_at_once(
    dead_letters, operator, four_eyes_on_the_original_topic, task_queue, settings
):
    from republish.models import ReplayJob

    settings.OPSPORTAL_FOUR_EYES_TOPICS = ["billing.some-other-topic"]
    (row,) = dead_letters([(b"acc_n", billing_event("acc_n"))])
    client = Client()
    client.force_login(operator)

    with_rows = bulk_republish(client, [row])

    job = ReplayJob.objects.get()
    assert job.state == ReplayJob.State.QUEUED
    assert not any("approval" in m for m in messages_of(with_rows))


def test_a_single_republish_to_a_four_eyes_topic_waits_too(dead_letters, operator, four_eyes_on_the_original_topic):
    from republish.models import ReplayJob

    (row,) = dead_letters([(b"acc_1", billing_event("acc_1"))])
    client = Client()
    client.force_login(operator)

    response = client.post(
        reverse("admin:deadletter_deadletterrecord_republish", args=[row.pk]), {"post": "yes"}, follow=True
    )

    job = ReplayJob.objects.get()
    assert (job.state, job.record_ids) == (ReplayJob.State.AWAITING_APPROVAL, [row.pk])
    assert any("waits for a second operator's approval" in m for m in messages_of(response))
    row.refresh_from_db()
    assert row.status == Status.NEW and not Replay.objects.exists()
