"""Discard from the admin, end to end: a reason is required, rows already acted on are skipped,
the reason is appended to each row's notes and audited, one record or a bulk selection."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from deadletter.models import DeadLetterRecord, Review, Status
from republish.models import AuditEntry

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:deadletter_deadletterrecord_changelist"


def rows(count: int) -> list[DeadLetterRecord]:
    made = [
        DeadLetterRecord.objects.create(
            dlq_topic="test.discard", partition=0, offset=n, key=f"acc_{n}".encode(), value=b"{}", notes=f"seen {n}"
        )
        for n in range(count)
    ]
    assert Review.objects.filter(pk__in=[row.pk for row in made], status=Status.NEW).count() == count
    return made


@pytest.fixture
def client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def discard_one(client: Client, row: DeadLetterRecord, reason: str, **extra):
    url = reverse("admin:deadletter_deadletterrecord_discard", args=[row.pk])
    return client.post(url, {"post": "yes", "reason": reason, **extra}, follow=True)


def discard_bulk(client: Client, selected: list[DeadLetterRecord], reason: str | None):
    data = {"action": "discard_selected", "_selected_action": [row.pk for row in selected]}
    if reason is not None:
        data |= {"post": "yes", "reason": reason}
    return client.post(reverse(CHANGELIST), data, follow=True)


@pytest.mark.parametrize("reason", ["", "   \n "])
def test_a_discard_without_a_reason_is_refused_and_changes_nothing(client, reason):
    (row,) = rows(1)

    one = discard_one(client, row, reason)
    bulk = discard_bulk(client, [row], reason)

    for response in (one, bulk):
        assert response.status_code == 200
        assert "This field is required." in response.content.decode()  # the form, shown again
    row.refresh_from_db()
    assert (row.status, row.notes) == (Status.NEW, "seen 0")
    assert not AuditEntry.objects.exists() and not LogEntry.objects.exists()


def test_discarding_one_record_appends_the_reason_to_its_notes_and_audits_it(client, operator):
    (row,) = rows(1)

    response = discard_one(client, row, "  duplicate of evt-7  ")

    assert messages_of(response) == ["Discarded; nothing was deleted from Kafka."]
    row.refresh_from_db()
    assert row.status == Status.DISCARDED
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
    assert re.fullmatch(rf"seen 0\n\[discarded by olga-operator at {when}\] duplicate of evt-7", row.notes), row.notes
    audit = AuditEntry.objects.get()
    assert (audit.user, audit.action, audit.record_ids) == (operator, AuditEntry.Action.DISCARD, [row.pk])
    assert audit.details == {"reason": "duplicate of evt-7"}
    assert audit.outcome == "1 discarded, 0 skipped (already acted on): duplicate of evt-7"
    assert LogEntry.objects.get().change_message == "Discarded: duplicate of evt-7"


@pytest.mark.parametrize("status", [Status.REPUBLISHED, Status.PUBLISHING, Status.DISCARDED])
def test_a_record_already_acted_on_is_not_discarded(client, status):
    (row,) = rows(1)
    Review.objects.filter(pk=row.pk).update(status=status)

    response = discard_one(client, row, "duplicate")

    assert messages_of(response) == [f"Not discarded: the record is {status.label.lower()}."]
    row.refresh_from_db()
    assert (row.status, row.notes) == (status, "seen 0")
    assert not LogEntry.objects.exists()


def test_a_bulk_discard_confirms_first_then_discards_the_rest_and_skips_rows_already_acted_on(client, operator):
    new, in_review, failed, republished, publishing = rows(5)
    Review.objects.filter(pk=in_review.pk).update(status=Status.IN_REVIEW)
    Review.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    Review.objects.filter(pk=republished.pk).update(status=Status.REPUBLISHED)
    Review.objects.filter(pk=publishing.pk).update(status=Status.PUBLISHING)
    selected = [new, in_review, failed, republished, publishing]

    confirmation = discard_bulk(client, selected, reason=None)

    assert confirmation.templates[0].name == "admin/republish/confirm_discard.html"
    assert set(Review.objects.values_list("status", flat=True)) != {Status.DISCARDED}
    assert not AuditEntry.objects.exists()

    response = discard_bulk(client, selected, reason="bad batch from the 3 May import")

    assert messages_of(response) == ["3 dead letters discarded. 2 skipped (already acted on)."]
    statuses = dict(Review.objects.values_list("pk", "status"))
    assert statuses == {
        new.pk: Status.DISCARDED,
        in_review.pk: Status.DISCARDED,
        failed.pk: Status.DISCARDED,
        republished.pk: Status.REPUBLISHED,
        publishing.pk: Status.PUBLISHING,
    }
    # The time each note names is masked: it is when the test ran.
    notes = {
        pk: re.sub(r" at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\]", "]", text)
        for pk, text in DeadLetterRecord.objects.values_list("pk", "notes")
    }
    note = "\n[discarded by olga-operator] bad batch from the 3 May import"
    assert notes == {
        new.pk: "seen 0" + note,
        in_review.pk: "seen 1" + note,
        failed.pk: "seen 2" + note,
        republished.pk: "seen 3",
        publishing.pk: "seen 4",
    }
    audit = AuditEntry.objects.get()
    assert (audit.user, audit.action) == (operator, AuditEntry.Action.DISCARD)
    assert sorted(audit.record_ids) == sorted([new.pk, in_review.pk, failed.pk])
    assert audit.outcome == "3 discarded, 2 skipped (already acted on): bad batch from the 3 May import"


def test_a_viewer_cannot_discard_even_in_bulk(viewer):
    (row,) = rows(1)
    client = Client()
    client.force_login(viewer)

    url = reverse("admin:deadletter_deadletterrecord_discard", args=[row.pk])
    one = client.post(url, {"post": "yes", "reason": "x"})
    bulk = discard_bulk(client, [row], "x")

    assert one.status_code == 403
    assert bulk.status_code in (200, 403)
    row.refresh_from_db()
    assert row.status == Status.NEW and not AuditEntry.objects.exists()
