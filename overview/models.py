"""Lag history: one series per consumer group and topic, sampled at each mirror sync.

Points are narrow rows (series id, time, lag, end offset, time lag) so that 200 groups × 10
topics at a 30 s sync stay a few GB at most; raw points live 48 h, hourly ones (max and last)
for LAG_HISTORY_RETENTION_DAYS.
"""

from __future__ import annotations

from django.db import models


class LagSeries(models.Model):
    """A (group, topic) pair and its latest values: what the overview and /metrics read now."""

    group_id = models.CharField(max_length=255)
    topic = models.CharField(max_length=249)
    lag = models.BigIntegerField(default=0)
    end_offset = models.BigIntegerField(default=0)
    # Seconds the group is behind: the age of the oldest message at its committed offsets (overview/lag.py);
    # None while behind with no age ever read (unknown, not 0).
    time_lag = models.FloatField(null=True, blank=True)
    caught_up_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The timestamp of the oldest message at the group's committed offsets (its age is the time lag); "
        "the sample's time when caught up; empty while unknown.",
    )
    sampled_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group_id", "topic"], name="lagseries_unique")]
        verbose_name_plural = "lag series"

    def __str__(self) -> str:
        return f"{self.group_id} / {self.topic}"


class LagPoint(models.Model):
    """One sample (hourly=False) or one hour's rollup (hourly=True, at = the hour's start)."""

    series = models.ForeignKey(LagSeries, on_delete=models.CASCADE, related_name="points", db_index=False)
    at = models.DateTimeField()
    hourly = models.BooleanField(default=False)
    lag = models.BigIntegerField()  # the last value (of the hour, for a rollup)
    lag_max = models.BigIntegerField()  # the hour's maximum; equal to lag for a sample
    end_offset = models.BigIntegerField()
    time_lag = models.FloatField(null=True)  # None: unknown (see LagSeries.time_lag)

    class Meta:
        # Also the index of every read: one series' points of one kind in time order.
        constraints = [models.UniqueConstraint(fields=["series", "hourly", "at"], name="lagpoint_unique")]

    def __str__(self) -> str:
        return f"{self.series_id} @ {self.at:%Y-%m-%d %H:%M:%S}"


class TallyMark(models.Model):
    """One row: the dead letters with an id up to tallied_id are counted in the tallies below;
    readers add the ones above it, counted live (overview/tally.py)."""

    tallied_id = models.BigIntegerField(default=0)
    tallied_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"tallied up to {self.tallied_id}"


class DeadLetterTotal(models.Model):
    """Dead letters of all time per original topic × fingerprint (what /metrics exports)."""

    original_topic = models.CharField(max_length=249)
    fingerprint = models.CharField(max_length=16)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["original_topic", "fingerprint"], name="deadlettertotal_unique")]

    def __str__(self) -> str:
        return f"{self.original_topic} / {self.fingerprint}: {self.count}"


class DeadLetterHourly(models.Model):
    """Dead letters per hour of their timestamp × fingerprint, for the hours the overview reads
    (its 7-day chart and 1 h / 24 h figures); older hours are pruned, records without a
    timestamp are in no hour (no time window counts them)."""

    hour = models.DateTimeField()
    fingerprint = models.CharField(max_length=16)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", "fingerprint"], name="deadletterhourly_unique")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} / {self.fingerprint}: {self.count}"


class StatusTotal(models.Model):
    """Dead letters per review status as of the last catch-up; plus the StatusDelta rows since."""

    status = models.CharField(max_length=16, unique=True)
    count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.status}: {self.count}"


class StatusDelta(models.Model):
    """Written by a PostgreSQL trigger on deadletter_review, in the transaction of each statement
    that inserts, deletes or changes the status of Reviews (overview/tally.py); append-only, so
    concurrent writers never wait on one another; folded into StatusTotal by the catch-up."""

    status = models.CharField(max_length=16)
    delta = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.status}: {self.delta:+d}"
