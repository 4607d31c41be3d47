"""The consumer group's mirror page leads to the reset, and a reset refreshes the group's mirror rows."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from tests.conftest import ensure_ops_groups
from topics.models import ConsumerGroup, GroupOffset
from topics.sync import sync_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed_group(make_topic, group_names, cluster):
    topic = make_topic(partitions=2, prefix="test.group-page")
    producer = kafka.producer(cluster)
    produce_records(producer, topic, [(b"k", b"v", ())] * 6, partition=0, cluster=cluster)
    group_id = group_names("test-group-page")
    consumer = kafka.consumer(group_id, cluster)
    kafka.commit_positions(consumer, {(topic, 0): 4}, cluster)
    consumer.close()
    return group_id, topic


def user_in(group: str) -> User:
    ensure_ops_groups()  # whatever ran before: a transactional test flushes the rows the migrations wrote
    user = User.objects.create_user(f"user-{group.split()[1].lower()}", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def test_sync_group_mirrors_the_new_committed_offsets_and_lag(committed_group, cluster):
    group_id, topic = committed_group

    sync_group(group_id, cluster)

    group = ConsumerGroup.objects.get(group_id=group_id)
    assert group.total_lag == 2
    offset = GroupOffset.objects.get(group=group, topic=topic, partition=0)
    assert (offset.committed_offset, offset.end_offset, offset.lag) == (4, 6, 2)


@pytest.mark.parametrize(("role", "sees_reset"), [("Ops operator", True), ("Ops viewer", False)])
def test_the_group_page_offers_the_reset_only_to_who_may_reset(committed_group, cluster, role, sees_reset):
    group_id, _ = committed_group
    sync_group(group_id, cluster)
    client = Client()
    client.force_login(user_in(role))
    group = ConsumerGroup.objects.get(group_id=group_id)

    page = client.get(reverse("admin:topics_consumergroup_change", args=[group.pk]))
    action = client.post(
        reverse("admin:topics_consumergroup_changelist"), {"action": "reset_offsets", "_selected_action": [group.pk]}
    )

    assert page.status_code == 200
    assert (b"reset-offsets-button" in page.content) is sees_reset
    if sees_reset:
        assert action.status_code == 302 and action["Location"].endswith(f"?group_id={group_id}")
    else:
        assert action.status_code == 403


def test_an_applied_reset_refreshes_the_group_mirror(committed_group, cluster):
    from django.core.management import call_command

    group_id, topic = committed_group
    sync_group(group_id, cluster)

    call_command("reset_offsets", group_id, "--topic", f"{topic}:0", "--to-earliest", "--execute")

    offset = GroupOffset.objects.get(group__group_id=group_id, topic=topic, partition=0)
    assert (offset.committed_offset, offset.lag) == (0, 6)
    assert ConsumerGroup.objects.get(group_id=group_id).total_lag == 6
