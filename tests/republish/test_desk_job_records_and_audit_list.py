"""The dead-letter list filtered to a job's records (ids sent as one array, whatever the job's size),
and the audit list looking up its entries' targets per page, not per row."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from republish.models import AuditEntry, Replay, ReplayJob
from tests.deadletter import samples
from tests.deadletter.desk_support import CHANGELIST, store
from tests.pages import signed_in

pytestmark = pytest.mark.django_db


def test_the_records_of_a_job_of_70000_ids_are_listed(operator):
    records = [store(n, b"acc_%d" % n, samples.billing_event(f"acc_{n}"), samples.billing_headers(n)) for n in range(3)]
    ids = [*range(10_000_000, 10_070_000), *(r.pk for r in records)]
    job = ReplayJob.objects.create(record_ids=ids, total=len(ids), state="stopped")

    page = signed_in(operator).get(f"{reverse(CHANGELIST)}?republish_job={job.pk}")

    assert page.status_code == 200
    assert sorted(r.pk for r in page.context["cl"].result_list) == sorted(r.pk for r in records)


def test_the_audit_list_looks_up_the_targets_of_a_page_at_once(operator, django_assert_max_num_queries):
    record = store(1, b"acc_1", samples.billing_event("acc_1"), samples.billing_headers(1))
    for n in range(30):
        replay = Replay.objects.create(
            record=record, replay_id=uuid.uuid4(), state="republished", target_topic=f"billing.t{n % 3}",
            target_partition=0, start_offset=0,
        )  # fmt: skip
        AuditEntry.objects.create(
            user=operator, action="republish", record_ids=[record.pk], replay_ids=[str(replay.replay_id)]
        )
    client = signed_in(operator)

    with django_assert_max_num_queries(12):
        html = client.get(reverse("admin:republish_auditentry_changelist")).content.decode()

    assert html.count('<td class="field-target_shown">billing.<wbr>t1</td>') == 10
