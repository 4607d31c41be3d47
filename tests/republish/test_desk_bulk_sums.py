"""The bulk confirmation's figures add up: the records skipped by status, those needing a look
(each counted once however many findings it has), the boxes' counts, those left out and the
target-topic table all reconcile with the selection and with what the button sends."""

from __future__ import annotations

import re

import pytest

from deadletter.models import Review, Status
from republish.models import Replay, ReplayJob
from tests.deadletter.desk_support import store

from .conftest import billing_event, billing_headers, wait_for_metadata
from .test_desk_bulk_leave_out import confirm, submit

pytestmark = pytest.mark.django_db


def without_topic(offset: int) -> list:
    return [h for h in billing_headers("unused", 0, offset) if h[0] != "x-original-topic"]


@pytest.fixture
def overlapping(make_topic, cluster) -> dict[str, list]:
    """9 selected: 3 clean; 2 whose event id was republished; 1 without an original topic; 1 with
    both findings; the republished twin and a discarded record without a topic, both skipped."""
    topic = make_topic(partitions=1, prefix="test.desk-sums")
    wait_for_metadata(cluster, topic)

    def dup(n: int, headers: list | None = None):
        return store(n, b"acc_dup", billing_event("acc_dup", "evt-dup"), headers or billing_headers(topic, 0, n))

    def own(n: int, headers: list):
        return store(n, b"acc_%d" % n, billing_event(f"acc_{n}", f"evt-{n}"), headers)

    clean = [own(n, billing_headers(topic, 0, n)) for n in (0, 1, 2)]
    twin = dup(10)
    flagged = [dup(11), dup(12), own(13, without_topic(13)), dup(14, without_topic(14))]
    discarded = own(15, without_topic(15))
    Review.objects.filter(pk=twin.pk).update(status=Status.REPUBLISHED)
    Review.objects.filter(pk=discarded.pk).update(status=Status.DISCARDED)
    Replay.objects.create(
        record=twin, state=Replay.State.REPUBLISHED, target_topic=topic, target_partition=0, start_offset=0
    )
    return {"clean": clean, "flagged": flagged}


def number(pattern: str, html: str) -> int:
    match = re.search(pattern, html, re.S)
    assert match is not None, pattern
    return int(match[1])


def test_the_confirmation_figures_add_up_to_the_selection_and_the_button(overlapping, operator_client):
    page = confirm(operator_client)
    html, context = page.content.decode(), page.context

    assert (context["total"], context["not_republishable"], context["sendable"]) == (9, 2, 7)
    # Each flagged republishable record once: 2 + 1 + 1 (both findings), not 3 + 2.
    assert context["need_look"] == sum(count for _, count in context["need_look_by"]) == 4
    assert number(r"<strong>(\d+)</strong> of these 7 need a look", html) == 4
    assert sorted(count for _, count in context["need_look_by"]) == [1, 1, 2]
    assert "1: event id already republished + original topic missing" in html
    # The boxes count among the 7 that can be sent (the skipped twin and discarded record are not).
    assert {finding.kind: count for finding, count in context["choices"]} == {"already_republished": 3, "no_topic": 2}
    assert context["left_out"] == 4 and context["to_send"] == 3
    assert "9 selected &minus; 2 skipped by status &minus; 4 left out = 3 to send." in html
    assert 'value="Yes, republish 3 record(s)"' in html
    total_row = re.search(r'<tr id="republish-targets-total">(.*?)</tr>', html, re.S)
    assert total_row is not None
    assert re.findall(r"<th>(.*?)</th>", total_row[1]) == ["All", "9", "7"]
    per_topic = context["per_topic"]
    assert sum(selected for _, (selected, _) in per_topic) == 9
    assert sum(sendable for _, (_, sendable) in per_topic) == 7

    submit(operator_client, page, leave_out=["no_topic", "already_republished"])

    job = ReplayJob.objects.get()
    assert job.total == context["to_send"]
    assert sorted(job.record_ids) == sorted(row.pk for row in overlapping["clean"])
