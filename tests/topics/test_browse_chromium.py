"""The message browser in real headless Chromium at 1440 px: rows render, nothing overflows, paging works."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from tests.browser.conftest import browser, log_in, page  # noqa: F401 - the browser fixtures

from .browse_support import SPARE, browse_url

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_browser_page_at_1440_px(live_server, page, log_in, make_topic, cluster):  # noqa: F811
    topic = make_topic(1, 2, SPARE, prefix="chromium")
    wide = {"eventId": "ev-wide", "note": "x" * 5000, "nested": {"accountId": "acc_42"}}
    records = [(f"acc_{i}".encode(), json.dumps({"eventId": f"ev-{i}"}).encode(), ()) for i in range(60)]
    records.append((b"acc_42", json.dumps(wide).encode(), [("x-error-type", b"Boom")]))
    produce_records(kafka.producer(cluster), topic, records, 0, cluster)
    User.objects.create_superuser("ops-admin", "ops@example.com", "correct horse battery")
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in("ops-admin", "correct horse battery")

    page.goto(f"{live_server.url}{browse_url(topic=topic)}")

    assert page.locator("tr.message").count() == 50
    assert page.locator("tr.message").last.get_attribute("data-offset") == "60"
    assert "ev-wide" in page.inner_text("tr.message >> nth=-1")
    # Nothing wider than the window, and no message that must be scrolled sideways to be read.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    assert page.evaluate("document.querySelector('#messages').getBoundingClientRect().right") <= 1440
    assert page.evaluate("[...document.querySelectorAll('#messages pre')].every(p => p.scrollWidth <= p.clientWidth)")
    page.click("#older-link")
    assert page.locator("tr.message").first.get_attribute("data-offset") == "0"
    assert page.locator("tr.message").count() == 11
