"""Running tallies of dead letters, so the overview and /metrics never count a million rows.

A dead letter's original topic, fingerprint and timestamp never change after the drain, and
records are never deleted: the tallies (DeadLetterTotal: topic × fingerprint of all time,
DeadLetterHourly: hour × fingerprint of the last days) count the records whose id is at most
TallyMark.tallied_id, and every read adds the records above that id, counted live in the same
SQL statement (one snapshot: a catch-up committing meanwhile is seen whole or not at all). So a
figure is exact whether or not the scheduled catch-up has run; the catch-up only keeps the live
part small. Nothing in deadletter/ or republish/ writes here.

Ids are not committed in order: a transaction can hold id 100 uncommitted while id 101 is
already visible, so "tally up to the largest id seen" could skip 100 for ever. The catch-up
therefore tallies only up to an id below which no insert is still in flight (settled_max_id).

Review statuses change in place (triage, republish, discard): their tally is kept by a trigger,
see install_status_trigger.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, Min, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from deadletter.models import TRIAGE_STATUSES, DeadLetterRecord, Review, Status

from .models import DeadLetterHourly, DeadLetterTotal, StatusDelta, StatusTotal, TallyMark

log = logging.getLogger(__name__)

# DeadLetterHourly keeps the hours the overview reads (7 days back, figures.INFLOW_DAYS) and a day more.
HOURLY_DAYS = 8
# How long a catch-up waits for in-flight writers of the records table before trying next time.
SETTLE_SECONDS = 5.0
MARK_PK = 1


def _mark() -> Coalesce:
    """The tallied id as an SQL expression (0 when there is no mark: then everything is live)."""
    return Coalesce(Subquery(TallyMark.objects.filter(pk=MARK_PK).values("tallied_id")[:1]), Value(0))


def _tallied_id() -> int:
    return int(TallyMark.objects.filter(pk=MARK_PK).values_list("tallied_id", flat=True).first() or 0)


def _tally_plus_live(
    tallied: QuerySet[Any], live: Callable[[int], QuerySet[Any]], fields: tuple[str, str]
) -> Counter[tuple[Any, str]]:
    """Tally rows (fields, count) plus live rows above the mark (fields, n), in one statement.

    The live part is filtered by the mark's value read just before, a literal, so the planner
    reads the few rows above it by primary key; each tally row carries the mark of the
    statement's snapshot, and a catch-up committed in between (the two differ) means read again.
    """
    for _ in range(5):
        mark = _tallied_id()
        rows = (
            tallied.annotate(m=_mark())
            .values_list(*fields, "count", "m")
            .union(
                live(mark).values_list(*fields).annotate(n=Count("pk"), m=Value(mark)).values_list(*fields, "n", "m"),
                all=True,
            )
        )
        counts: Counter[tuple[Any, str]] = Counter()
        moved = False
        for first, second, n, seen in rows:
            moved = moved or seen != mark
            counts[(first, second)] += n
        if not moved:
            return counts
    raise RuntimeError("the dead-letter tally kept moving under a read")  # five catch-ups in a read: never


def totals() -> Counter[tuple[str, str]]:
    """Dead letters per (original topic, fingerprint), exact: the tally plus the live rows."""
    fields = ("original_topic", "fingerprint")
    return _tally_plus_live(
        DeadLetterTotal.objects.order_by(), lambda mark: DeadLetterRecord.objects.order_by().filter(pk__gt=mark), fields
    )


def hourly(start: datetime) -> Counter[tuple[datetime, str]]:
    """Dead letters per (hour, fingerprint) for the hours from `start` (an hour's start, at most
    HOURLY_DAYS back) on, exact: the tally plus the live rows."""
    return _tally_plus_live(
        DeadLetterHourly.objects.order_by().filter(hour__gte=start),
        lambda mark: (
            DeadLetterRecord.objects.order_by()
            .filter(pk__gt=mark, timestamp__gte=start)
            .annotate(hour=TruncHour("timestamp"))
        ),
        ("hour", "fingerprint"),
    )


def count_since(since: datetime, per_hour: Counter[tuple[datetime, str]]) -> int:
    """Records with timestamp >= since (the list's timestamp__gte filter), exact: the whole
    hours from `per_hour` (hourly() from an hour at or before since), the part-hour before the
    first whole one counted on the timestamp index (at most an hour of rows)."""
    first_whole = since.replace(minute=0, second=0, microsecond=0)
    if first_whole < since:
        first_whole += timedelta(hours=1)
    part = DeadLetterRecord.objects.order_by().filter(timestamp__gte=since, timestamp__lt=first_whole).count()
    return part + sum(n for (hour, _), n in per_hour.items() if hour >= first_whole)


# Statuses change in place, in many places (admin triage, republish and discard claims and
# outcomes, their reconciliation, mostly bulk UPDATEs in deadletter/pg.py): counting them at read
# time is an index-only scan of every Review (~0.1 s at a million), and a tally written by each of
# those code paths would be missed by the next one added. So on PostgreSQL a statement-level
# trigger on deadletter_review, installed by this app's migration, appends the statement's net
# change per status to StatusDelta in the same transaction: exact (it commits or rolls back with
# the change), no row shared between writers (append-only), one small INSERT per statement. The
# catch-up folds the deltas into StatusTotal. If the trigger is missing (the table rebuilt by a
# migration), reads count live and the catch-up reinstalls it and recounts. SQLite (the small
# embedded database) counts live.
TRIGGER_FUNCTION = "overview_review_status_delta"
TRIGGERS = {
    "overview_review_status_ins": ("INSERT", "NEW TABLE AS new_rows"),
    "overview_review_status_upd": ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    "overview_review_status_del": ("DELETE", "OLD TABLE AS old_rows"),
}


def install_status_trigger() -> None:
    """(Re)install the trigger and recount the statuses, the Review table locked against writes
    meanwhile (PostgreSQL only; inside the caller's transaction)."""
    review, delta, total = Review._meta.db_table, StatusDelta._meta.db_table, StatusTotal._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {review} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(
            f"""
            CREATE OR REPLACE FUNCTION {TRIGGER_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    INSERT INTO {delta} (status, delta) SELECT status, count(*) FROM new_rows GROUP BY status;
                ELSIF TG_OP = 'DELETE' THEN
                    INSERT INTO {delta} (status, delta) SELECT status, -count(*) FROM old_rows GROUP BY status;
                ELSE
                    INSERT INTO {delta} (status, delta)
                    SELECT status, sum(d) FROM (
                        SELECT status, 1 AS d FROM new_rows UNION ALL SELECT status, -1 FROM old_rows
                    ) AS moves GROUP BY status HAVING sum(d) <> 0;
                END IF;
                RETURN NULL;
            END $$
            """
        )
        for name, (event, tables) in TRIGGERS.items():
            cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {review}")
            cursor.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {review} REFERENCING {tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER_FUNCTION}()"
            )
        cursor.execute(f"DELETE FROM {delta}")
        cursor.execute(f"DELETE FROM {total}")
        cursor.execute(f"INSERT INTO {total} (status, count) SELECT status, count(*) FROM {review} GROUP BY status")


def uninstall_status_trigger() -> None:
    review = Review._meta.db_table
    with connection.cursor() as cursor:
        for name in TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {review}")
        cursor.execute(f"DROP FUNCTION IF EXISTS {TRIGGER_FUNCTION}()")


def status_trigger_installed() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = ANY(%s) AND tgenabled <> 'D'",
            [Review._meta.db_table, list(TRIGGERS)],
        )
        return bool(cursor.fetchone()[0] == len(TRIGGERS))


