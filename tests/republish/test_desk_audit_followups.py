"""The audit after the walkthrough: an edited republish's entry shows its diff as red and green
lines and its other details as key: value lines, not as one escaped JSON string; the record filter
finds a job's stop and end too, which name no records of their own, only the job."""

from __future__ import annotations

import pytest
from django.urls import reverse

from republish import jobs
from republish.models import AuditEntry, ReplayJob
from tests.pages import signed_in

pytestmark = pytest.mark.django_db

DIFF = '--- stored\n+++ sent\n@@ -1,3 +1,3 @@\n {\n-  "amount": "100.00"\n+  "amount": "10.00"\n }\n'


def entry_page(client, entry: AuditEntry) -> str:
    return client.get(reverse("admin:republish_auditentry_change", args=[entry.pk])).content.decode()


def test_an_edited_republish_entry_shows_its_diff_as_lines(operator):
    entry = AuditEntry.objects.create(
        user=operator,
        action=AuditEntry.Action.EDITED_REPUBLISH,
        record_ids=[1],
        outcome="republished record 1 edited",
        details={"diff": DIFF, "note": "by hand"},
    )

    html = entry_page(signed_in(operator), entry)

    assert (
        '<div id="entry-diff"><span class="hunk">@@ -1,3 +1,3 @@</span><span class="context"> {</span>'
        '<span class="removed">-  &quot;amount&quot;: &quot;100.00&quot;</span>'
        '<span class="added">+  &quot;amount&quot;: &quot;10.00&quot;</span><span class="context"> }</span></div>'
    ) in html
    assert '<span class="detail-line">note: by hand</span>' in html
    assert "\\n" not in html[html.index('class="form-row field-details_shown"') :]  # no JSON string


def test_a_job_ended_entry_shows_its_details_as_key_value_lines(operator):
    job = jobs.create_job([1, 2], user=operator)
    ReplayJob.objects.filter(pk=job.pk).update(state=ReplayJob.State.STOPPED, done=1, last_error="stopped: boom")
    jobs.audit_end(job)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.JOB_ENDED)

    html = entry_page(signed_in(operator), entry)

    for line in ("chunks: 1", "done: 1", "failed: 0", "skipped: 0", "errors: stopped: boom"):
        assert f'<span class="detail-line">{line}</span>' in html


def test_the_record_filter_finds_a_jobs_stop_and_end_as_well_as_its_request(operator):
    job = jobs.create_job([7_000_001, 7_000_002], user=operator)
    other = jobs.create_job([7_000_003], user=operator)
    ReplayJob.objects.filter(pk__in=[job.pk, other.pk]).update(state=ReplayJob.State.RUNNING)
    assert jobs.request_stop(job, user=operator) and jobs.request_stop(other, user=operator)
    jobs.audit_end(job)
    jobs.audit_end(other)

    response = signed_in(operator).get(reverse("admin:republish_auditentry_changelist"), {"record": "7000002"})

    found = {(entry.job_id, entry.action) for entry in response.context["cl"].result_list}
    assert found == {
        (job.pk, AuditEntry.Action.BULK_REPUBLISH),
        (job.pk, AuditEntry.Action.STOP),
        (job.pk, AuditEntry.Action.JOB_ENDED),
    }
