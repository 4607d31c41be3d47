"""Benchmark the message browser, search and the group page (issue 18): not a test, run by hand.

    DATABASE_URL=postgres://... .venv/bin/python bench/browse.py [--records 1000000] [--partitions 10]
        [--loads 7] [--searches 3] [--reuse]

Produces `records` JSON values of ~1 KiB into a `partitions`-partition topic (bench.browse, keys
spread by the producer's partitioner) with the portal's own package, then times, in process through
django.test.Client (server time, median of `loads` after one warm-up load):

  (a) a page of 50 messages from several positions (newest, oldest, a middle offset, a date-time,
      all partitions), each beside a raw `assign` + seek + consume of the same 50 records with the
      Kafka package's consumer in the same run: a new consumer each time, created and closed, as a
      program that reads them does (the target's ratio), and one consumer kept across reads (printed
      beside it: the page keeps its browsing consumers between requests);
  (b) a search that matches nothing (so it scans its whole bound), in records scanned per second,
      beside the raw consume rate of the same number of records from the same offsets;
  (c) a consumer group's page with 10 topics x 10 partitions committed and the stuck-message links.

Its own database (<name>_bench_browse on the same server). Without --reuse the topic is created
anew and, with the group's topics, the group and the database, removed at the end; with --reuse
the topic (and database) of an earlier --reuse run are used as they are and kept.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SOURCE_URL = os.environ.get("DATABASE_URL", "")
if not SOURCE_URL.startswith("postgres"):
    raise SystemExit("bench/browse.py needs DATABASE_URL=postgres://... (the figures are PostgreSQL's)")
_parts = urlsplit(SOURCE_URL)
BENCH_NAME = f"{_parts.path.lstrip('/') or 'opsportal'}_bench_browse"
BENCH_URL = urlunsplit(_parts._replace(path=f"/{BENCH_NAME}"))
ADMIN_URL = urlunsplit(_parts._replace(path="/postgres"))
os.environ.update(DATABASE_URL=BENCH_URL, DEBUG="false", ALLOWED_HOSTS="testserver")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(40))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from opsportal import kafka  # noqa: E402
from topics.models import ConsumerGroup, Topic  # noqa: E402

TOPIC = "bench.browse"
GROUP_TOPICS = 10  # the group page: 10 topics x 10 partitions (the bench topic and 9 small ones)
GROUP_PARTITIONS = 10
TARGET_MS = 300.0
TARGET_RATIO = 3.0
TARGET_SEARCH_RATIO = 0.5
BATCH = 50_000
ROW = re.compile(r'<tr class="message" data-partition="(\d+)" data-offset="(\d+)"')  # the arrived-at row carries an id
SCANNED = re.compile(r"Scanned (\d+) of (\d+) records")
Positions = list[tuple[int, int]]


def ensure_database() -> None:
    """For --reuse: the database of an earlier --reuse run, or a new one."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_NAME]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{BENCH_NAME}"')


def recreate_database(drop_only: bool = False) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_NAME}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{BENCH_NAME}"')


def create_topic(name: str, partitions: int) -> None:
    failures = kafka.create_topics([kafka.NewTopicSpec(name, partitions, 3, {})])
    if failures:
        raise SystemExit(f"could not create {name}: {failures}")
    deadline = time.monotonic() + 60
    while True:
        topic = kafka.list_topics().get(name)
        if topic is not None and len(topic.partitions) == partitions and all(p.leader >= 0 for p in topic.partitions):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} has no leader for every partition after 60 s")
        time.sleep(0.2)


def event(n: int) -> bytes:
    """A billing event of ~1 KiB."""
    body = {
        "eventId": f"ev-{n:09d}",
        "eventType": "TransactionCompleted",
        "accountId": f"acc-{n % 50_000}",
        "correlationId": uuid.UUID(int=n).hex,
        "payload": {"amount": f"{n % 10_000}.00", "currency": "USD"},
    }
    text = json.dumps(body)
    return json.dumps(body | {"note": "x" * (1000 - len(text))}).encode()


