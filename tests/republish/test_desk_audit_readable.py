"""An audit entry's page reads at a glance: its name carries its time's zone, its records are a
count, the first few linked to their pages and one link to exactly them all in the dead-letter list."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from deadletter.models import DeadLetterRecord, Review, Status
from opsportal.admin_mixins import show_time
from republish.models import AuditEntry, ReplayJob
from tests.deadletter import samples
from tests.deadletter.desk_support import CHANGELIST, store
from tests.pages import crumbs_and_headings, signed_in

pytestmark = pytest.mark.django_db

IDS_SHOWN = 20  # the ids an entry's page lists before "and N more"


def records(count: int, first: int = 0) -> list[DeadLetterRecord]:
    offsets = range(first, first + count)
    return [store(n, b"acc_%d" % n, samples.billing_event(f"acc_{n}"), samples.billing_headers(n)) for n in offsets]


def entry_page(client, entry: AuditEntry, view: str = "change") -> str:
    return client.get(reverse(f"admin:republish_auditentry_{view}", args=[entry.pk])).content.decode()


def listed(client, url: str) -> list[int]:
    """The dead letters a list URL shows (all on one page here)."""
    return sorted(record.pk for record in client.get(url).context["cl"].result_list)


def test_an_entrys_heading_title_and_crumbs_carry_its_time_zone(operator):
    entry = AuditEntry.objects.create(user=operator, action="discard", record_ids=[1], outcome="1 discarded")
    name = f"Discard by {operator.username} at {show_time(entry.at)}"
    client = signed_in(operator)

    html = entry_page(client, entry)
    crumbs, headings = crumbs_and_headings(html)

    assert show_time(entry.at).endswith(" UTC")
    assert crumbs[-1] == name and name in headings
    assert f"<title>{name} |" in html
    crumbs, headings = crumbs_and_headings(entry_page(client, entry, "history"))
    assert crumbs[-2] == name and f"Change history: {name}" in headings


def test_the_audit_list_shows_each_time_with_its_zone(operator):
    entry = AuditEntry.objects.create(user=operator, action="discard", record_ids=[1], outcome="1 discarded")

    html = signed_in(operator).get(reverse("admin:republish_auditentry_changelist")).content.decode()

    assert f">{show_time(entry.at)}</a>" in html


def test_a_big_entry_shows_its_count_the_first_ids_linked_and_one_link_to_exactly_its_records(operator):
    rows = records(IDS_SHOWN + 5)
    ids = [row.pk for row in reversed(rows)]  # in the entry's own order, not the table's
    records(3, first=100)  # others, never listed
    job = ReplayJob.objects.create(record_ids=ids, total=len(ids), state="finished")
    entry = AuditEntry.objects.create(user=operator, action="bulk_republish", job=job, record_ids=ids, outcome="ok")
    Review.objects.filter(pk=ids[0]).update(status=Status.REPUBLISHED)  # sent: no longer "still to republish"
    client = signed_in(operator)

    html = entry_page(client, entry)

    assert f"{len(ids)} records" in html and "… and 5 more" in html
    linked = [int(pk) for pk in re.findall(r'<a href="/admin/deadletter/deadletterrecord/(\d+)/change/">', html)]
    assert linked == ids[:IDS_SHOWN]
    assert str(ids) not in html  # never the whole list as a wall of numbers
    (everything,) = re.findall(r'<a href="([^"]+)" id="entry-records-link">All 25 in the dead-letter list</a>', html)
    assert listed(client, everything.replace("&amp;", "&")) == sorted(ids)


def test_a_jobs_end_links_the_jobs_records_even_those_already_sent(operator):
    rows = records(4)
    Review.objects.filter(pk=rows[0].pk).update(status=Status.REPUBLISHED)
    job = ReplayJob.objects.create(record_ids=[r.pk for r in rows[:3]], total=3, state="finished")
    ended = AuditEntry.objects.create(user=operator, action="job_ended", job=job, outcome="finished")
    client = signed_in(operator)

    html = entry_page(client, ended)

    assert f"3 records of job {job.pk}" in html
    assert listed(client, f"{reverse(CHANGELIST)}?audit_entry={ended.pk}") == sorted(r.pk for r in rows[:3])


def test_an_entry_without_a_job_links_exactly_its_own_records(operator):
    rows = records(4)
    discard = AuditEntry.objects.create(user=operator, action="discard", record_ids=[rows[1].pk, rows[3].pk])
    client = signed_in(operator)

    assert "2 records" in entry_page(client, discard)
    assert listed(client, f"{reverse(CHANGELIST)}?audit_entry={discard.pk}") == [rows[1].pk, rows[3].pk]


@pytest.mark.parametrize("value", ["999999", "abc", "99999999999999999999"])
def test_an_unknown_entry_lists_no_records(operator, value):
    records(2)

    page = signed_in(operator).get(f"{reverse(CHANGELIST)}?audit_entry={value}")

    assert page.status_code == 200 and list(page.context["cl"].result_list) == []


def test_the_list_shows_a_long_outcome_cut_with_the_whole_on_hover_and_on_the_entrys_page(operator):
    outcome = "republish job 7 stopped: 120 of 384 settled in 6 chunk(s): " + "org.apache.kafka.Error " * 20
    entry = AuditEntry.objects.create(user=operator, action="job_ended", outcome=outcome.strip())
    client = signed_in(operator)

    html = client.get(reverse("admin:republish_auditentry_changelist")).content.decode()

    assert f'<span class="rp-clamp" title="{outcome.strip()}">' in html
    assert outcome.strip() in entry_page(client, entry)


def test_an_approval_that_names_only_the_first_ids_counts_and_links_all_of_its_jobs(operator):
    rows = records(6)
    ids = [row.pk for row in rows]
    job = ReplayJob.objects.create(record_ids=ids, total=len(ids), state="queued")
    # As jobs.approve writes it for a big job: the first ids only (1,000 there; 2 here).
    entry = AuditEntry.objects.create(user=operator, action="approve", job=job, record_ids=ids[:2], outcome="ok")
    client = signed_in(operator)

    html = entry_page(client, entry)

    assert f"6 records of job {job.pk}" in html
    (everything,) = re.findall(r'<a href="([^"]+)" id="entry-records-link">All 6 in the dead-letter list</a>', html)
    assert listed(client, everything.replace("&amp;", "&")) == sorted(ids)
