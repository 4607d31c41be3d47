"""Benchmark: the bulk republish confirmation for 40,000 selected dead letters (issue 17 item 5).

    DATABASE_URL=postgres://... SECRET_KEY=... .venv/bin/python bench/bulk_confirmation.py [--records 40000]

Stores N dead letters of one original topic (a real topic holding N events of 500 accounts, so
the newer-events scan has work), then times in process through django.test.Client (server
time, median of several loads) the plain dead-letter list filtered to them and the
confirmation page for all of them (select across). Prints both and the target (< 1 s).
Removes its rows and topic afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
# Timed as served: without DEBUG (which records every query), the test client's host allowed.
os.environ.update(DEBUG="false", ALLOWED_HOSTS="testserver")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.test import Client  # noqa: E402

from deadletter.models import DeadLetterRecord  # noqa: E402
from opsportal import kafka  # noqa: E402

TARGET_MS = 1000.0
LIST = "/admin/deadletter/deadletterrecord/"


def event(n: int) -> bytes:
    return f'{{"eventId":"evt-{n}","eventType":"TransactionCompleted","aggregateId":"acc_{n % 500}"}}'.encode()


def fill(topic: str, dlq: str, count: int) -> None:
    producer = kafka.producer()
    for start in range(0, count, 10_000):
        produced = kafka.produce(
            producer,
            (
                kafka.OutgoingRecord(topic, f"acc_{n % 500}".encode(), event(n), [], 0)
                for n in range(start, min(count, start + 10_000))
            ),
        )
        produced.wait()
        DeadLetterRecord.objects.bulk_create(
            [
                DeadLetterRecord(
                    dlq_topic=dlq,
                    partition=0,
                    offset=n,
                    key=f"acc_{n % 500}".encode(),
                    key_text=f"acc_{n % 500}",
                    value=event(n),
                    headers=[["x-error-type", "RXJy"]],
                    original_topic=topic,
                    original_partition=0,
                    original_offset=n,
                    event_id=f"evt-{n}",
                )
                for n in range(start, min(count, start + 10_000))
            ],
            batch_size=2000,
        )


def median_ms(load, loads: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(loads + 1):
        started = time.perf_counter()
        response = load()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return statistics.median(times[1:])  # the first load warms caches and connections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    topic, dlq = f"bench.confirm-{run}", f"bench.confirm-dlq-{run}"
    kafka.create_topics([kafka.NewTopicSpec(topic, 1, 3, {})])
    user = User.objects.create_superuser(f"bench-confirm-{run}", password=f"bench-{run}-password")
    try:
        fill(topic, dlq, args.records)
        client = Client()
        client.force_login(user)
        filtered = f"{LIST}?original_topic={topic}"
        first = DeadLetterRecord.objects.filter(dlq_topic=dlq).order_by("pk").values_list("pk", flat=True)[0]
        form = {"action": "republish_selected", "select_across": "1", "index": "0", "_selected_action": [first]}
        confirmation = client.post(filtered, form)
        assert confirmation.status_code == 200, confirmation.status_code
        scope = re.search(r'id="safety-scope">(.*?)</p>', confirmation.content.decode(), re.S)
        assert scope is not None
        listing = median_ms(lambda: client.get(filtered), args.loads)
        confirm = median_ms(lambda: client.post(filtered, form), args.loads)
        verdict = "met" if confirm < TARGET_MS else "NOT met"
        print(f"{args.records:,} selected dead letters. The page says: {' '.join(scope.group(1).split())}")
        print(f"  plain list page (same filter)  {listing:8.1f} ms median")
        print(f"  bulk confirmation              {confirm:8.1f} ms median  ({confirm / listing:.1f} × the list; "
              f"target < {TARGET_MS:.0f} ms: {verdict})")  # fmt: skip
    finally:
        DeadLetterRecord.objects.filter(dlq_topic=dlq).delete()
        user.delete()
        kafka.delete_topics([topic])


if __name__ == "__main__":
    main()
