"""Benchmark the cluster mirror (issue 3): not a test, run by hand against the local cluster.

    .venv/bin/python bench/sync_topics.py [--topics 2000] [--partitions 10] [--groups 200]

Creates bench.<run>.* topics (replication factor 1, to spare the shared
cluster) and consumer groups with committed offsets, times the first sync and
an unchanged re-sync, times the admin topic and group lists (server time in
process through django.test.Client, median of several loads), prints the
figures against the targets, and deletes what it created. The mirror is
written to a throwaway SQLite file (var/bench-sync.sqlite3), never the dev one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = ROOT / "var" / "bench-sync.sqlite3"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
# DEBUG off: DEBUG records every SQL query, which would slow what is measured.
os.environ["DEBUG"] = "false"
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(40))
os.environ["ALLOWED_HOSTS"] = "testserver"
os.environ["DATABASE_URL"] = f"sqlite:///{BENCH_DB}"

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from opsportal import kafka  # noqa: E402
from topics.sync import sync_cluster  # noqa: E402

TARGETS = {"first sync": 5.0, "re-sync": 2.0, "topic list": 0.2, "group list": 0.2}
BATCH = 200


def create_topics(names: list[str], partitions: int) -> None:
    for start in range(0, len(names), BATCH):
        specs = [kafka.NewTopicSpec(name, partitions, 1, {}) for name in names[start : start + BATCH]]
        failures = kafka.create_topics(specs)
        if failures:
            raise SystemExit(f"creating topics failed: {next(iter(failures.values()))}")
    # 20,000 new partitions take the 3 local brokers a minute or more to settle (leaders move,
    # NOT_LEADER_FOR_PARTITION); time the sync of a settled cluster, not the settling.
    positions = [(name, p) for name in names for p in range(partitions)]
    deadline = time.monotonic() + 300
    while True:
        failures = kafka.list_offsets(positions, "latest")[1]
        if not failures:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(failures)} partitions still without a usable leader after 300 s")
        time.sleep(3)


def make_groups(prefix: str, topics: list[str], partitions: int, records_per_topic: int) -> list[str]:
    """One group per topic, committed half-way through what was produced (so lag is non-zero)."""
    producer = kafka.producer()
    outgoing = (
        kafka.OutgoingRecord(topic, f"k{i}".encode(), b"{}", (), i % partitions)
        for topic in topics
        for i in range(records_per_topic)
    )
    deliveries = kafka.produce(producer, outgoing).wait()
    if any(d.error for d in deliveries):
        raise SystemExit(f"producing failed: {next(d.error for d in deliveries if d.error)}")
    admin = kafka.admin_client()
    groups = []
    for index, topic in enumerate(topics):
        group = f"{prefix}.g{index:04d}"
        per_partition = records_per_topic // partitions
        outcome = kafka.alter_committed_offsets(
            group, {(topic, p): per_partition // 2 for p in range(partitions)}, admin=admin
        )
        if any(outcome.values()):
            raise SystemExit(f"committing for {group} failed: {next(e for e in outcome.values() if e)}")
        groups.append(group)
    return groups


def median_load(client: Client, url: str, loads: int) -> float:
    client.get(url)  # warm: template compilation and the first connection
    times = []
    for _ in range(loads):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times)


def timed_sync(label: str) -> tuple[float, object]:
    started = time.perf_counter()
    result = sync_cluster()
    elapsed = time.perf_counter() - started
    print(f"{label}: {elapsed:.2f} s  ({result.summary()})")
    return elapsed, result


def report(figures: dict[str, float], partitions: int) -> None:
    print()
    print(f"{'measure':<12} {'measured':>10} {'target':>8} {'ratio':>7}")
    for name, value in figures.items():
        target = TARGETS[name]
        verdict = "ok" if value <= target else "MISSED"
        print(f"{name:<12} {value * 1000:>8.0f}ms {target * 1000:>6.0f}ms {value / target:>7.2f}  {verdict}")
    print(f"first sync: {partitions / figures['first sync']:,.0f} partitions/s")
    print(f"re-sync:    {partitions / figures['re-sync']:,.0f} partitions/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=10)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--loads", type=int, default=7, help="page loads per list (median)")
    args = parser.parse_args()

    BENCH_DB.unlink(missing_ok=True)
    call_command("migrate", verbosity=0)
    prefix = f"bench.{secrets.token_hex(3)}"
    names = [f"{prefix}.t{i:05d}" for i in range(args.topics)]
    groups: list[str] = []
    print(f"{args.topics} topics x {args.partitions} partitions, replication factor 1 (spares the shared cluster)")
    try:
        started = time.perf_counter()
        create_topics(names, args.partitions)
        groups = make_groups(prefix, names[: args.groups], args.partitions, records_per_topic=args.partitions * 4)
        print(f"set-up: {len(names)} topics, {len(groups)} groups in {time.perf_counter() - started:.1f} s")

        first, result = timed_sync("first sync")
        resync, _ = timed_sync("re-sync   ")

        user = get_user_model().objects.create_superuser("bench", password=secrets.token_urlsafe(12))
        client = Client()
        client.force_login(user)
        figures = {
            "first sync": first,
            "re-sync": resync,
            "topic list": median_load(client, reverse("admin:topics_topic_changelist"), args.loads),
            "group list": median_load(client, reverse("admin:topics_consumergroup_changelist"), args.loads),
        }
        report(figures, result.partitions)
    finally:
        cleanup(names, groups)


def cleanup(names: list[str], groups: list[str]) -> None:
    started = time.perf_counter()
    group_failures = kafka.delete_groups(groups)
    topic_failures = {}
    for start in range(0, len(names), BATCH):
        topic_failures |= kafka.delete_topics(names[start : start + BATCH])
    BENCH_DB.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{BENCH_DB}{suffix}").unlink(missing_ok=True)
    failures = [*group_failures, *topic_failures]
    failed = f"; FAILED: {failures[:5]}" if failures else ""
    print(
        f"cleanup: deleted {len(groups) - len(group_failures)} groups and {len(names) - len(topic_failures)} topics "
        f"in {time.perf_counter() - started:.1f} s{failed}"
    )


if __name__ == "__main__":
    main()