def status_counts() -> dict[str, int]:
    """Dead letters per review status, exact: StatusTotal plus the deltas since, in one statement."""
    counts: Counter[str] = Counter()
    if status_trigger_installed():
        tallied = StatusTotal.objects.order_by().values_list("status", "count")
        for status, n in tallied.union(StatusDelta.objects.order_by().values_list("status", "delta"), all=True):
            counts[status] += n
    else:
        counts.update(dict(Review.objects.order_by().values_list("status").annotate(n=Count("pk"))))
    return {status: counts.get(status, 0) for status in Status.values}


def triage_counts() -> dict[str, int]:
    """The new and in-review counts (what the overview shows)."""
    counts = status_counts()
    return {status: counts[status] for status in TRIAGE_STATUSES}


def oldest_unreviewed() -> datetime | None:
    """The oldest timestamp of a new or in-review record: the last entry of each status's range
    of the status index (status, -timestamp), one probe each, instead of MIN over the range."""
    firsts = [
        Review.objects.filter(status=status, timestamp__isnull=False).aggregate(t=Min("timestamp"))["t"]
        for status in TRIAGE_STATUSES
    ]
    return min((t for t in firsts if t is not None), default=None)


# --- the catch-up (a scheduled task) and a rebuild ----------------------------------------------


@dataclass
class Caught:
    tallied_id: int
    records: int
    hours_pruned: int


def settled_max_id() -> int | None:
    """The largest record id below which every insert has committed or rolled back, or None
    when writers stay in flight longer than SETTLE_SECONDS (the next run tries again).

    On PostgreSQL: the largest visible id, then the transactions holding a write lock on the
    records table, waited for. An insert takes that lock before it draws its id, and holds it to
    its end; so one that drew an id below the largest visible one did so before that was read,
    and is among those waited for. (Ids drawn by nextval() before the INSERT would escape this:
    nothing in the project does that.) SQLite has one writer at a time: the largest id is settled.
    """
    top = DeadLetterRecord.objects.aggregate(m=Coalesce(Max("pk"), 0))["m"]
    if connection.vendor != "postgresql":
        return int(top)
    writers_sql = (
        "SELECT coalesce(array_agg(DISTINCT virtualtransaction), '{}') FROM pg_locks "
        "WHERE locktype = 'relation' AND relation = %s::regclass AND mode = 'RowExclusiveLock' "
        "AND pid <> pg_backend_pid()"
    )
    table = DeadLetterRecord._meta.db_table
    deadline = time.monotonic() + SETTLE_SECONDS
    with connection.cursor() as cursor:
        cursor.execute(writers_sql, [table])
        writers = list(cursor.fetchone()[0])
        while writers:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
            cursor.execute(writers_sql + " AND virtualtransaction = ANY(%s)", [table, writers])
            writers = list(cursor.fetchone()[0])
    return int(top)


