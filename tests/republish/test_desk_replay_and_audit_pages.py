"""The replay page links its dead letter once; the audit list gives a job's end its job's record
count and a republish to the original topic the topic it was sent to."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from republish import jobs
from republish.models import AuditEntry, Replay
from tests.deadletter import samples
from tests.deadletter.desk_support import store

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(db):
    return store(1, b"acc_1", samples.billing_event("acc_1"), samples.billing_headers(1))


def test_the_replay_page_links_its_dead_letter_once(record, operator_client):
    replay = Replay.objects.create(
        record=record, state="republished", target_topic="billing.transaction.events", target_partition=3,
        start_offset=1, offset=1,
    )  # fmt: skip

    html = operator_client.get(reverse("admin:republish_replay_change", args=[replay.pk])).content.decode()

    assert html.count(f'href="{reverse("admin:deadletter_deadletterrecord_change", args=[record.pk])}"') == 1
    assert 'id="replay-record"' in html


def audit_row(client: Client, entry: AuditEntry) -> str:
    html = client.get(reverse("admin:republish_auditentry_changelist")).content.decode()
    link = reverse("admin:republish_auditentry_change", args=[entry.pk])
    return html.split(f'href="{link}"')[1].split("</tr>")[0]


def test_a_jobs_end_shows_the_jobs_record_count(record, operator, operator_client):
    job = jobs.create_job([record.pk, record.pk + 1, record.pk + 2], user=operator)
    ended = AuditEntry.objects.create(user=operator, job=job, action=AuditEntry.Action.JOB_ENDED, outcome="ended")

    row = audit_row(operator_client, ended)

    assert '<td class="field-record_count">3</td>' in row
    assert "each record&#x27;s original topic" in row


def test_an_edited_republish_to_the_original_topic_shows_where_it_went(record, operator, operator_client):
    replay_id = uuid.uuid4()
    Replay.objects.create(
        replay_id=replay_id, record=record, state="republished", target_topic="billing.transaction.events",
        target_partition=3, start_offset=1, offset=1, edited=True,
    )  # fmt: skip
    entry = AuditEntry.objects.create(
        user=operator, action=AuditEntry.Action.EDITED_REPUBLISH, record_ids=[record.pk], target_topic="",
        replay_ids=[str(replay_id)], outcome="1 republished",
    )  # fmt: skip

    row = audit_row(operator_client, entry)

    assert '<td class="field-target_shown">billing.<wbr>transaction.<wbr>events</td>' in row
