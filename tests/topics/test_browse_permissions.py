"""Message keys, values and headers are billing data: they need topics.browse_messages."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.urls import reverse

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from tests.conftest import ensure_ops_groups
from topics.models import BrowseLog

from .browse_support import SPARE, browse_url, operator, search_url, shown

pytestmark = pytest.mark.django_db
DOWNLOAD = reverse("admin:topics_topic_message_download")


@pytest.fixture
def topic(make_topic, cluster):
    name = make_topic(1, 2, SPARE, prefix="browse")
    produce_records(kafka.producer(cluster), name, [(b"acc_1", b'{"secret": 1}', ())], 0, cluster)
    return name


def test_without_the_permission_every_message_page_is_refused(topic):
    client = operator(browse=False)

    for url in (browse_url(topic=topic), search_url(topic=topic), f"{DOWNLOAD}?topic={topic}&partition=0&offset=0"):
        assert client.get(url).status_code == 403, url
    assert not BrowseLog.objects.exists()


def test_with_the_permission_a_browse_is_shown_and_logged(topic):
    client = operator(browse=True)

    response = client.get(browse_url(topic=topic))

    assert response.status_code == 200 and shown(response.content.decode()) == [(0, 0)]
    log = BrowseLog.objects.get()
    assert (log.username, log.action, log.topic, log.partitions) == (
        response.wsgi_request.user.username,
        "browse",
        topic,
        "0",
    )
    assert "0: 0–1" in log.detail


def test_both_ops_groups_hold_the_permission():
    ensure_ops_groups()
    importlib.import_module("topics.migrations.0004_grant_browse_messages").grant(apps, None)
    for name in ("Ops viewer", "Ops operator"):
        assert Group.objects.get(name=name).permissions.filter(codename="browse_messages").exists()


def test_the_browse_log_is_for_superusers_only(admin_client, topic):
    admin_client.get(browse_url(topic=topic))
    log_list = reverse("admin:topics_browselog_changelist")

    assert admin_client.get(log_list).status_code == 200
    assert operator(browse=True).get(log_list).status_code == 403
