"""The group page: where the group is stuck (the message it reads next, lag in records and time), its members,
links to its topics and into the browser; the topic page lists its groups."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from topics.models import ConsumerGroup, Topic

from .browse_support import SPARE, browse_url, get, shown

pytestmark = pytest.mark.django_db
OFFSET_STORED = -1000  # librdkafka's "start at the group's committed offset"


def test_the_stuck_message_is_the_one_a_new_consumer_of_the_group_reads_first(
    admin_client, make_topic, group_names, commit, sync, cluster
):
    topic = make_topic(2, 2, SPARE, prefix="stuck")
    producer = kafka.producer(cluster)
    produce_records(producer, topic, [(f"k{i}".encode(), f"v{i}".encode(), ()) for i in range(30)], 0, cluster)
    time.sleep(1.2)  # the message at the committed offset is measurably older than "now"
    group = group_names("stuck")
    commit(group, {(topic, 0): 10, (topic, 1): 0})
    sync()

    before = datetime.now(UTC).timestamp()
    page = get(
        admin_client, reverse("admin:topics_consumergroup_change", args=[ConsumerGroup.objects.get(group_id=group).pk])
    )
    row = re.search(rf'<tr class="stuck-row" data-topic="{re.escape(topic)}" data-partition="0">(.*?)</tr>', page, re.S)
    after = datetime.now(UTC).timestamp()
    assert row, page
    assert "offset 10 and the messages after it" in row.group(1)
    assert '<td class="stuck-key">k10</td>' in row.group(1)
    assert page.index('id="group-stuck"') < page.index('class="form-row')  # first on the page
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert cells[1:5] == ["0", "10", "30", "20"]
    topic_pk = Topic.objects.get(name=topic).pk
    assert reverse("admin:topics_topic_change", args=[topic_pk]) in cells[0]
    browse = re.search(r'class="stuck-link" href="([^"]+)"', row.group(1)).group(1).replace("&amp;", "&")
    assert shown(get(admin_client, browse))[0] == (0, 10)

    # A real consumer of the group reads exactly that message first.
    client = kafka.consumer(group, cluster)
    try:
        kafka.assign(client, {(topic, 0): OFFSET_STORED})
        first = kafka.poll(client, 1, 20, cluster)[0]
    finally:
        client.close()
    assert (first.partition, first.offset, first.value) == (0, 10, b"v10")

    # The time lag is that message's age.
    # Shown rounded to the second ("1 s"), exact in data-seconds.
    assert re.fullmatch(r"(\d+ min )?\d+ s", cells[5]), cells[5]
    seconds = float(re.search(r'class="time-lag" data-seconds="([\d.]+)"', row.group(1)).group(1))
    sent = first.timestamp_ms / 1000
    assert before - sent - 0.01 <= seconds <= after - sent + 0.01

    partition_1 = re.search(rf'data-topic="{re.escape(topic)}" data-partition="1">(.*?)</tr>', page, re.S).group(1)
    assert "caught up" in partition_1

    topic_page = get(admin_client, reverse("admin:topics_topic_change", args=[topic_pk]))
    assert (
        reverse("admin:topics_consumergroup_change", args=[ConsumerGroup.objects.get(group_id=group).pk]) in topic_page
    )
    assert f'{browse_url()}topic={topic}" id="browse-messages-button"' in topic_page
