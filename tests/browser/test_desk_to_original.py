"""From a dead letter's record page in real Chromium: one click to its original message in the browser,
one click to the newer events of its key. Real cluster: the original is produced to a real billing
topic, dead-lettered with billing headers pointing at it, and drained for real."""

from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from deadletter.drain import drain_dead_letter
from deadletter.models import DeadLetterRecord
from opsportal import kafka
from opsportal.kafka.testing import produce_records

pytestmark = pytest.mark.django_db(transaction=True)
PARTITION = 2  # not the first partition, so a link that lost its partition shows the wrong messages
KEY = b"acc_42"


def event(account: str, n: int) -> bytes:
    return json.dumps(
        {"eventId": f"ev-{account}-{n}", "eventType": "TransactionCompleted", "aggregateId": account}
    ).encode()


def billing_headers(topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    return [
        ("x-original-topic", topic.encode()),
        ("x-original-partition", str(partition).encode()),
        ("x-original-offset", str(offset).encode()),
        ("x-consumer-group", b"billing-ledger"),
        ("x-error-type", b"InsufficientFundsError"),
        ("x-error-message", b"balance 12.00 below 100.00"),
        ("x-retry-count", b"3"),
    ]


def wait_for_metadata(cluster: kafka.ClusterSettings, topic: str) -> None:
    deadline = time.monotonic() + 60
    while topic not in kafka.list_topics(cluster):
        assert time.monotonic() < deadline, f"{topic} not in the metadata"
        time.sleep(0.1)


@pytest.fixture
def dead_letter(make_topic, group_names, cluster):
    """An original event of acc_42 on partition 2 among other accounts' events, two newer acc_42 events
    after it (and one on another partition), and its dead letter drained into the portal."""
    original_topic = make_topic(partitions=4, prefix="test.billing")
    dlq = make_topic(partitions=1, prefix="test.dlq")
    wait_for_metadata(cluster, original_topic)
    wait_for_metadata(cluster, dlq)
    producer = kafka.producer(cluster)

    def into(partition: int, records: list[tuple[bytes, bytes]]) -> list[int]:
        delivered = produce_records(producer, original_topic, [(k, v, ()) for k, v in records], partition, cluster)
        return [offset for _, offset in delivered]

    into(PARTITION, [(f"acc_{n}".encode(), event(f"acc_{n}", n)) for n in range(7)])
    into(0, [(KEY, event("acc_42", 100))])  # the same key on another partition: not "on that partition"
    [original] = into(PARTITION, [(KEY, event("acc_42", 1))])
    into(PARTITION, [(b"acc_7", event("acc_7", 8))])
    newer = into(PARTITION, [(KEY, event("acc_42", 2)), (b"acc_9", event("acc_9", 9)), (KEY, event("acc_42", 3))])
    newer = [newer[0], newer[2]]

    produce_records(
        producer,
        dlq,
        [(KEY, event("acc_42", 1), billing_headers(original_topic, PARTITION, original))],
        cluster=cluster,
    )
    drain_dead_letter(topic=dlq, group_id=group_names("test-drain"), until_empty=True, timeout=1.0, cluster=cluster)
    row = DeadLetterRecord.objects.get(dlq_topic=dlq)
    assert (row.original_topic, row.original_partition, row.original_offset) == (original_topic, PARTITION, original)
    User.objects.create_superuser("desk", password="desk-password")
    return row, original, newer


def shown(page) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    rows = page.locator("tr.message")
    return [(int(r.get_attribute("data-partition")), int(r.get_attribute("data-offset"))) for r in rows.all()]


def test_one_click_to_the_original_and_one_to_the_newer_events_of_its_key(dead_letter, live_server, page, log_in):
    row, original, newer = dead_letter
    page.set_viewport_size({"width": 1440, "height": 1000})
    log_in("desk", "desk-password")
    record_page = f"{live_server.url}{reverse('admin:deadletter_deadletterrecord_change', args=[row.pk])}"

    page.goto(record_page)
    page.click("#original-message")
    page.wait_for_selector("#messages")
    assert page.url.split("?")[0].endswith(reverse("admin:topics_topic_messages"))
    assert not page.locator("#browse-error").count()
    messages = shown(page)
    assert messages[0] == (PARTITION, original), messages  # the original first, then what followed it
    assert {p for p, _ in messages} == {PARTITION}
    first = page.locator("tr.message").first
    assert "acc_42" in first.locator("td.key").inner_text()
    assert "ev-acc_42-1" in first.locator("td.value").inner_text()

    page.goto(record_page)
    page.click("#newer-for-key")
    page.wait_for_selector("#search-summary")
    assert page.url.split("?")[0].endswith(reverse("admin:topics_topic_search"))
    assert not page.locator("#browse-error").count()
    found = shown(page)
    # Newest first: the key's events after the original on its partition, then the original itself.
    assert found == [(PARTITION, newer[1]), (PARTITION, newer[0]), (PARTITION, original)], found
    values = page.locator("tr.message td.value").all_inner_texts()
    assert ["ev-acc_42-3" in values[0], "ev-acc_42-2" in values[1], "ev-acc_42-1" in values[2]] == [True] * 3
    assert "the whole range" in page.inner_text("#search-summary")
