"""Viewer, operator and superuser × every act: allowed, or 403 with nothing changed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from deadletter.models import Review, Status
from republish.models import AuditEntry, Replay

from .conftest import billing_event

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


@pytest.mark.parametrize("act", ["republish", "edited_republish", "discard", "bulk_republish"])
@pytest.mark.parametrize("who", ["viewer", "operator", "superuser"])
def test_the_permission_matrix(who, act, request, dead_letters, monkeypatch, django_capture_on_commit_callbacks):
    from republish.tasks import run_replay_job

    # The bulk job runs here, through the real task, once its row is committed (no worker in tests).
    monkeypatch.setattr(run_replay_job, "delay", lambda *args: run_replay_job.apply(args=args))
    (row,) = dead_letters([(b"acc_perm", billing_event("acc_perm"))])
    client = Client()
    client.force_login(request.getfixturevalue(who))

    with django_capture_on_commit_callbacks(execute=True):
        response = post_act(client, act, row.pk)

    row.refresh_from_db()
    if who == "viewer":
        assert response.status_code == 403
        assert row.status == Status.NEW
        assert not Replay.objects.exists() and not AuditEntry.objects.exists()
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


def test_a_bulk_republish_is_refused_when_the_selection_changed_after_confirmation(dead_letters, operator):
    first, second = dead_letters([(b"acc_a", billing_event("acc_a")), (b"acc_b", billing_event("acc_b"))])
    client = Client()
    client.force_login(operator)
    filtered = reverse(CHANGELIST) + f"?dlq_topic={first.dlq_topic}"
    confirmation = client.post(
        filtered, {"action": "republish_selected", "select_across": "1", "index": "0", "_selected_action": [first.pk]}
    )
    assert confirmation.status_code == 200
    Review.objects.filter(pk=second.pk).update(status=Status.DISCARDED)  # acted on by someone else meanwhile

    client.post(
        filtered,
        {
            "action": "republish_selected",
            "select_across": "1",
            "index": "0",
            "post": "yes",
            "_selected_action": [first.pk],
            "selection": confirmation.context["selection"],
        },
    )

    assert not Replay.objects.exists()


def test_a_viewer_can_neither_reconcile_nor_approve_nor_reject(dead_letters, viewer, operator):
    from republish import jobs
    from republish.models import ReplayJob

    (row,) = dead_letters([(b"acc_r", billing_event("acc_r"))])
    job = jobs.create_job([row.pk], user=operator, awaiting_approval=True)
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


def test_an_operator_runs_the_rest_of_a_stopped_job_from_the_job_list(
    dead_letters, operator, monkeypatch, django_capture_on_commit_callbacks
):
    from republish import jobs, tasks
    from republish.models import ReplayJob

    queued = []
    monkeypatch.setattr(tasks.run_replay_job, "delay", queued.append)
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
    assert (rest.record_ids, rest.state, queued) == ([second.pk], ReplayJob.State.QUEUED, [rest.pk])


def test_the_job_list_flags_a_running_job_that_settles_nothing_and_offers_its_rest(
    dead_letters, operator, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from republish import jobs, tasks
    from republish.models import ReplayJob

    monkeypatch.setattr(tasks.run_replay_job, "delay", lambda pk: None)
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
    assert ReplayJob.objects.exclude(pk=job.pk).get().record_ids == [row.pk]


def test_a_second_operator_approves_from_the_job_list(dead_letters, operator, settings):
    from django.contrib.auth.models import Group

    from republish import jobs
    from republish.models import ReplayJob

    (row,) = dead_letters([(b"acc_q", billing_event("acc_q"))])
    job = jobs.create_job([row.pk], user=operator, awaiting_approval=True)
    second = User.objects.create_user("second-op", is_staff=True)
    second.groups.add(Group.objects.get(name="Ops operator"))
    client = Client()
    client.force_login(second)

    client.post(
        reverse("admin:republish_replayjob_changelist"), {"action": "approve_jobs", "_selected_action": [job.pk]}
    )

    job.refresh_from_db()
    assert job.state == ReplayJob.State.QUEUED and job.approved_by == second
