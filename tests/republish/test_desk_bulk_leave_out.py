"""The bulk confirmation lets the operator leave out the records its safety checks flagged, a
box per kind (those that would surely fail or apply an event twice ticked by default), and the
job then holds only the rest; its cancel goes back to the list as it was filtered."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from deadletter.models import Review, Status
from republish.models import Replay, ReplayJob
from tests.deadletter.desk_support import store

from .conftest import CHANGELIST, billing_event, billing_headers, wait_for_metadata

pytestmark = pytest.mark.django_db


@pytest.fixture
def selection(make_topic, cluster):
    """Three clean records, one without an original topic, one whose event was republished already
    (by a twin that is republished itself, so skipped anyway)."""
    topic = make_topic(partitions=1, prefix="test.desk-leave-out")
    wait_for_metadata(cluster, topic)
    clean = [
        store(n, b"acc_%d" % n, billing_event(f"acc_{n}", f"evt-{n}"), billing_headers(topic, 0, n)) for n in range(3)
    ]
    headers = [h for h in billing_headers(topic, 0, 10) if h[0] != "x-original-topic"]
    no_topic = store(10, b"acc_10", billing_event("acc_10", "evt-10"), headers)
    twin = store(11, b"acc_11", billing_event("acc_11", "evt-dup"), billing_headers(topic, 0, 11))
    duplicate = store(12, b"acc_11", billing_event("acc_11", "evt-dup"), billing_headers(topic, 0, 12))
    Review.objects.filter(pk=twin.pk).update(status=Status.REPUBLISHED)
    Replay.objects.create(
        record=twin, state=Replay.State.REPUBLISHED, target_topic=topic, target_partition=0, start_offset=0
    )
    return {"clean": clean, "no_topic": no_topic, "duplicate": duplicate, "twin": twin}


def confirm(client: Client, query: str = "", data: dict | None = None):
    return client.post(
        reverse(CHANGELIST) + query,
        {"action": "republish_selected", "select_across": "1", "index": "0", "_selected_action": ["1"], **(data or {})},
    )


def submit(client: Client, confirmation, **extra):
    data = {
        "action": "republish_selected", "select_across": "1", "index": "0", "_selected_action": ["1"], "post": "yes",
        "target_topic": "", "rate_limit": "", "selection": confirmation.context["selection"], **extra,
    }  # fmt: skip
    return client.post(reverse(CHANGELIST), data, follow=True)


def test_the_flagged_kinds_are_offered_and_those_that_would_fail_left_out_by_default(selection, operator_client):
    page = confirm(operator_client)

    html = page.content.decode()
    offered = {finding.kind: finding for finding in page.context["offered"]}
    assert set(offered) == {"no_topic", "already_republished"}
    assert '<input type="checkbox" name="leave_out" value="no_topic" checked>' in html
    assert '<input type="checkbox" name="leave_out" value="already_republished" checked>' in html
    # 6 selected, the republished twin skipped, the two flagged left out: 3 go.
    assert 'value="Yes, republish 3 record(s)"' in html
    assert "2 flagged record(s) left out." in html


def test_the_job_holds_only_the_records_not_left_out(selection, operator_client):
    confirmation = confirm(operator_client)

    done = submit(operator_client, confirmation, leave_out=["no_topic", "already_republished"])

    job = ReplayJob.objects.get()
    assert sorted(job.record_ids) == sorted(row.pk for row in selection["clean"])
    assert job.total == 3
    assert "Left out 2 flagged record(s)" in done.content.decode()
    assert "left out 2 flagged record(s)" in job.audit_entries.get().outcome


def test_a_kind_unticked_stays_in_the_job(selection, operator_client):
    confirmation = confirm(operator_client)

    submit(operator_client, confirmation, leave_out=["no_topic"])

    job = ReplayJob.objects.get()
    expected = [*(row.pk for row in selection["clean"]), selection["duplicate"].pk]
    assert sorted(job.record_ids) == sorted(expected)


def test_nothing_ticked_sends_every_republishable_record(selection, operator_client):
    submit(operator_client, confirm(operator_client))

    job = ReplayJob.objects.get()
    assert selection["twin"].pk not in job.record_ids and len(job.record_ids) == 5


def test_cancel_returns_to_the_list_with_its_filters(selection, operator_client):
    page = confirm(operator_client, "?status=new&original_topic=x")

    html = page.content.decode()
    assert (
        'href="/admin/deadletter/deadletterrecord/?status=new&amp;original_topic=x" class="button cancel-link"' in html
    )
