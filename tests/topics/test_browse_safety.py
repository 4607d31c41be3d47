"""Browsing reads with assign + seek only: no consumer group appears or commits, no topic is created."""

from __future__ import annotations

import uuid

import pytest

from opsportal import kafka
from opsportal.kafka.testing import produce_records

from .browse_support import SPARE, browse_url, error, get, search_url, shown

pytestmark = pytest.mark.django_db


def test_browsing_and_searching_create_no_group_and_commit_nothing(admin_client, make_topic, cluster):
    topic = make_topic(2, 2, SPARE, prefix="browse")
    produce_records(kafka.producer(cluster), topic, [(b"k", b"v", ())] * 60, 0, cluster)
    kafka.delete_groups([kafka.BROWSE_GROUP_ID], cluster)  # a clean slate, whatever an earlier run left
    groups_before = set(kafka.list_group_ids(cluster))

    for url in (
        browse_url(topic=topic),
        browse_url(topic=topic, start="oldest", partition=0),
        search_url(topic=topic, kind="key", value="k"),
    ):
        page = get(admin_client, url)
        assert not error(page) and shown(page), url

    assert set(kafka.list_group_ids(cluster)) - groups_before == set()
    assert kafka.BROWSE_GROUP_ID not in kafka.list_group_ids(cluster)
    committed, _ = kafka.committed_offsets([kafka.BROWSE_GROUP_ID], cluster)
    assert committed.get(kafka.BROWSE_GROUP_ID, {}) == {}


def test_browsing_an_unknown_topic_says_so_and_does_not_create_it(admin_client, cluster):
    name = f"browse.never-{uuid.uuid4().hex[:8]}"

    page = get(admin_client, browse_url(topic=name))
    search = get(admin_client, search_url(topic=name, kind="key", value="x"))

    assert error(page) == f"The cluster has no topic named {name!r}."
    assert error(search) == f"The cluster has no topic named {name!r}."
    assert name not in kafka.list_topics(cluster)
