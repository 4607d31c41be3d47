"""Benchmark the dead-letter drain against its two limits (not a test).

    DATABASE_URL=postgres://... DEBUG=0 SECRET_KEY=bench ALLOWED_HOSTS=localhost \
        .venv/bin/python bench/drain.py [--records 200000] [--list-rows 1000000] [--avro]

Produces ~1 KiB dead-letter records in every convention to a fresh topic, then measures
1. raw consume: kafka.poll_raw (plain tuples) with no database;
2. raw insert: the same rows, decoded ahead, into the real table with no Kafka, by the
   fastest bulk path: one binary COPY in one transaction on PostgreSQL (bulk_create on
   SQLite); the rows are deleted and the table vacuumed afterwards, untimed;
3. drain_dead_letter end to end, in a child process so its peak RSS is its own;
and the median server time of the admin list page with --list-rows rows in the table.
With --avro, the same three again with the events Avro-encoded in the Schema Registry's wire format
(the library's AvroSerializer through its in-memory registry; the drain never calls a registry),
and both ratios printed side by side (target: Avro >= 0.9 x JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from deadletter import pg  # noqa: E402
from deadletter.drain import drain_dead_letter  # noqa: E402
from deadletter.models import DeadLetterRecord, Review  # noqa: E402
from deadletter.rows import as_instance, row_values  # noqa: E402
from deadletter.store import insert_rows  # noqa: E402
from opsportal import kafka  # noqa: E402
from opsportal.kafka.testing import produce_records  # noqa: E402
from tests.deadletter import samples  # noqa: E402

BILLING_AVRO = json.dumps(
    {
        "type": "record",
        "name": "TransactionCompleted",
        "namespace": "billing",
        "fields": [
            *({"name": name, "type": "string"} for name in ("eventId", "eventType", "aggregateId", "aggregateType")),
            {"name": "version", "type": "int"},
            {"name": "occurredAt", "type": "string"},
            {"name": "payload", "type": {"type": "map", "values": "string"}},
            {"name": "metadata", "type": {"type": "map", "values": "string"}},
        ],
    }
)


def avro_event(topic: str) -> bytes:
    """The JSON bench event, Avro-encoded by the library's serializer in the registry's wire format."""
    from opsportal.kafka.registry_testing import AvroSerializer, InMemoryRegistry, value_context

    registry = InMemoryRegistry({"url": "mock://bench"})
    return AvroSerializer(registry, BILLING_AVRO)(json.loads(samples.billing_event(padding=330)), value_context(topic))


def bench_records(count: int, event: bytes | None = None):
    """~1 KiB records, cycling through every convention (the value is a ~600-byte JSON event by default)."""
    event = event or samples.billing_event(padding=330)
    for i in range(count):
        headers = samples.MIXED[i % len(samples.MIXED)]()
        yield (f"acc_{i % 5000}".encode(), event, headers)


def produce(topic: str, count: int, event: bytes | None = None) -> float:
    client = kafka.producer(**{"linger.ms": 20, "batch.size": 1_000_000, "compression.type": "lz4"})
    started = time.perf_counter()
    produce_records(client, topic, bench_records(count, event))
    return time.perf_counter() - started


def raw_consume(topic: str, count: int) -> float:
    consumer = kafka.consumer(f"bench-raw-{uuid.uuid4().hex[:8]}")
    kafka.assign(consumer, {(topic, 0): kafka.OFFSET_BEGINNING})
    seen = 0
    started = time.perf_counter()
    while seen < count:
        seen += len(kafka.poll(consumer, 5000, 5.0))
    elapsed = time.perf_counter() - started
    consumer.close()
    return count / elapsed


def built_rows(topic: str, count: int, offset_base: int = 0, event: bytes | None = None) -> list[tuple]:
    """The rows the drain would write, decoded ahead so the insert is timed alone."""
    now = datetime.now(UTC)
    return [
        row_values(kafka.Record(topic, 0, offset_base + i, 1764000000000 + i * 7_000, k, v, tuple(h)), now)
        for i, (k, v, h) in enumerate(bench_records(count, event))
    ]


def raw_insert(rows: list[tuple]) -> float:
    """The rows into the real table by the fastest path, timed from the first byte to the commit."""
    table = DeadLetterRecord._meta.db_table
    started = time.perf_counter()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            pg.copy_rows(pg.quote(table), rows)
        else:
            DeadLetterRecord.objects.bulk_create([as_instance(r) for r in rows], batch_size=500)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        reviews = Review._meta.db_table  # bulk_create (SQLite) writes them; the COPY does not
        cursor.execute(
            f"DELETE FROM {reviews} WHERE record_id IN (SELECT id FROM {table} WHERE dlq_topic = %s)", [rows[0][0]]
        )
        cursor.execute(f"DELETE FROM {table} WHERE dlq_topic = %s", [rows[0][0]])
        if connection.vendor == "postgresql":
            cursor.execute(f"VACUUM {table}")  # the drain then writes into the table as it was
    return len(rows) / elapsed


def drain_in_child(topic: str, group_id: str) -> dict:
    """The drain in its own process, so its peak RSS (VmHWM) is its own."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--drain-child", topic, "--group-id", group_id],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    out = child.stdout.read()
    status = child.wait()
    if status != 0:
        raise SystemExit(f"drain child failed ({status}): {out}")
    return json.loads(out.strip().splitlines()[-1])


