"""What the republish pages offer and link to: the target list (issue 17 item 10), discard only
where it can succeed, and links from a replay to its written copy, its dead letter and the dead
letter it came back as (issue 18 item 4)."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from deadletter.models import DeadLetterRecord, Review, Status
from republish.forms import target_topic_choices
from republish.models import Replay
from topics.models import Topic

pytestmark = pytest.mark.django_db

RECORD = "admin:deadletter_deadletterrecord_change"


def mirror(*names: str) -> None:
    for name in names:
        Topic.objects.create(
            name=name, partition_count=1, replication_factor=3, last_synced=timezone.now(), is_internal=False
        )


def test_the_target_list_offers_billing_topics_never_the_dead_letter_internal_or_test_topics():
    mirror(
        "billing.account.events",
        "billing.refunds",
        settings.DEAD_LETTER_TOPIC,
        "__consumer_offsets",
        "_schemas",
        "test.e2e-billing-1",
        "billing.refunds.DLT",
        "billing.refunds-retry-0",
    )

    offered = [name for name, _ in target_topic_choices()]

    assert offered == ["", "billing.account.events", "billing.refunds"]


@pytest.fixture
def row(db) -> DeadLetterRecord:
    return DeadLetterRecord.objects.create(
        dlq_topic="test.desk-links-dlq", partition=0, offset=1, key=b"acc_1", original_topic="billing.account.events"
    )


def test_discard_is_not_offered_for_a_republished_record_and_its_url_refuses_at_once(row, operator_client):
    assert b'id="discard-button"' in operator_client.get(reverse(RECORD, args=[row.pk])).content
    Review.objects.filter(pk=row.pk).update(status=Status.REPUBLISHED)

    page = operator_client.get(reverse(RECORD, args=[row.pk]))
    direct = operator_client.get(reverse("admin:deadletter_deadletterrecord_discard", args=[row.pk]), follow=True)

    assert b'id="discard-button"' not in page.content and b'id="republish-button"' not in page.content
    assert [str(m) for m in direct.context["messages"]] == ["Not discarded: the record is republished."]


def test_a_replay_links_to_its_written_copy_its_dead_letter_and_the_dead_letter_it_came_back_as(row, operator_client):
    replay = Replay.objects.create(
        record=row,
        state=Replay.State.REPUBLISHED,
        target_topic="billing.account.events",
        target_partition=3,
        start_offset=40,
        offset=42,
        replay_id=uuid.uuid4(),
    )
    returned = DeadLetterRecord.objects.create(
        dlq_topic="test.desk-links-dlq", partition=0, offset=2, returned_replay_id=replay.replay_id, failed_again=True
    )
    browser = reverse("admin:topics_topic_messages")
    copy = f"{browser}?topic=billing.account.events&amp;partition=3&amp;start=offset&amp;offset=42"

    replay_page = operator_client.get(reverse("admin:republish_replay_change", args=[replay.pk])).content.decode()
    record_page = operator_client.get(reverse(RECORD, args=[row.pk])).content.decode()
    returned_page = operator_client.get(reverse(RECORD, args=[returned.pk])).content.decode()

    assert f'href="{copy}"' in replay_page
    assert f'href="{reverse(RECORD, args=[row.pk])}" id="replay-record"' in replay_page
    assert f'href="{reverse(RECORD, args=[returned.pk])}" id="returned-record"' in replay_page
    assert f'href="{copy}"' in record_page
    assert reverse("admin:republish_replay_change", args=[replay.pk]) in record_page
    assert reverse("admin:republish_replay_change", args=[replay.pk]) in returned_page
    assert 'id="returned-replay"' in returned_page
