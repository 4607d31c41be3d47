"""Benchmark the dead-letter summary page against the plain list page of the same run (not a test).

    DATABASE_URL=postgres://... DEBUG=0 SECRET_KEY=bench ALLOWED_HOSTS=localhost \
        .venv/bin/python bench/summary.py [--rows 1000000] [--runs 7]

Tops the table up to --rows dead letters in every convention (as bench/drain.py does), then
prints the median server time of the summary page (open records, a status, a filter) beside
the unfiltered list page. The goal: the summary under 1 s at 1,000,000 rows on PostgreSQL.
The bench rows are all new (the worst case for the open-records view); method in docs/performance.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import drain as drain_bench  # noqa: E402  (sets Django up, fills the table the same way)
from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from deadletter.models import DeadLetterRecord  # noqa: E402

PAGES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("list, unfiltered", "admin:deadletter_deadletterrecord_changelist", {}),
    ("summary, open records", "admin:deadletter_summary", {}),
    ("summary, status=new", "admin:deadletter_summary", {"status": "new"}),
    ("summary, one convention", "admin:deadletter_summary", {"convention__exact": "spring-kafka"}),
    ("summary, one original topic", "admin:deadletter_summary", {"original_topic": "billing.saga.events"}),
    ("summary, status and convention", "admin:deadletter_summary", {"status": "new", "convention__exact": "karafka"}),
)


def median_ms(client: Client, url: str, query: dict[str, str], runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, query)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, query, response.status_code)
    return statistics.median(timings[1:])  # the first warms the caches


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    drain_bench.fill_table(args.rows)
    user, _ = get_user_model().objects.update_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    print(f"rows in the table: {DeadLetterRecord.objects.count():,}")
    for label, name, query in PAGES:
        print(f"{label:<30} {median_ms(client, reverse(name), query, args.runs):8.1f} ms median server time")


if __name__ == "__main__":
    main()
