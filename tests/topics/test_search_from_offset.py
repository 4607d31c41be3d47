"""A dead letter's "newer events of this key": the search looks no lower than the original's offset."""

from __future__ import annotations

import pytest
from django.urls import reverse

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from tests.deadletter import samples
from tests.deadletter.desk_support import store

from .browse_support import SPARE, get, search_url, shown

pytestmark = pytest.mark.django_db
KEY = b"acc_42"


def test_newer_events_of_a_dead_letters_key_start_at_its_original(admin_client, make_topic, cluster):
    topic = make_topic(2, 2, SPARE, prefix="from-offset")
    records = [(KEY, b"older"), (b"acc_1", b"x"), (KEY, b"original"), (b"acc_2", b"y"), (KEY, b"newer"), (KEY, b"new")]
    offsets = [
        offset
        for _, offset in produce_records(kafka.producer(cluster), topic, [(k, v, ()) for k, v in records], 1, cluster)
    ]
    original = offsets[2]
    where = {"x-original-topic": topic, "x-original-partition": "1", "x-original-offset": str(original)}
    headers = [(name, where[name].encode() if name in where else value) for name, value in samples.billing_headers()]
    row = store(1, KEY, b"original", headers)

    record_page = get(admin_client, reverse("admin:deadletter_deadletterrecord_change", args=[row.pk]))
    href = record_page.split('id="newer-for-key" href="')[1].split('"')[0].replace("&amp;", "&")
    page = get(admin_client, href)

    # Newest first, down to the original; the older event of the same key is below the bound.
    assert shown(page) == [(1, offsets[5]), (1, offsets[4]), (1, original)]
    assert "Scanned 4 of 4 records" in page
    assert f"Partition 1: searching offsets {original} and above only." in page


def test_a_search_from_an_offset_needs_one_partition(admin_client, make_topic):
    topic = make_topic(2, 2, SPARE, prefix="from-offset")
    page = get(admin_client, search_url(topic=topic, kind="key", value="k", **{"from": "3"}))
    assert "A search from an offset needs one partition" in page
