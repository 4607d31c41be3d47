"""Links from what the browser and the topic page show: a replay's headers to the replay and to the
dead letter it came from, a partition to its messages; "is internal" a quiet No, not a red ✖."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from topics.models import Partition, Topic

from .browse_support import SPARE, browse_url, get, operator

pytestmark = pytest.mark.django_db


def test_a_replays_headers_link_to_the_replay_and_to_its_dead_letter(admin_client, make_topic, cluster):
    topic = make_topic(1, 2, SPARE, prefix="links")
    replay_id = str(uuid.uuid4())
    headers = [
        ("x-replay-id", replay_id.encode()),
        ("x-replayed-from", b"billing.dlq/2/17"),
        ("x-replay-count", b"1"),
        ("x-replayed-by", b"ops-admin"),
    ]
    produce_records(kafka.producer(cluster), topic, [(b"acc_1", b'{"a": 1}', headers)], 0, cluster)
    page = get(admin_client, browse_url(topic=topic, start="oldest"))

    links = dict(re.findall(r'<a class="header-link" href="([^"]+)">([^<]+)</a>', page))
    by_text = {text: html.unescape(href) for href, text in links.items()}
    assert by_text[replay_id] == f"{reverse('admin:republish_replay_changelist')}?q={replay_id}"
    assert by_text["billing.dlq/2/17"] == browse_url(topic="billing.dlq", partition=2, start="offset", offset=17)
    assert "<strong>x-replay-count</strong>: <span>1</span>" in page  # not a link


def test_the_topic_page_links_each_partition_to_its_messages(admin_client):
    topic = Topic.objects.create(name="billing.links.events", partition_count=2, replication_factor=3,
                                 last_synced=timezone.now())  # fmt: skip
    for number in range(2):
        Partition.objects.create(topic=topic, number=number, leader=1, replicas=[1, 2, 3], isr=[1, 2, 3])
    url = reverse("admin:topics_topic_change", args=[topic.pk])
    page = admin_client.get(url).content.decode()

    hrefs = [html.unescape(h) for h in re.findall(r'class="partition-messages" href="([^"]+)"', page)]
    assert hrefs == [browse_url(topic="billing.links.events", partition=n) for n in range(2)]
    # Not internal: a quiet No, not Django's red icon.
    assert "icon-no.svg" not in page
    assert re.search(r"Is internal:</label>\s*<div class=\"readonly\"><span[^>]*>No</span>", page), page

    # Without the browse permission: the numbers stay text.
    assert "partition-messages" not in operator(browse=False).get(url).content.decode()