def drain_child(topic: str, group_id: str) -> None:
    started = time.perf_counter()
    result = drain_dead_letter(until_empty=True, timeout=0.5, topic=topic, group_id=group_id)
    elapsed = time.perf_counter() - started
    # VmHWM, not getrusage: ru_maxrss keeps the pre-exec peak of the forking parent.
    peak_kib = int(
        next(line for line in Path("/proc/self/status").read_text().splitlines() if "VmHWM" in line).split()[1]
    )
    report = {
        "consumed": result.consumed,
        "inserted": result.inserted,
        "seconds": elapsed,
        "peak_rss_mib": peak_kib / 1024,
    }
    print(json.dumps(report))


def fill_table(rows: int) -> None:
    """Top the table up to `rows` rows quickly (COPY), then ANALYZE as autovacuum would."""
    missing = rows - DeadLetterRecord.objects.count()
    chunk = 100_000
    for start in range(0, max(missing, 0), chunk):
        batch = built_rows("bench.fill", min(chunk, missing - start), offset_base=10_000_000 + start)
        with transaction.atomic():
            insert_rows(batch, straight=True)  # as the drain writes them: each with its Review
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (DeadLetterRecord, Review):
                cursor.execute(f"ANALYZE {model._meta.db_table}")


def list_page_ms(runs: int = 15) -> dict[str, float]:
    # The republish benchmark makes the same user without staff rights.
    user, _ = get_user_model().objects.update_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    url = reverse("admin:deadletter_deadletterrecord_changelist")
    timings = {}
    for label, query in (("unfiltered", {}), ("status=new", {"status": "new"}), ("page 50", {"p": "50"})):
        samples_ms = []
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(url, query)
            samples_ms.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
        timings[label] = statistics.median(samples_ms[1:])
    return timings


def run_drain(kind: str, records: int) -> float:
    """Raw consume, raw insert and the drain on one fresh topic of `kind` (json or avro) events; the ratio."""
    topic = f"bench.dead-letter.{uuid.uuid4().hex[:8]}"
    group_id = f"bench-drain-{uuid.uuid4().hex[:8]}"
    assert kafka.create_topics([kafka.NewTopicSpec(topic, 1, 3, {"min.insync.replicas": "2"})]) == {}
    try:
        event = avro_event(topic) if kind == "avro" else None
        size = len(event or samples.billing_event(padding=330))
        print(f"[{kind}] database: {connection.vendor}; topic {topic}; {records} records, values of {size} bytes")
        print(f"[{kind}] produced in {produce(topic, records, event):.1f} s")
        consume_rate = raw_consume(topic, records)
        print(f"[{kind}] raw consume:  {consume_rate:10,.0f} records/s")
        rows = built_rows(topic, records, event=event)
        insert_rate = raw_insert(rows)
        del rows
        print(f"[{kind}] raw insert:   {insert_rate:10,.0f} records/s")
        drained = drain_in_child(topic, group_id)
        drain_rate = drained["consumed"] / drained["seconds"]
        assert drained["inserted"] == records, drained
        ratio = drain_rate / min(consume_rate, insert_rate)
        print(f"[{kind}] drain:        {drain_rate:10,.0f} records/s ({drained['seconds']:.1f} s)")
        print(f"[{kind}] ratio drain / min(consume, insert): {ratio:.2f}")
        print(f"[{kind}] drain peak RSS: {drained['peak_rss_mib']:.0f} MiB")
    finally:
        kafka.delete_topics([topic])
        kafka.delete_groups([group_id])
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--list-rows", type=int, default=1_000_000)
    parser.add_argument("--drain-child")
    parser.add_argument("--group-id")
    parser.add_argument("--avro", action="store_true", help="also Avro-encoded dead letters, ratio beside JSON's")
    args = parser.parse_args()
    if args.drain_child:
        return drain_child(args.drain_child, args.group_id)

    call_command("migrate", verbosity=0)
    ratios = {}
    for kind in ("json", "avro") if args.avro else ("json",):
        ratios[kind] = run_drain(kind, args.records)
    if args.avro:
        print(
            f"ratio Avro {ratios['avro']:.2f} vs JSON {ratios['json']:.2f}: "
            f"{ratios['avro'] / ratios['json']:.2f} x (target >= 0.9)"
        )
    print(f"bench process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    fill_table(args.list_rows)
    print(f"admin list at {DeadLetterRecord.objects.count():,} rows (median server ms):")
    for label, ms in list_page_ms().items():
        print(f"  {label:12} {ms:7.1f} ms")


if __name__ == "__main__":
    main()
