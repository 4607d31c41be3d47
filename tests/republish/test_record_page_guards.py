"""The record page cannot undo a republish, delete a dead letter, or show the summary without permission."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from deadletter.models import DeadLetterRecord, Review, Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def record() -> DeadLetterRecord:
    return DeadLetterRecord.objects.create(dlq_topic="test.guards", partition=0, offset=1, key=b"k", value=b"{}")


def test_a_triage_save_does_not_undo_a_claim_made_meanwhile(record, operator):
    client = Client()
    client.force_login(operator)
    change = reverse("admin:deadletter_deadletterrecord_change", args=[record.pk])
    assert client.get(change).status_code == 200
    Review.objects.filter(pk=record.pk).update(status=Status.PUBLISHING)  # a republish claimed it

    response = client.post(change, {"status": "in_review", "notes": "looking", "assignee": ""})

    record.refresh_from_db()
    assert response.status_code == 200  # refused on the form, what was typed kept (was a bare 403)
    assert "since you opened it: nothing was saved" in response.content.decode()
    assert (record.status, record.notes) == (Status.PUBLISHING, "")


def test_a_triage_save_changes_only_the_triage_fields(record, operator):
    client = Client()
    client.force_login(operator)

    client.post(
        reverse("admin:deadletter_deadletterrecord_change", args=[record.pk]),
        {"status": "in_review", "notes": "looking", "assignee": operator.pk},
    )

    record.refresh_from_db()
    assert (record.status, record.notes, record.assignee) == (Status.IN_REVIEW, "looking", operator)


def test_not_even_a_superuser_deletes_a_dead_letter(record):
    client = Client()
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw"))

    page = client.get(reverse("admin:deadletter_deadletterrecord_delete", args=[record.pk]))
    bulk = client.post(
        reverse("admin:deadletter_deadletterrecord_changelist"),
        {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"},
    )

    assert page.status_code == 403 and bulk.status_code == 403
    assert DeadLetterRecord.objects.filter(pk=record.pk).exists()


def test_the_summary_needs_the_view_permission(record, viewer):
    nobody = User.objects.create_user("staff-only", is_staff=True)
    client = Client()
    summary = reverse("admin:deadletter_summary")

    client.force_login(nobody)
    refused = client.get(summary)
    client.force_login(viewer)
    shown = client.get(summary)

    assert refused.status_code == 403 and shown.status_code == 200
