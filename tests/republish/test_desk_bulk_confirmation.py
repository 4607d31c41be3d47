"""The bulk confirmation for a large selection (issue 17 item 5) and hostile original topics
(issue 16 item 2): every record checked, findings grouped by kind with counts and a few examples,
one confirm button near the top and a cancel; a topic that is no topic name or does not exist
costs one metadata read, never a Kafka timeout per name."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client
from django.urls import reverse

from deadletter.models import DeadLetterRecord
from republish import safety
from republish.models import Replay

from .conftest import CHANGELIST, billing_event, wait_for_metadata

pytestmark = pytest.mark.django_db


def store(count: int, original_topic: str, first_offset: int = 0, event_prefix: str = "evt") -> None:
    DeadLetterRecord.objects.bulk_create(
        [
            DeadLetterRecord(
                dlq_topic="test.desk-bulk-dlq",
                partition=0,
                offset=first_offset + n,
                key=f"acc_{n % 500}".encode(),
                key_text=f"acc_{n % 500}",
                value=billing_event(f"acc_{n % 500}", event_id=f"{event_prefix}-{n}"),
                headers=[["x-error-type", "RXJy"]],
                original_topic=original_topic,
                original_partition=0,
                original_offset=first_offset + n,
                event_id=f"{event_prefix}-{n}",
            )
            for n in range(count)
        ],
        batch_size=5000,
    )


def confirm_all(client: Client):
    first = DeadLetterRecord.objects.order_by("pk").values_list("pk", flat=True).first()
    return client.post(
        reverse(CHANGELIST),
        {"action": "republish_selected", "select_across": "1", "index": "0", "_selected_action": [first]},
    )


def test_a_40000_record_confirmation_checks_them_all_and_groups_what_it_found(make_topic, cluster, operator_client):
    topic = make_topic(partitions=1, prefix="test.desk-bulk")
    wait_for_metadata(cluster, topic)
    store(39_990, topic)
    store(5, "no such topic!", first_offset=50_000, event_prefix="bad")
    store(5, "test.desk-bulk-never-created", first_offset=60_000, event_prefix="gone")
    twins = list(DeadLetterRecord.objects.filter(original_topic=topic).order_by("pk")[:7])
    for twin in twins:  # the same events republished once already
        Replay.objects.create(
            record=twin, state=Replay.State.REPUBLISHED, target_topic=topic, target_partition=0, start_offset=0
        )

    started = time.monotonic()
    page = confirm_all(operator_client)
    elapsed = time.monotonic() - started

    assert page.status_code == 200
    report = page.context["report"]
    assert (report.total, report.checked) == (40_000, 40_000)
    found = {finding.kind: finding for finding in report.findings}
    assert found["already_republished"].count == 7 and found["already_republished"].level == "stop"
    assert found["no_topic"].count == 10
    assert {detail for _, detail in found["no_topic"].examples} >= {"'no such topic!' is not a valid Kafka topic name"}
    assert all(len(finding.examples) <= safety.EXAMPLES for finding in report.findings)
    assert report.flagged == 17
    html = page.content.decode()
    assert len(re.findall(r'<input type="submit"', html)) == 1
    assert html.index('type="submit"') < html.index('id="republish-safety-scope"' if False else 'id="safety-scope"')
    assert 'id="bulk-cancel"' in html and "Checked all 40000 record(s)" in html
    assert html.count("<tr>") < 60  # bounded: examples, not one row per record
    assert elapsed < 10, elapsed


def test_newer_events_of_the_same_key_are_a_note_not_a_flag(dead_letters, operator_client, monkeypatch):
    # The page's 0.4 s for reading Kafka is a product choice; on a loaded machine the read may need longer.
    monkeypatch.setattr(safety, "BULK_KAFKA_BUDGET", 30.0)
    rows = dead_letters([(b"acc_n", billing_event("acc_n")), (b"acc_n", billing_event("acc_n"))])
    DeadLetterRecord.objects.filter(pk=rows[1].pk).delete()  # the second stays only in the original topic

    page = confirm_all(operator_client)

    report = page.context["report"]
    (finding,) = [f for f in report.findings if f.kind == "newer_same_key"]
    assert (finding.level, finding.count, report.flagged) == ("note", 1, 0)
    assert "1 newer" in finding.examples[0][1]


def test_hostile_original_topics_cost_one_metadata_read_not_a_timeout_each():
    rows = [
        safety.Row(n, "test.dlq", 0, n, b"k", "k", name, 0, 5, "", False)
        for n, name in enumerate(["bad name!", "a" * 300, "test.desk-never-created-1", "test.desk-never-created-2"])
    ]

    started = time.monotonic()
    report = safety.check(rows)
    elapsed = time.monotonic() - started

    assert elapsed < 3, elapsed
    warnings = [report.by_record[n].warnings[0] for n in range(4)]
    assert "'bad name!' is not a valid Kafka topic name" in warnings[0]
    assert "is not a valid Kafka topic name" in warnings[1]
    assert "topic test.desk-never-created-1 does not exist" in warnings[2]
    assert "unreachable" not in " ".join(warnings).lower()
