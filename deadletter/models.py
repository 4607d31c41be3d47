"""One row per record of the dead-letter topic, kept after Kafka's retention drops it."""

from __future__ import annotations

import base64

from django.conf import settings
from django.db import models
from django.db.models import Q

from deadletter import decoders


class Convention(models.TextChoices):
    BILLING = decoders.BILLING, "Billing (KafkaJS)"
    SPRING_KAFKA = decoders.SPRING_KAFKA, "Spring Kafka"
    SPRING_RETRY = decoders.SPRING_RETRY, "Spring retry topic"
    SPRING_CLOUD_STREAM = decoders.SPRING_CLOUD_STREAM, "Spring Cloud Stream"
    KAFKA_CONNECT = decoders.KAFKA_CONNECT, "Kafka Connect"
    KAFKA_STREAMS = decoders.KAFKA_STREAMS, "Kafka Streams"
    SMALLRYE = decoders.SMALLRYE, "SmallRye / Quarkus"
    KARAFKA = decoders.KARAFKA, "Karafka"
    UNKNOWN = decoders.UNKNOWN, "Unknown"


class Status(models.TextChoices):
    NEW = "new", "New"
    IN_REVIEW = "in_review", "In review"
    # Set by the republish and discard actions (a later issue), never by triage.
    PUBLISHING = "publishing", "Publishing"
    REPUBLISHED = "republished", "Republished"
    FAILED = "failed", "Failed"
    DISCARDED = "discarded", "Discarded"


TRIAGE_STATUSES = (Status.NEW, Status.IN_REVIEW)


def _by_time(name: str, *fields: str) -> models.Index:
    """Filter column first, then the default ordering: one index serves the filter and the sort."""
    return models.Index(fields=[*fields, "-timestamp", "-id"], name=name)


class DeadLetterRecord(models.Model):
    # Where the record sits in the dead-letter topic.
    dlq_topic = models.CharField(max_length=249)
    partition = models.IntegerField()
    offset = models.BigIntegerField()
    timestamp = models.DateTimeField(null=True, blank=True, help_text="The dead-letter record's Kafka timestamp.")

    # The record as read: null is kept distinct from empty.
    key = models.BinaryField(null=True)
    value = models.BinaryField(null=True)
    key_size = models.IntegerField(null=True)
    value_size = models.IntegerField(null=True)
    key_text = models.CharField(max_length=255, blank=True, help_text="The key as UTF-8 text, for search.")
    headers = models.JSONField(default=list, help_text="[[name, base64 value or null], ...] in record order.")

    # What the decoders read from the headers.
    convention = models.CharField(max_length=32, choices=Convention.choices, default=Convention.UNKNOWN)
    original_topic = models.CharField(max_length=249, blank=True)
    original_partition = models.IntegerField(null=True, blank=True)
    original_offset = models.BigIntegerField(null=True, blank=True)
    original_timestamp_ms = models.BigIntegerField(null=True, blank=True)
    consumer_group = models.CharField(max_length=255, blank=True)
    error_type = models.CharField(max_length=255, blank=True)
    error_message = models.TextField(blank=True)
    stack_trace = models.TextField(blank=True)
    retry_count = models.IntegerField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    decode_error = models.TextField(blank=True)
    fingerprint = models.CharField(max_length=16, blank=True, help_text="Hash of the error type and message shape.")
    fingerprint_text = models.CharField(max_length=500, blank=True, help_text="Message with numbers and ids masked.")

    # Read from a JSON billing event when the value is one.
    event_id = models.CharField(max_length=255, blank=True)
    event_type = models.CharField(max_length=255, blank=True)
    account_id = models.CharField(max_length=255, blank=True)
    correlation_id = models.CharField(max_length=255, blank=True)
    saga_id = models.CharField(max_length=255, blank=True)
    amount = models.CharField(max_length=64, blank=True, help_text="As written in the event, never rounded.")
    currency = models.CharField(max_length=16, blank=True)

    # Review.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    # Indexed in Meta only where set: a partial index costs a drained row (always unassigned) nothing.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    notes = models.TextField(blank=True)
    drained_at = models.DateTimeField(auto_now_add=True)

    # Republish bookkeeping. replay_id is the id this row was republished with; a record
    # that failed again comes back carrying it in x-replay-id (returned_replay_id).
    # Not indexed: a returned replay is found through the Replay table, and every index
    # here is one more write for each row a bulk republish claims and settles.
    replay_id = models.UUIDField(null=True, blank=True)
    returned_replay_id = models.UUIDField(null=True, blank=True)
    failed_again = models.BooleanField(default=False, help_text="Republished, then dead-lettered again.")

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["dlq_topic", "partition", "offset"], name="deadletter_unique_position"),
        ]
        # Only filters and the default ordering get an index: each one costs every drained row.
        indexes = [
            models.Index(fields=["-timestamp", "-id"], name="deadletter_by_time"),
            _by_time("deadletter_status_time", "status"),
            _by_time("deadletter_origtopic_time", "original_topic"),
            _by_time("deadletter_convention_time", "convention"),
            _by_time("deadletter_errtype_time", "error_type"),
            _by_time("deadletter_fingerprint_time", "fingerprint"),
            # Never set by the drain: partial indexes, so a drained row adds no entry to them.
            models.Index(
                fields=["-timestamp", "-id"], name="deadletter_failedagain_time", condition=Q(failed_again=True)
            ),
            models.Index(fields=["assignee"], name="deadletter_assignee_set", condition=Q(assignee__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.dlq_topic}[{self.partition}]@{self.offset}"

    def raw_headers(self) -> list[tuple[str, bytes | None]]:
        return [(name, None if value is None else base64.b64decode(value)) for name, value in self.headers]
