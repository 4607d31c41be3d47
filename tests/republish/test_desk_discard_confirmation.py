"""The bulk discard confirmation for a selection of any size (walkthrough): the selection summarised
by status and error type with counts and a few linked examples, what discard refuses counted, the
reason and one confirm button before the summary tables, Cancel back to the list with its filters;
what is discarded is exactly what the page showed."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from deadletter.models import DeadLetterRecord, Review, Status
from republish import discard
from republish.models import AuditEntry

from .conftest import CHANGELIST, messages_of

pytestmark = pytest.mark.django_db

TOPIC = "billing.ledger.events"
LIST = f"{reverse(CHANGELIST)}?original_topic={TOPIC}"


def store(count: int, error_type: str, status: Status = Status.NEW, topic: str = TOPIC) -> list[int]:
    first = DeadLetterRecord.objects.count()
    rows = DeadLetterRecord.objects.bulk_create(
        [
            DeadLetterRecord(
                dlq_topic="test.desk-discard-dlq",
                partition=0,
                offset=first + n,
                key=f"acc_{n}".encode(),
                value=b"{}",
                original_topic=topic,
                error_type=error_type,
            )
            for n in range(count)
        ],
        batch_size=5000,
    )
    ids = [row.pk for row in rows]
    Review.objects.filter(pk__in=ids).update(status=status)
    return ids


def confirm_across(client, url: str = LIST):
    """ "Select all" on the filtered list, then "Discard selected": the confirmation page."""
    first = DeadLetterRecord.objects.order_by("pk").values_list("pk", flat=True).first()
    data = {"action": "discard_selected", "select_across": "1", "index": "0", "_selected_action": [first]}
    return client.post(url, data)


def submit(client, page, reason: str = "duplicates of the 3 May ledger import", url: str = LIST):
    data = {
        "action": "discard_selected",
        "select_across": "1",
        "index": "0",
        "_selected_action": re.findall(r'name="_selected_action" value="(\d+)"', page.content.decode()),
        "selection": page.context["selection"],
        "post": "yes",
        "reason": reason,
    }
    return client.post(url, data, follow=True)


def test_a_large_selection_is_summarised_by_status_and_error_type_with_the_reason_and_button_first(
    operator_client,
):
    store(1800, "LedgerTimeoutError")
    store(30, "LedgerTimeoutError", Status.REPUBLISHED)
    store(11, "InsufficientFundsError", Status.DISCARDED)
    store(4, "InsufficientFundsError", Status.IN_REVIEW)
    store(500, "LedgerTimeoutError", topic="billing.other.events")  # not in the list's filter

    page = confirm_across(operator_client)

    assert page.status_code == 200
    summary = page.context["summary"]
    assert (summary.total, summary.to_discard, summary.refused) == (1845, 1804, 41)
    assert [(g.status, g.count, g.discardable) for g in summary.by_status] == [
        ("new", 1800, True),
        ("in_review", 4, True),
        ("republished", 30, False),
        ("discarded", 11, False),
    ]
    assert summary.by_error_type == [("LedgerTimeoutError", 1830), ("InsufficientFundsError", 15)]
    html = page.content.decode()
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "1845 dead letters selected: 1804 will be marked discarded with your reason; 41 are refused" in text
    # A few examples a status, linked; never a line per record.
    examples = re.findall(r'href="/admin/deadletter/deadletterrecord/(\d+)/change/"', html)
    assert 0 < len(examples) <= len(summary.by_status) * discard.EXAMPLES
    assert "more</li>" not in html
    # The reason and the one button come before the tables, which cannot push them down.
    assert len(re.findall(r'type="submit"', html[html.index('id="content"') :])) == 1  # (the header's is log out)
    assert 'value="Yes, discard 1804 records"' in html
    assert html.index('name="reason"') < html.index('id="discard-submit"') < html.index('id="discard-by-status"')
    # Cancel goes back to the list the action was posted from, filters and all.
    assert f'href="{LIST}" class="button cancel-link" id="discard-cancel"' in html
    assert 'name="select_across" value="1"' in html


def test_discarding_across_a_filtered_list_discards_exactly_the_rows_the_page_showed(operator_client, operator):
    new = store(25, "LedgerTimeoutError")
    failed = store(3, "LedgerTimeoutError", Status.FAILED)
    republished = store(2, "LedgerTimeoutError", Status.REPUBLISHED)
    elsewhere = store(5, "LedgerTimeoutError", topic="billing.other.events")

    response = submit(operator_client, confirm_across(operator_client))

    assert messages_of(response) == ["28 dead letters discarded. 2 skipped (already acted on)."]
    assert response.redirect_chain[-1][0] == LIST  # back to the list, filters kept
    statuses = dict(Review.objects.values_list("pk", "status"))
    assert {statuses[pk] for pk in new + failed} == {Status.DISCARDED}
    assert {statuses[pk] for pk in republished} == {Status.REPUBLISHED}
    assert {statuses[pk] for pk in elsewhere} == {Status.NEW}
    audit = AuditEntry.objects.get()
    assert (audit.user, sorted(audit.record_ids)) == (operator, sorted(new + failed))


def test_rows_drained_into_the_filter_after_the_confirmation_are_not_discarded_unseen(operator_client):
    shown = store(10, "LedgerTimeoutError")
    page = confirm_across(operator_client)
    drained = store(3, "LedgerTimeoutError")  # the drain added these while the page was open

    response = submit(operator_client, page)

    assert any("The selection changed since the confirmation page" in m for m in messages_of(response))
    assert response.redirect_chain[-1][0] == LIST
    assert set(Review.objects.filter(pk__in=shown + drained).values_list("status", flat=True)) == {Status.NEW}
    assert not AuditEntry.objects.exists()


def test_rows_that_left_the_filter_after_the_confirmation_stop_the_discard(operator_client):
    ids = store(10, "LedgerTimeoutError")
    url = f"{reverse(CHANGELIST)}?status=new"
    page = confirm_across(operator_client, url)
    Review.objects.filter(pk=ids[0]).update(status=Status.IN_REVIEW)  # triaged meanwhile: no longer in ?status=new

    response = submit(operator_client, page, url=url)

    assert any("The selection changed" in m for m in messages_of(response))
    assert not Review.objects.filter(status=Status.DISCARDED).exists()


def test_a_selection_across_the_list_without_the_pages_signature_discards_nothing(operator_client):
    ids = store(4, "LedgerTimeoutError")
    data = {"action": "discard_selected", "select_across": "1", "index": "0", "_selected_action": ids[:1]}

    missing = operator_client.post(LIST, data | {"post": "yes", "reason": "x"}, follow=True)
    forged = operator_client.post(LIST, data | {"post": "yes", "reason": "x", "selection": "4:abc"}, follow=True)

    for response in (missing, forged):
        assert any("The selection changed" in m for m in messages_of(response))
    assert not Review.objects.filter(status=Status.DISCARDED).exists()
