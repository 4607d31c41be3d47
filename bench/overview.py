"""Benchmark the overview page and /metrics (issue 19): not a test, run by hand on PostgreSQL.

    DATABASE_URL=postgres://... .venv/bin/python bench/overview.py [--dead-letters 1000000]
        [--groups 200] [--topics 10] [--days 30] [--raw-hours 48] [--loads 15] [--untallied 3000] [--reuse]

Fills a throwaway database (<name>_bench_overview on the same server, dropped and created anew)
with dead letters spread over 30 days, a mirror of `groups` consumer groups over `topics` topics,
and lag history (raw points every 30 s for raw-hours, hourly points for the rest of `days`), all
by INSERT ... SELECT generate_series. Then times, in process through django.test.Client (server
time, median of several loads), the overview (/admin/), /metrics and the plain dead-letter list,
and reports the lag history's storage, measured and extrapolated to 200 groups × 10 topics × 30 days.

The dead-letter tallies (overview/tally.py) are caught up once after the fill, as the
every-minute task would, then `untallied` more dead letters are drained "since the last run"
(timestamps in the last hour), so every figure also counts a live part. --reuse keeps the
database of the previous run (no fill: the fill takes minutes) and only times the pages.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SOURCE_URL = os.environ.get("DATABASE_URL", "")
if not SOURCE_URL.startswith("postgres"):
    raise SystemExit("bench/overview.py needs DATABASE_URL=postgres://... (the figures are PostgreSQL's)")
_parts = urlsplit(SOURCE_URL)
BENCH_NAME = f"{_parts.path.lstrip('/') or 'opsportal'}_bench_overview"
BENCH_URL = urlunsplit(_parts._replace(path=f"/{BENCH_NAME}"))
os.environ.update(DATABASE_URL=BENCH_URL, DEBUG="false", ALLOWED_HOSTS="testserver")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(40))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")

TARGET_MS = 300.0
TARGET_RATIO = 3.0
SYNC_SECONDS = 30


def recreate_database() -> None:
    admin_url = urlunsplit(_parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_NAME}"')


def timed(label: str, sql: str, params: dict | None = None) -> None:
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
    print(f"  {label}: {time.monotonic() - started:.1f} s", flush=True)


def fill_dead_letters(count: int, days: float, first: int = 1, label: str = "dead letters") -> None:
    """Records with 20 fingerprints (skewed), 8 original topics, ~600-byte values, their Reviews;
    numbered from `first` (their offsets follow), timestamps spread over `days` back from now."""
    timed(
        f"{count:,} {label}",
        f"""
        INSERT INTO deadletter_deadletterrecord (
            dlq_topic, partition, "offset", timestamp, key, value, key_size, value_size, key_text, headers,
            convention, original_topic, original_partition, original_offset, original_timestamp_ms,
            consumer_group, error_type, error_message, stack_trace, retry_count, failed_at, decode_error,
            fingerprint, fingerprint_text, event_id, event_type, account_id, correlation_id, saga_id,
            amount, currency, notes, drained_at, failed_again)
        SELECT 'billing.dead-letter', i %% 6, i / 6,
            now() - ((i - %(first)s)::float / %(count)s) * interval '{days} days',
            convert_to('acct-' || (i %% 50000), 'UTF8'), convert_to(repeat('x', 600), 'UTF8'), 10, 600,
            'acct-' || (i %% 50000), '[]', 'billing', 'billing.topic-' || (i %% 8), i %% 12, i, 0,
            'billing-ledger', 'Error' || (i %% 20), 'balance below amount', '', 3, now(), '',
            'fp' || lpad((floor(20 * power(random(), 3)))::int::text, 2, '0'), 'balance below amount',
            md5(i::text), 'TransactionCompleted', 'acct-' || (i %% 50000), '', '', '100.00', 'USD', '',
            now(), false
        FROM generate_series(%(first)s, %(first)s + %(count)s - 1) AS i
        """,
        {"count": count, "first": first},
    )
    timed(
        "their reviews",
        """
        INSERT INTO deadletter_review (record_id, status, timestamp, fingerprint, original_topic)
        SELECT id, CASE WHEN id %% 10 < 6 THEN 'new' WHEN id %% 10 < 7 THEN 'in_review'
                        WHEN id %% 10 < 9 THEN 'republished' ELSE 'discarded' END,
               timestamp, fingerprint, original_topic
        FROM deadletter_deadletterrecord r WHERE NOT EXISTS (SELECT FROM deadletter_review v WHERE v.record_id = r.id)
        """,
    )


def fill_mirror(groups: int, topics: int) -> None:
    timed(
        "mirror",
        """
        INSERT INTO topics_broker (broker_id, host, port, rack, is_controller, is_up, last_seen)
        SELECT n, '127.0.0.1', 9091 + n, '', n = 1, true, now() FROM generate_series(1, 3) AS n;
        INSERT INTO topics_topic (name, partition_count, replication_factor, is_internal, retention_ms,
            cleanup_policy, min_insync_replicas, configs, under_replicated_partitions, offline_partitions,
            approx_messages, last_synced)
        SELECT 'bench.topic-' || t, 10, 3, false, '', 'delete', '2', '{}', 0, 0, 0, now()
        FROM generate_series(1, %(topics)s) AS t;
        INSERT INTO topics_consumergroup (group_id, state, protocol_type, member_count, total_lag, last_synced,
            sync_error)
        SELECT 'bench-group-' || g, 'Stable', 'consumer', 3, g * 1000, now(), ''
        FROM generate_series(1, %(groups)s) AS g;
        INSERT INTO topics_groupoffset (group_id, topic, partition, committed_offset, end_offset, lag)
        SELECT cg.id, 'bench.topic-' || t, p, 1000000, 1000000 + cg.id * 10, cg.id * 10
        FROM topics_consumergroup cg, generate_series(1, %(topics)s) AS t, generate_series(0, 9) AS p;
        INSERT INTO topics_syncrun (finished_at, duration, created, updated, vanished, errors, error_messages)
        VALUES (now(), 2.5, 0, 0, 0, 0, '[]');
        """,
        {"groups": groups, "topics": topics},
    )


def fill_lag_history(groups: int, topics: int, days: int, raw_hours: int) -> None:
    timed(
        "lag series",
        """
        INSERT INTO overview_lagseries (group_id, topic, lag, end_offset, time_lag, caught_up_at, sampled_at)
        SELECT 'bench-group-' || g, 'bench.topic-' || t, g * 100, 1000000, 60, now(), now()
        FROM generate_series(1, %(groups)s) AS g, generate_series(1, %(topics)s) AS t
        """,
        {"groups": groups, "topics": topics},
    )
    raw_points = raw_hours * 3600 // SYNC_SECONDS
    timed(
        f"{raw_points:,} raw points per series",
        f"""
        INSERT INTO overview_lagpoint (series_id, at, hourly, lag, lag_max, end_offset, time_lag)
        SELECT s.id, date_trunc('second', now()) - k * interval '{SYNC_SECONDS} seconds', false,
               (k %% 97) * 10, (k %% 97) * 10, 1000000 - k, 30
        FROM overview_lagseries s, generate_series(0, %(points)s - 1) AS k
        """,
        {"points": raw_points},
    )
    timed(
        f"{days * 24:,} hourly points per series",
        """
        INSERT INTO overview_lagpoint (series_id, at, hourly, lag, lag_max, end_offset, time_lag)
        SELECT s.id, date_trunc('hour', now()) - h * interval '1 hour', true, h %% 50, h %% 70, 1000000 - h * 120, 30
        FROM overview_lagseries s, generate_series(1, %(hours)s) AS h
        """,
        {"hours": days * 24},
    )
    timed("VACUUM ANALYZE", "VACUUM ANALYZE")


def catch_up(label: str) -> None:
    try:
        from overview import tally
    except ImportError:  # the code before the tallies
        return
    started = time.monotonic()
    tally.catch_up()
    print(f"  {label}: {time.monotonic() - started:.1f} s", flush=True)


def storage(groups: int, topics: int, days: int, raw_hours: int) -> tuple[float, float]:
    """(measured MB, MB extrapolated to 200 groups × 10 topics, 48 h raw, 30 days hourly)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('overview_lagpoint') + pg_total_relation_size('overview_lagseries')"
        )
        measured = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM overview_lagpoint")
        rows = cursor.fetchone()[0]
    per_row = measured / max(rows, 1)
    target_rows = 200 * 10 * (48 * 3600 // SYNC_SECONDS + 30 * 24)
    return measured / 2**20, per_row * target_rows / 2**20


def median_ms(client, url: str, loads: int, **headers: str) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(loads + 1):
        started = time.perf_counter()
        response = client.get(url, **headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, (url, response.status_code)
        times.append(elapsed * 1000)
    return statistics.median(times[1:])  # the first load warms caches and connections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dead-letters", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--topics", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--raw-hours", type=int, default=48)
    parser.add_argument("--loads", type=int, default=15)
    parser.add_argument("--untallied", type=int, default=3000, help="dead letters drained after the last catch-up")
    parser.add_argument("--reuse", action="store_true", help="time the pages on the previous run's database")
    args = parser.parse_args()

    if not args.reuse:
        recreate_database()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    if not args.reuse:
        print(f"Filling {BENCH_NAME}:", flush=True)
        fill_dead_letters(args.dead_letters, args.days)
        fill_mirror(args.groups, args.topics)
        fill_lag_history(args.groups, args.topics, args.days, args.raw_hours)
        catch_up("tally catch-up (the every-minute task's first run)")
        fill_dead_letters(args.untallied, 0.04, first=args.dead_letters + 1, label="dead letters not tallied yet")
        timed("VACUUM ANALYZE", "VACUUM ANALYZE")
    else:
        args.untallied = 0
        catch_up("tally catch-up")
    measured_mb, target_mb = storage(args.groups, args.topics, args.days, args.raw_hours)

    User = get_user_model()
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", password="bench-password-1"
    )
    client = Client()
    client.force_login(user)
    figures = {
        "overview": median_ms(client, "/admin/", args.loads),
        "metrics": median_ms(client, "/metrics", args.loads),
        "dead-letter list": median_ms(client, "/admin/deadletter/deadletterrecord/", args.loads),
    }
    print(f"\n{args.dead_letters:,} dead letters (+{args.untallied:,} untallied), "
          f"{args.groups} groups × {args.topics} topics, "
          f"{args.days} days of lag history ({args.raw_hours} h raw):")  # fmt: skip
    base = figures["dead-letter list"]
    for name, ms in figures.items():
        ratio = ms / base
        verdict = "" if name == "dead-letter list" else (
            "  (met)" if ms <= TARGET_MS and ratio <= TARGET_RATIO else "  (NOT met)"
        )  # fmt: skip
        print(f"  {name:18s} {ms:8.1f} ms median   {ratio:4.2f} × the list{verdict}")
    print(f"  lag history storage: {measured_mb:.0f} MB here; 200 groups × 10 topics × 30 days: {target_mb:.0f} MB")


if __name__ == "__main__":
    main()