def produce(topic: str, count: int) -> float:
    """Records per second, every one acknowledged."""
    producer = kafka.producer(None, **{"linger.ms": 50})
    started = time.monotonic()
    for first in range(0, count, BATCH):
        batch = (
            kafka.OutgoingRecord(topic, f"acc-{n % 50_000}".encode(), event(n))
            for n in range(first, min(first + BATCH, count))
        )
        failed = [d for d in kafka.produce(producer, batch).wait() if d.error is not None]
        if failed:
            raise SystemExit(f"{len(failed)} records not written: {failed[0].error}")
        print(f"  produced {min(first + BATCH, count):,}", end="\r", flush=True)
    return count / (time.monotonic() - started)


def held(topic: str) -> int:
    partitions = kafka.list_topics().get(topic)
    if partitions is None:
        return -1
    positions = [(topic, p.number) for p in partitions.partitions]
    begin, _ = kafka.list_offsets(positions, "earliest")
    end, _ = kafka.list_offsets(positions, "latest")
    return sum(end[p] - begin[p] for p in positions)


def ends(topic: str, partitions: int) -> dict[int, int]:
    found, _ = kafka.list_offsets([(topic, p) for p in range(partitions)], "latest")
    return {p: found[(topic, p)] for p in range(partitions)}


def timed_get(client: Client, url: str) -> tuple[float, str]:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (url, response.status_code)
    return elapsed, response.content.decode()


def median_page(client: Client, url: str, loads: int) -> tuple[float, str]:
    times, page = [], ""
    for _ in range(loads + 1):
        elapsed, page = timed_get(client, url)
        times.append(elapsed)
    assert 'id="browse-error"' not in page, url
    return statistics.median(times[1:]), page


def raw_read(windows: dict[int, tuple[int, int]], timeout: float = 30.0, kept: kafka.Consumer | None = None) -> int:
    """A new consumer (never committing: no group is made), or the `kept` one, assign each partition at its
    start, consume to its stop; a new consumer is closed after.

    Each consume asks for exactly the records still due, so it returns when the last arrives: asking for
    more made every read ending at a partition's end wait out the consume timeout (0.5 s), which is
    librdkafka waiting for records that do not exist, not Kafka reading.
    """
    consumer = kept or kafka.consumer(f"bench-browse-raw-{uuid.uuid4().hex[:8]}")
    try:
        if windows:
            kafka.assign(consumer, {(TOPIC, p): start for p, (start, _) in windows.items()})
        todo = dict(windows)
        read, deadline = 0, time.monotonic() + timeout
        while todo:
            if time.monotonic() > deadline:
                raise SystemExit(f"raw read did not finish in {timeout} s: {todo}")
            due = sum(stop - start for start, stop in todo.values())
            for record in kafka.poll(consumer, min(due, 10_000), 0.5):
                window = todo.get(record.partition)
                if window is None or record.offset >= window[1]:
                    continue
                read += 1
                todo[record.partition] = (record.offset + 1, window[1])
                if record.offset >= window[1] - 1:
                    del todo[record.partition]
        return read
    finally:
        if kept is None:
            consumer.close()
        else:
            consumer.unassign()


def median_raw(read: Callable[[], int], loads: int) -> float:
    times = []
    for _ in range(loads + 1):
        started = time.perf_counter()
        read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:])


def windows_of(shown: Positions) -> dict[int, tuple[int, int]]:
    """Per partition, the offsets the page showed, as [first, last + 1)."""
    windows: dict[int, tuple[int, int]] = {}
    for p, offset in shown:
        lo, hi = windows.get(p, (offset, offset + 1))
        windows[p] = (min(lo, offset), max(hi, offset + 1))
    return windows


def a_middle_time(topic: str, partition: int, offset: int) -> str:
    consumer = kafka.browse_consumer()
    try:
        windows = kafka.read_windows(consumer, {(topic, partition): (offset, offset + 1)}, 30)
    finally:
        consumer.close()
    [record] = windows.records[(topic, partition)]
    assert record.timestamp_ms is not None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.timestamp_ms / 1000)) + "Z"