def catch_up(now: datetime | None = None) -> Caught:
    """Tally the records drained since the last run (up to a settled id), prune old hours."""
    now = now or timezone.now()
    settled = settled_max_id()
    with transaction.atomic():
        # The mark row's lock serialises catch-ups and rebuilds: no record is tallied twice.
        mark, _ = TallyMark.objects.select_for_update().get_or_create(pk=MARK_PK)
        added = 0
        if settled is not None and settled > mark.tallied_id:
            added = _add(mark.tallied_id, settled, now)
            mark.tallied_id = settled
        mark.tallied_at = now
        mark.save()
        pruned = _prune(now)
        _fold_status_deltas()
    return Caught(mark.tallied_id, added, pruned)


def rebuild(now: datetime | None = None) -> Caught:
    """Count everything again from the records (after a restore, or to check the tallies)."""
    now = now or timezone.now()
    with transaction.atomic():
        mark, _ = TallyMark.objects.select_for_update().get_or_create(pk=MARK_PK)
        DeadLetterTotal.objects.all().delete()
        DeadLetterHourly.objects.all().delete()
        mark.tallied_id = 0
        mark.save()
        if connection.vendor == "postgresql":
            install_status_trigger()
    return catch_up(now)


def _add(after: int, upto: int, now: datetime) -> int:
    """Add the records after < id <= upto to the tallies (the caller holds the mark's lock, so
    nothing else writes them: new values are computed here and upserted in a few statements)."""
    rows = DeadLetterRecord.objects.order_by().filter(pk__gt=after, pk__lte=upto)
    by_topic = rows.values_list("original_topic", "fingerprint").annotate(n=Count("pk"))
    totals = {(t.original_topic, t.fingerprint): t for t in DeadLetterTotal.objects.all()}
    added = 0
    for topic, fingerprint, n in by_topic:
        total = totals.setdefault((topic, fingerprint), DeadLetterTotal(original_topic=topic, fingerprint=fingerprint))
        total.count += n
        added += n
    DeadLetterTotal.objects.bulk_create(
        totals.values(), update_conflicts=True, unique_fields=["original_topic", "fingerprint"], update_fields=["count"]
    )
    recent = (now - timedelta(days=HOURLY_DAYS)).replace(minute=0, second=0, microsecond=0)
    by_hour = (
        rows.filter(timestamp__gte=recent)
        .annotate(hour=TruncHour("timestamp"))
        .values_list("hour", "fingerprint")
        .annotate(n=Count("pk"))
    )
    hours = {(h.hour, h.fingerprint): h for h in DeadLetterHourly.objects.filter(hour__gte=recent)}
    for hour, fingerprint, n in by_hour:
        hours.setdefault((hour, fingerprint), DeadLetterHourly(hour=hour, fingerprint=fingerprint)).count += n
    DeadLetterHourly.objects.bulk_create(
        hours.values(), batch_size=2000, update_conflicts=True, unique_fields=["hour", "fingerprint"],
        update_fields=["count"],
    )  # fmt: skip
    return added


def _fold_status_deltas() -> None:
    """Move the deltas into StatusTotal in one statement (deltas committed meanwhile stay for the
    next run); reinstall the trigger, recounting, if it is gone. PostgreSQL only."""
    if connection.vendor != "postgresql":
        return
    if not status_trigger_installed():
        log.error("the dead-letter status trigger was missing: reinstalled, statuses recounted")
        install_status_trigger()
        return
    delta, total = StatusDelta._meta.db_table, StatusTotal._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH moved AS (DELETE FROM {delta} RETURNING status, delta) "
            f"INSERT INTO {total} (status, count) SELECT status, sum(delta) FROM moved GROUP BY status "
            f"ON CONFLICT (status) DO UPDATE SET count = {total}.count + excluded.count"
        )


def _prune(now: datetime) -> int:
    return DeadLetterHourly.objects.filter(hour__lt=now - timedelta(days=HOURLY_DAYS)).delete()[0]


__all__ = [
    "Caught",
    "catch_up",
    "count_since",
    "hourly",
    "oldest_unreviewed",
    "rebuild",
    "settled_max_id",
    "status_counts",
    "triage_counts",
    "totals",
]
