"""Republish attempts (the outbox), bulk jobs, approvals and the audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class Replay(models.Model):
    """One attempt to republish one dead letter.

    Written and committed as `publishing` before anything is produced, so a
    crash between the broker's acknowledgement and our update leaves a row a
    person can reconcile instead of a silent duplicate or a silent loss.
    """

    class State(models.TextChoices):
        PUBLISHING = "publishing", "Publishing"
        REPUBLISHED = "republished", "Republished"
        FAILED = "failed", "Failed"

    replay_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No database constraint on record, job or requester (Django still applies on_delete, and
    # dead letters are never deleted: the admin refuses it). PostgreSQL checks a foreign key
    # with a query per inserted row, and the record's check also locks its row, which dirties
    # the wide record's page: measured on a bulk republish, about 10 us of database time per
    # record for each constraint, and a third of the WAL. A user or job deleted while a job
    # runs can leave ids pointing nowhere in its later replays; the admin shows those as
    # empty, and the audit entries keep who asked.
    record = models.ForeignKey(
        "deadletter.DeadLetterRecord", on_delete=models.PROTECT, related_name="replays", db_constraint=False
    )
    # Not indexed either: nothing looks replays up by job (jobs are never deleted), and each
    # index is one more entry for every row a bulk republish claims.
    job = models.ForeignKey(
        "ReplayJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replays",
        db_constraint=False,
        db_index=False,
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PUBLISHING)
    target_topic = models.CharField(max_length=249)
    target_partition = models.IntegerField()
    # The partition's end offset just before producing: reconcile scans from here.
    start_offset = models.BigIntegerField()
    offset = models.BigIntegerField(null=True, blank=True)
    edited = models.BooleanField(default=False)
    # Only for an edited republish: what was sent instead of the record's own value and headers.
    value = models.BinaryField(null=True, help_text="The value produced, when it was edited.")
    edited_headers = models.JSONField(default=list, blank=True, help_text="[[name, base64 or null], ...]")
    error = models.TextField(blank=True)
    # Not indexed: nothing looks replays up by who asked, and a bulk republish writes each index.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # No index on state: settling a chunk finds its replays by replay_id, and an index on
        # state keeps an entry for every replay once publishing until VACUUM, which made each
        # settle slower than the one before it.
        # The acts on dead letters, granted to "Ops operator" (never to "Ops viewer").
        permissions = [
            ("republish_record", "Can republish a dead letter"),
            ("edit_republish_record", "Can republish a dead letter with an edited value"),
            ("bulk_republish", "Can republish dead letters in bulk"),
            ("discard_record", "Can discard a dead letter"),
        ]

    def __str__(self) -> str:
        return f"replay {self.replay_id} of {self.record_id} to {self.target_topic}[{self.target_partition}]"


class ReplayJob(models.Model):
    """A bulk republish: its progress is what the admin shows while the Celery job runs."""

    class State(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        STOPPED = "stopped", "Stopped"
        REJECTED = "rejected", "Rejected"

    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    record_ids = models.JSONField(default=list)
    target_topic = models.CharField(max_length=249, blank=True, help_text="Blank: each record's original topic.")
    rate_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Records per second; blank: no limit.")
    edit = models.JSONField(default=dict, blank=True, help_text="An edited value and headers, for one record.")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="No longer in a state that may be republished.")
    last_error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Moved on by each settled chunk: a running job whose worker was killed outright stops moving.
    progress_at = models.DateTimeField(null=True, blank=True, help_text="When it last started or settled a chunk.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        # What names the job in headings and links: its counts are the job page's live part,
        # which polling keeps current; copied here they would go stale while it runs.
        return f"Republish job {self.pk} · {self.total} record{'' if self.total == 1 else 's'}"

    @property
    def last_moved_at(self) -> datetime | None:
        """When it last started or settled a chunk (jobs running before progress_at existed: started)."""
        return self.progress_at or self.started_at

    def seems_abandoned(self) -> bool:
        """Running, but nothing settled for REPUBLISH_JOB_ABANDONED_AFTER: its worker is gone.
        The worker's clock wrote the time and this one reads it: the limit is minutes, far above
        the skew between NTP-synchronised machines."""
        if self.state != self.State.RUNNING or self.last_moved_at is None:
            return False
        return (timezone.now() - self.last_moved_at).total_seconds() > settings.REPUBLISH_JOB_ABANDONED_AFTER


class AuditEntry(models.Model):
    """Who did what to which dead letters: kept besides Django's LogEntry, never edited."""

    class Action(models.TextChoices):
        REPUBLISH = "republish", "Republish"
        EDITED_REPUBLISH = "edited_republish", "Edited republish"
        BULK_REPUBLISH = "bulk_republish", "Bulk republish"
        DISCARD = "discard", "Discard"
        RECONCILE = "reconcile", "Reconcile"
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"
        STOP = "stop", "Stop a job"
        JOB_ENDED = "job_ended", "Job ended"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    # The bulk job the entry is about: its request, approval, stop and end (filtered on in the audit list).
    job = models.ForeignKey(ReplayJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries")
    record_ids = models.JSONField(default=list)
    target_topic = models.CharField(max_length=249, blank=True)
    replay_ids = models.JSONField(default=list)
    outcome = models.TextField()
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.user} at {self.at:%Y-%m-%d %H:%M:%S}"
