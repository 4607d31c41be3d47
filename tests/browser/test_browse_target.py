"""In real Chromium: arriving in the message browser at an offset (a dead letter's original message)
shows that message highlighted, and a long value takes the row's width."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from tests.browser.wrapping import lines_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_message_at_the_offset_is_highlighted(make_topic, cluster, live_server, page, log_in):
    topic = make_topic(partitions=2, prefix="test.billing")
    records = [
        (f"acc_{i}".encode(), json.dumps({"eventId": f"ev-{i}", "pad": "x" * 900}).encode(), ()) for i in range(60)
    ]
    produce_records(kafka.producer(cluster), topic, records, 1, cluster)
    User.objects.create_superuser("desk", password="desk-password")
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in("desk", "desk-password")

    query = urlencode({"topic": topic, "partition": 1, "start": "offset", "offset": 30})
    page.goto(f"{live_server.url}{reverse('admin:topics_topic_messages')}?{query}")
    target = page.locator("#target-message")
    assert (target.get_attribute("data-partition"), target.get_attribute("data-offset")) == ("1", "30")
    background = "(el) => getComputedStyle(el.querySelector('td')).backgroundColor"
    other = page.locator("tr.message").nth(1)
    assert target.evaluate(background) != other.evaluate(background)
    # The value column is the widest; its timestamp is on one line.
    widths = target.evaluate("(tr) => [...tr.children].map(td => td.getBoundingClientRect().width)")
    assert widths[-1] == max(widths) and widths[-1] > 450, widths
    assert lines_of(page, "#target-message td.time") == 1
    assert target.locator("td.time").evaluate("(td) => td.scrollWidth <= td.clientWidth")  # and not cut
