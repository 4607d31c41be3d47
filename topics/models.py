"""The cluster mirror: what the last sync read from Kafka (topics/sync.py writes it).

Nobody edits these rows by hand; the admin shows them read-only. Rows for
topics, groups and brokers that left the cluster are kept and marked, so an
operator can still see what was there and when it went.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone

STALE_AFTER = timedelta(seconds=90)


class Broker(models.Model):
    broker_id = models.IntegerField(unique=True)
    host = models.CharField(max_length=255)
    port = models.IntegerField()
    rack = models.CharField(max_length=255, blank=True)
    is_controller = models.BooleanField(default=False)
    # False when the last sync did not see it: a stopped broker keeps its row.
    is_up = models.BooleanField(default=True)
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["broker_id"]

    def __str__(self) -> str:
        return f"broker {self.broker_id} ({self.host}:{self.port})"


class Topic(models.Model):
    name = models.CharField(max_length=249, unique=True)
    partition_count = models.IntegerField()
    replication_factor = models.IntegerField()
    is_internal = models.BooleanField(default=False)
    # The configs shown in the list; text because Kafka's values (-1, "compact,delete") are text.
    retention_ms = models.CharField(max_length=32, blank=True)
    cleanup_policy = models.CharField(max_length=32, blank=True)
    min_insync_replicas = models.CharField(max_length=8, blank=True)
    # Every config: {key: [value, source]}; one column instead of ~35 rows per topic.
    configs = models.JSONField(default=dict)
    under_replicated_partitions = models.IntegerField(default=0)
    offline_partitions = models.IntegerField(default=0)
    # Sum of (latest - earliest) offsets: exact for plain topics, an upper bound when compacted.
    approx_messages = models.BigIntegerField(default=0)
    last_synced = models.DateTimeField()
    vanished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            # The default list (internal and vanished hidden) ordered by name.
            models.Index(fields=["is_internal", "vanished_at", "name"], name="topic_default_list"),
            models.Index(fields=["under_replicated_partitions"], name="topic_under_replicated"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def vanished(self) -> bool:
        return self.vanished_at is not None


class Partition(models.Model):
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="partitions")
    number = models.IntegerField()
    leader = models.IntegerField(null=True, blank=True)  # None: offline (Kafka says -1)
    replicas = models.JSONField(default=list)
    isr = models.JSONField(default=list)
    earliest_offset = models.BigIntegerField(null=True, blank=True)
    latest_offset = models.BigIntegerField(null=True, blank=True)
    under_replicated = models.BooleanField(default=False)

    class Meta:
        ordering = ["topic", "number"]
        constraints = [models.UniqueConstraint(fields=["topic", "number"], name="partition_unique_per_topic")]

    def __str__(self) -> str:
        return f"{self.topic_id}[{self.number}]"


class ConsumerGroup(models.Model):
    group_id = models.CharField(max_length=255, unique=True)
    state = models.CharField(max_length=32, blank=True)
    protocol_type = models.CharField(max_length=32, blank=True)
    member_count = models.IntegerField(default=0)
    coordinator = models.IntegerField(null=True, blank=True)
    # Sum over partitions with a known end offset; None until offsets were read once.
    total_lag = models.BigIntegerField(null=True, blank=True)
    last_synced = models.DateTimeField()
    # Why the last sync could not read this group (its other rows are then the previous sync's).
    sync_error = models.TextField(blank=True)
    vanished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["group_id"]
        indexes = [models.Index(fields=["total_lag"], name="group_total_lag")]

    def __str__(self) -> str:
        return self.group_id


class GroupOffset(models.Model):
    group = models.ForeignKey(ConsumerGroup, on_delete=models.CASCADE, related_name="offsets")
    # By name, not a foreign key: a group may hold offsets of a topic that no longer exists.
    topic = models.CharField(max_length=249)
    partition = models.IntegerField()
    committed_offset = models.BigIntegerField()
    end_offset = models.BigIntegerField(null=True, blank=True)
    lag = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["group", "topic", "partition"]
        constraints = [
            models.UniqueConstraint(fields=["group", "topic", "partition"], name="group_offset_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.group_id} {self.topic}[{self.partition}]"


class SyncRun(models.Model):
    """One completed sync: the mirror's freshness and what changed. None is written when
    the cluster could not be reached, so the latest row is the age of what is shown."""

    finished_at = models.DateTimeField(db_index=True)
    duration = models.FloatField(help_text="seconds")
    created = models.IntegerField()
    updated = models.IntegerField()
    vanished = models.IntegerField()
    errors = models.IntegerField()
    error_messages = models.JSONField(default=list)

    class Meta:
        ordering = ["-finished_at"]

    def __str__(self) -> str:
        return f"sync at {self.finished_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def latest_run(cls) -> SyncRun | None:
        return cls.objects.order_by("-finished_at").first()

    @property
    def age(self) -> timedelta:
        return timezone.now() - self.finished_at

    @property
    def is_stale(self) -> bool:
        # Three missed 30 s beats: the job is not running, or the cluster is unreachable.
        return self.age > STALE_AFTER


class BrowseLog(models.Model):
    """Who looked at which messages: billing payloads carry account data (each browse, search or download)."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)  # kept when the user is deleted
    action = models.CharField(max_length=16)  # browse, search or download
    topic = models.CharField(max_length=249)
    partitions = models.CharField(max_length=255)
    detail = models.TextField(blank=True, help_text="the range shown, or the search and how far it looked")

    class Meta:
        ordering = ["-at"]
        permissions = [("browse_messages", "Can browse and search message keys, values and headers")]

    def __str__(self) -> str:
        return f"{self.username} {self.action} {self.topic} at {self.at:%Y-%m-%d %H:%M:%S}"
