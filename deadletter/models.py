"""One row per record of the dead-letter topic, kept after Kafka's retention drops it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q

from deadletter import decoders, header_codec


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
    # Set by the republish and discard actions, never by triage.
    PUBLISHING = "publishing", "Publishing"
    REPUBLISHED = "republished", "Republished"
    FAILED = "failed", "Failed"
    DISCARDED = "discarded", "Discarded"


TRIAGE_STATUSES = (Status.NEW, Status.IN_REVIEW)


def _by_time(name: str, *fields: str) -> models.Index:
    """Filter column first, then the default ordering: one index serves the filter and the sort."""
    return models.Index(fields=[*fields, "-timestamp", "-id"], name=name)


# Searched exactly, each through its own index: key, event, account, correlation, transaction.
SEARCHED = ("key_text", "event_id", "account_id", "correlation_id", "transaction_id")


def _searched(field: str) -> models.Index:
    short = field.removesuffix("_id").removesuffix("_text")
    return models.Index(fields=[field], name=f"deadletter_search_{short}", condition=~Q(**{field: ""}))


class DeadLetterRecordQuerySet(models.QuerySet):
    # Any, not DeadLetterRecord: the django-stubs plugin leaves QuerySet.bulk_create's _Model
    # unbound in a subclass, so the precise types fail to check against it.
    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        """Each new record with its Review (status new), as the drain writes them."""
        with transaction.atomic(using=self.db):
            created: list[Any] = super().bulk_create(objs, *args, **kwargs)
            ids = [obj.pk for obj in created if obj.pk is not None]
            for start in range(0, len(ids), 500):  # SQLite's limit on parameters
                Review.create_missing(self.filter(pk__in=ids[start : start + 500]))
            # Rows whose primary key was not read back (ignore_conflicts, a database without
            # RETURNING): found by their unique position.
            for positions in _positions([obj for obj in created if obj.pk is None]):
                Review.create_missing(self.filter(positions))
        return created


def _positions(records: Iterable[DeadLetterRecord]) -> Iterator[Q]:
    """The records' positions, a partition and at most 500 offsets at a time (SQLite's limits)."""
    offsets: dict[tuple[str, int], list[int]] = {}
    for record in records:
        offsets.setdefault((record.dlq_topic, record.partition), []).append(record.offset)
    for (topic, partition), numbers in offsets.items():
        for start in range(0, len(numbers), 500):
            yield Q(dlq_topic=topic, partition=partition, offset__in=numbers[start : start + 500])


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
    transaction_id = models.CharField(max_length=255, blank=True)
    amount = models.CharField(max_length=64, blank=True, help_text="As written in the event, never rounded.")
    currency = models.CharField(max_length=16, blank=True)

    # Review. The status is in Review, a narrow table of its own (see there).
    # Indexed in Meta only where set: a partial index costs a drained row (always unassigned) nothing.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    notes = models.TextField(blank=True)
    drained_at = models.DateTimeField(auto_now_add=True)

    # A record that failed again after a republish comes back carrying its replay id in
    # x-replay-id (returned_replay_id); the replay it was republished with is on its Review.
    returned_replay_id = models.UUIDField(null=True, blank=True)
    failed_again = models.BooleanField(default=False, help_text="Republished, then dead-lettered again.")

    objects = DeadLetterRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["dlq_topic", "partition", "offset"], name="deadletter_unique_position"),
        ]
        # Only filters and the default ordering get an index: each one costs every drained row.
        indexes = [
            models.Index(fields=["-timestamp", "-id"], name="deadletter_by_time"),
            _by_time("deadletter_origtopic_time", "original_topic"),
            _by_time("deadletter_convention_time", "convention"),
            _by_time("deadletter_errtype_time", "error_type"),
            _by_time("deadletter_fingerprint_time", "fingerprint"),
            # Never set by the drain: partial indexes, so a drained row adds no entry to them.
            models.Index(
                fields=["-timestamp", "-id"], name="deadletter_failedagain_time", condition=Q(failed_again=True)
            ),
            models.Index(fields=["assignee"], name="deadletter_assignee_set", condition=Q(assignee__isnull=False)),
            # The list's exact search (see DeadLetterRecordAdmin.get_search_results). Partial: a
            # record that is not a billing event (blank fields) costs these indexes nothing.
            *(_searched(name) for name in SEARCHED),
        ]

    def __str__(self) -> str:
        return f"{self.dlq_topic}[{self.partition}]@{self.offset}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A new record is saved with its Review (status new)."""
        adding = self._state.adding
        with transaction.atomic():
            super().save(*args, **kwargs)
            if adding:
                Review.objects.create(record=self, **{name: getattr(self, name) for name in Review.COPIED})

    def raw_headers(self) -> list[tuple[str, bytes | None]]:
        return header_codec.decode(self.headers)

    @property
    def status(self) -> str:
        return self.review.status

    def get_status_display(self) -> str:
        return self.review.get_status_display()


class Review(models.Model):
    """What a review and a republish change on a dead letter: its status and replay id.

    A table of its own, one narrow row per record, so that moving a record through
    new -> publishing -> republished never rewrites the wide record or adds entries to
    its many indexes: a status write here touches two small indexes.
    """

    record = models.OneToOneField(DeadLetterRecord, primary_key=True, on_delete=models.CASCADE, related_name="review")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    # The id this record was last republished with (a record that failed again comes back carrying it).
    replay_id = models.UUIDField(null=True, blank=True)
    # Copied from the record, never changed (COPIED). The timestamp: the status filter's index is
    # in the list's order. The fingerprint and original topic: the summary groups this table alone,
    # never joining the wide records table (deadletter/summary.py).
    timestamp = models.DateTimeField(null=True, blank=True)
    fingerprint = models.CharField(max_length=16, blank=True)
    original_topic = models.CharField(max_length=249, blank=True)

    COPIED = ("timestamp", "fingerprint", "original_topic")

    class Meta:
        indexes = [models.Index(fields=["status", "-timestamp", "-record"], name="deadletter_review_status_time")]

    def __str__(self) -> str:
        return f"{self.record_id}: {self.get_status_display()}"

    @classmethod
    def create_missing(cls, records: models.QuerySet) -> None:
        """A Review (status new) for each of these records that has none: one INSERT ... SELECT,
        so no row passes through Python (the drain calls this for every batch it COPYs)."""
        missing = records.filter(review__isnull=True).order_by().values_list("pk", *cls.COPIED)
        select, params = missing.query.get_compiler(connection=connection).as_sql()
        columns = ", ".join(_column(cls, name) for name in ("record", *cls.COPIED, "status"))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {cls._meta.db_table} ({columns}) SELECT m.*, %s FROM ({select}) AS m",
                [Status.NEW.value, *params],  # in the order the placeholders come
            )


def _column(model: type[models.Model], name: str) -> str:
    """A concrete field's column name (a reverse relation has none)."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or field.column is None:
        raise TypeError(f"{model.__name__}.{name} has no column")
    return field.column


class RegistryDecodeMark(models.Model):
    """How far the pass that decodes wire-format dead letters through the Schema Registry has walked."""

    last_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"decoded through the registry up to record {self.last_id}"
