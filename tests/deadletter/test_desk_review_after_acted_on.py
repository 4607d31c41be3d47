"""A record republished or discarded is out of triage: its review fields are shown, not offered, and a
note typed while someone else acted on the record is refused on the form, kept, never a bare 403."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from deadletter.models import DeadLetterRecord, Review, Status
from tests.deadletter import samples
from tests.deadletter.desk_support import RECORD_PAGE, store

pytestmark = pytest.mark.django_db


def fieldset_names(page: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<h2[^>]*fieldset-heading[^>]*>(.*?)</h2>", page)]


def test_a_republished_records_assignee_and_notes_are_shown_not_offered(admin_client):
    row = store(1, b"acc_1", samples.billing_event(), samples.billing_headers())
    DeadLetterRecord.objects.filter(pk=row.pk).update(notes="checked with the ledger team")
    Review.objects.filter(pk=row.pk).update(status=Status.REPUBLISHED)

    page = admin_client.get(reverse(RECORD_PAGE, args=[row.pk])).content.decode()

    assert 'name="notes"' not in page and 'name="assignee"' not in page
    assert "checked with the ledger team" in page


def test_a_note_saved_after_the_record_was_discarded_meanwhile_is_refused_on_the_form_and_kept(admin_client):
    row = store(2, b"acc_1", samples.billing_event(), samples.billing_headers())
    url = reverse(RECORD_PAGE, args=[row.pk])
    assert 'name="notes"' in admin_client.get(url).content.decode()  # opened while new
    Review.objects.filter(pk=row.pk).update(status=Status.DISCARDED)  # another operator discards it

    response = admin_client.post(url, {"status": Status.NEW, "assignee": "", "notes": "called the customer"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "was discarded since you opened it: nothing was saved" in page
    assert "called the customer" in page  # what was typed is still on the page
    row.refresh_from_db()
    assert (row.notes, row.status) == ("", Status.DISCARDED)


def test_the_billing_events_fields_come_right_after_the_review(admin_client):
    row = store(3, b"acc_1", samples.billing_event(), samples.billing_headers())

    page = admin_client.get(reverse(RECORD_PAGE, args=[row.pk])).content.decode()

    assert fieldset_names(page)[:3] == ["Review", "Event", "Failure"]


def test_a_save_that_changed_nothing_after_the_record_was_republished_meanwhile_is_not_called_saved(admin_client):
    row = store(4, b"acc_1", samples.billing_event(), samples.billing_headers())
    url = reverse(RECORD_PAGE, args=[row.pk])
    Review.objects.filter(pk=row.pk).update(status=Status.REPUBLISHED)

    response = admin_client.post(url, {"status": Status.IN_REVIEW, "assignee": "", "notes": ""})

    assert response.status_code == 200
    assert "was republished since you opened it: nothing was saved" in response.content.decode()