def page_positions(partitions: int) -> Iterator[tuple[str, dict[str, str]]]:
    end = ends(TOPIC, partitions)
    middle_partition = partitions // 2
    middle = end[middle_partition] // 2
    yield "newest, partition 0", {"partition": "0", "start": "newest"}
    yield "oldest, partition 0", {"partition": "0", "start": "oldest"}
    yield (
        f"offset {middle:,}, partition {middle_partition}",
        {
            "partition": str(middle_partition),
            "start": "offset",
            "offset": str(middle),
        },
    )
    at = a_middle_time(TOPIC, 1, end[1] // 2)
    yield f"date-time {at}, partition 1", {"partition": "1", "start": "time", "at": at}
    yield "newest, all partitions", {"partition": "all", "start": "newest"}
    yield f"offset {middle:,}, all partitions", {"partition": "all", "start": "offset", "offset": str(middle)}


def bench_pages(client: Client, partitions: int, loads: int) -> list[tuple[str, float, float]]:
    figures = []
    browse = reverse("admin:topics_topic_messages")
    kept = kafka.consumer(f"bench-browse-raw-{uuid.uuid4().hex[:8]}", **{"fetch.wait.max.ms": 10})
    try:
        for label, params in page_positions(partitions):
            ms, page = median_page(client, f"{browse}?{urlencode({'topic': TOPIC, **params})}", loads)
            shown = [(int(p), int(o)) for p, o in ROW.findall(page)]
            assert len(shown) == 50, (label, len(shown))
            windows = windows_of(shown)
            raw_ms = median_raw(functools.partial(raw_read, windows), loads)
            kept_ms = median_raw(functools.partial(raw_read, windows, kept=kept), loads)
            figures.append((label, ms, raw_ms))
            print(
                f"  {label:42s} page {ms:6.1f} ms   raw {raw_ms:6.1f} ms  {ms / raw_ms:5.2f} x"
                f"   (raw, consumer kept {kept_ms:5.1f} ms  {ms / kept_ms:5.2f} x)",
                flush=True,
            )
    finally:
        kept.close()
    return figures


def bench_search(client: Client, partitions: int, searches: int) -> tuple[float, float, int]:
    """(records scanned per second by the search, raw records per second, records scanned)."""
    url = f"{reverse('admin:topics_topic_search')}?{urlencode({'topic': TOPIC, 'kind': 'key', 'value': 'no-such-key'})}"
    rates, scanned = [], 0
    for _ in range(searches):
        ms, page = timed_get(client, url)
        found = SCANNED.search(page)
        assert found, "no search summary on the page"
        scanned = int(found.group(1))
        why = page[found.end() : found.end() + 200].split("(")[0].strip(" ,:")
        print(f"  one search: {ms:,.0f} ms, scanned {scanned:,} of {int(found.group(2)):,} ({why})", flush=True)
        rates.append(scanned / (ms / 1000))
    end = ends(TOPIC, partitions)
    per_partition = scanned // partitions
    windows = {p: (max(end[p] - per_partition, 0), end[p]) for p in range(partitions)}
    raw_rates = []
    for _ in range(searches):
        started = time.perf_counter()
        read = raw_read(windows, timeout=120)
        raw_rates.append(read / (time.perf_counter() - started))
    return statistics.median(rates), statistics.median(raw_rates), scanned


def make_group(partitions: int) -> tuple[str, list[str]]:
    """A group committed on 10 topics x 10 partitions (the bench topic's first 10 and 9 small topics),
    each partition behind by a few records, mirrored as the sync would."""
    small = [f"bench.browse.group-{uuid.uuid4().hex[:6]}-{i}" for i in range(1, GROUP_TOPICS)]
    producer = kafka.producer()
    for name in small:
        create_topic(name, GROUP_PARTITIONS)
        records = (kafka.OutgoingRecord(name, None, event(n), (), n % GROUP_PARTITIONS) for n in range(200))
        kafka.produce(producer, records).wait()
    group_id = f"bench-browse-group-{uuid.uuid4().hex[:6]}"
    committed = {(name, p): 10 + p for name in small for p in range(GROUP_PARTITIONS)}
    end = ends(TOPIC, partitions)
    committed |= {(TOPIC, p): max(end[p] - 100, 0) for p in range(min(partitions, GROUP_PARTITIONS))}
    consumer = kafka.consumer(group_id)
    try:
        kafka.commit_positions(consumer, committed)
    finally:
        consumer.close()
    now = timezone.now()
    for name in [TOPIC, *small]:
        Topic.objects.update_or_create(
            name=name, defaults={"partition_count": GROUP_PARTITIONS, "replication_factor": 3, "last_synced": now}
        )
    ConsumerGroup.objects.create(group_id=group_id, state="Empty", last_synced=now)
    return group_id, small


def bench_group_page(client: Client, group_id: str, loads: int) -> float:
    pk = ConsumerGroup.objects.get(group_id=group_id).pk
    ms, page = median_page(client, reverse("admin:topics_consumergroup_change", args=[pk]), loads)
    links = page.count('class="stuck-link"')
    assert links == GROUP_TOPICS * GROUP_PARTITIONS, f"{links} stuck links, not {GROUP_TOPICS * GROUP_PARTITIONS}"
    return ms


def verdict(met: bool) -> str:
    return "(met)" if met else "(NOT met)"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=10)
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--searches", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="use (and keep) the topic and database of a --reuse run")
    args = parser.parse_args()

    if args.reuse:
        ensure_database()
    else:
        recreate_database()
        kafka.delete_topics([TOPIC])
        time.sleep(2)
    call_command("migrate", verbosity=0)
    have = held(TOPIC)
    if have < 0:
        create_topic(TOPIC, args.partitions)
        have = 0
    if have < args.records:
        print(f"Producing {args.records - have:,} records of ~1 KiB into {TOPIC}:", flush=True)
        rate = produce(TOPIC, args.records - have)
        print(f"  {rate:,.0f} records/s, all acknowledged          ", flush=True)
    print(f"{TOPIC}: {held(TOPIC):,} records in {args.partitions} partitions", flush=True)

    user = get_user_model().objects.filter(username="bench").first() or get_user_model().objects.create_superuser(
        "bench", password="bench-password-1"
    )
    client = Client()
    client.force_login(user)
    group_id, small = "", list[str]()
    try:
        print("\n(a) a page of 50 messages, median server time beside a raw assign + seek + consume of the same 50:")
        pages = bench_pages(client, args.partitions, args.loads)
        print("\n(b) search (an exact key that matches nothing: the whole bound is scanned):", flush=True)
        search_rate, raw_rate, scanned = bench_search(client, args.partitions, args.searches)
        print(f"  {scanned:,} records scanned: {search_rate:,.0f} records/s; raw consume {raw_rate:,.0f} records/s")
        print("\n(c) the group page, 10 topics x 10 partitions with the stuck links:", flush=True)
        group_id, small = make_group(args.partitions)
        group_ms = bench_group_page(client, group_id, args.loads)
    finally:
        if group_id:
            kafka.delete_groups([group_id])
        kafka.delete_topics(small)
    print(f"  {group_ms:.1f} ms median {verdict(group_ms < TARGET_MS)}")

    page_median = statistics.median(ms for _, ms, _ in pages)
    worst_ratio = max(ms / raw for _, ms, raw in pages)
    print(f"\nSummary ({held(TOPIC):,} records, {args.partitions} partitions):")
    print(f"  page: median of the positions {page_median:.1f} ms, slowest {max(ms for _, ms, _ in pages):.1f} ms, "
          f"worst ratio {worst_ratio:.2f} x raw "
          f"{verdict(worst_ratio <= TARGET_RATIO and max(ms for _, ms, _ in pages) < TARGET_MS)}")  # fmt: skip
    search_ratio = search_rate / raw_rate
    print(f"  search: {search_ratio:.2f} x the raw rate {verdict(search_ratio >= TARGET_SEARCH_RATIO)}")
    print(f"  group page: {group_ms:.1f} ms {verdict(group_ms < TARGET_MS)}")

    if not args.reuse:
        kafka.delete_topics([TOPIC])
        from django.db import connections

        connections.close_all()
        recreate_database(drop_only=True)


if __name__ == "__main__":
    main()
