"""Links from a dead letter to its original message, the key's newer events and its group; from a
topic to its dead letters; the assignee limited to triagers, filtered, "assigned to me"."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from deadletter.models import DeadLetterRecord, Review
from tests.conftest import ensure_ops_groups
from tests.deadletter import samples
from tests.deadletter.desk_support import CHANGELIST, RECORD_PAGE, store
from topics.models import ConsumerGroup, Topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def row():
    return store(1, b"acc_42", samples.billing_event(), samples.billing_headers(offset=1234))


def link(page: str, element_id: str) -> tuple[str, dict[str, list[str]]]:
    href = page.split(f'id="{element_id}" href="')[1].split('"')[0].replace("&amp;", "&")
    parts = urlsplit(href)
    return parts.path, parse_qs(parts.query)


def test_the_record_links_to_its_original_message_and_the_keys_newer_events(admin_client, row):
    page = admin_client.get(reverse(RECORD_PAGE, args=[row.pk])).content.decode()
    path, query = link(page, "original-message")
    assert path == reverse("admin:topics_topic_messages")
    assert query == {
        "topic": ["billing.transaction.events"],
        "partition": ["3"],
        "start": ["offset"],
        "offset": ["1234"],
    }
    path, query = link(page, "newer-for-key")
    assert path == reverse("admin:topics_topic_search")
    assert query == {
        "topic": ["billing.transaction.events"],
        "partition": ["3"],
        "kind": ["key"],
        "value": ["acc_42"],
        "from": ["1234"],
    }


@pytest.mark.parametrize("offset", [-1, -7])
def test_an_unknown_or_negative_original_offset_is_said_not_linked(admin_client, offset):
    """-1 is Kafka Connect's "unknown" (the drain stores none); any other negative offset is garbage."""
    unknown = store(1, b"acc_42", samples.billing_event(), samples.billing_headers(offset=offset))

    page = admin_client.get(reverse(RECORD_PAGE, args=[unknown.pk])).content.decode()

    assert 'id="original-message"' not in page and 'id="newer-for-key"' not in page
    assert "billing.transaction.events (partition or offset unknown)" in page


def test_the_record_links_to_its_consumer_groups_mirror_page(admin_client, row):
    group = ConsumerGroup.objects.create(group_id="ledger-service", last_synced=timezone.now())
    page = admin_client.get(reverse(RECORD_PAGE, args=[row.pk])).content.decode()
    assert link(page, "consumer-group")[0] == reverse("admin:topics_consumergroup_change", args=[group.pk])


def test_the_topic_page_counts_its_dead_letters_by_status(admin_client, row):
    store(2, b"acc_1", samples.billing_event(), samples.billing_headers(offset=5))
    Review.objects.filter(pk=row.pk).update(status="republished")
    topic = Topic.objects.create(
        name="billing.transaction.events", partition_count=1, replication_factor=3, last_synced=timezone.now()
    )
    page = admin_client.get(reverse("admin:topics_topic_change", args=[topic.pk])).content.decode()
    section = page.split('id="topic-dead-letters"')[1]
    assert "2 dead letters</a>" in section
    assert "?original_topic=billing.transaction.events&amp;status=republished" in section
    assert "<td>Republished</td><td><a" in section and "<td>New</td><td><a" in section


@pytest.fixture
def people():
    ensure_ops_groups()
    operator = User.objects.create_user("olga", is_staff=True)
    operator.groups.add(Group.objects.get(name="Ops operator"))
    viewer = User.objects.create_user("vic", is_staff=True)
    outsider = User.objects.create_user("ann", is_staff=False)
    return {"operator": operator, "viewer": viewer, "outsider": outsider}


def test_the_assignee_choices_are_the_people_who_may_triage(admin_client, admin_user, row, people):
    form = admin_client.get(reverse(RECORD_PAGE, args=[row.pk])).context["adminform"].form
    choices = {user.username for user in form.fields["assignee"].queryset}
    assert choices == {"olga", admin_user.username}


def test_assigned_to_me_and_by_assignee(admin_client, admin_user, row, people):
    other = store(2, b"acc_1", samples.billing_event(), samples.billing_headers(offset=5))
    DeadLetterRecord.objects.filter(pk=row.pk).update(assignee=admin_user)
    DeadLetterRecord.objects.filter(pk=other.pk).update(assignee=people["operator"])
    mine = admin_client.get(reverse(CHANGELIST), {"assignee": "me"}).context["cl"].result_list
    theirs = admin_client.get(reverse(CHANGELIST), {"assignee": str(people["operator"].pk)}).context["cl"]
    assert list(mine) == [row] and list(theirs.result_list) == [other]
