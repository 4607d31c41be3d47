"""The audit trail of offset resets, and the pending requests of four-eyes approval.

A row never talks to Kafka: offsets/service.py does, and records here what happened.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone

from .reset import ApplyResult, ResetPlan


class OffsetReset(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending_approval", "Pending approval"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        PARTIALLY_APPLIED = "partially_applied", "Partially applied"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused"

    group_id = models.CharField(max_length=255, db_index=True)
    reset_type = models.CharField(max_length=20)
    value = models.CharField(max_length=100, blank=True)
    scope = models.CharField(max_length=1000)
    # The previewed plan exactly as the requester confirmed it (see ResetPlan.to_json).
    plan = models.JSONField()
    # Per partition: before, planned, after, error; filled when the reset is attempted.
    partitions = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, db_index=True)
    detail = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Kept as text too: the command line has no user, and a deleted user must not erase history.
    requested_by_name = models.CharField(max_length=150)
    requested_at = models.DateTimeField(default=timezone.now, db_index=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        permissions = [("reset_offsets", "Can reset consumer group offsets")]

    def __str__(self) -> str:
        return f"{self.group_id} --{self.reset_type} {self.value}".strip()

    @classmethod
    def for_plan(
        cls, plan: ResetPlan, requested_by: User | None, status: str, requested_by_name: str = ""
    ) -> OffsetReset:
        return cls(
            group_id=plan.spec.group_id,
            reset_type=str(plan.spec.reset_type),
            value=plan.spec.value,
            scope=str(plan.spec.scope),
            plan=plan.to_json(),
            status=status,
            requested_by=requested_by,
            requested_by_name=requested_by_name or getattr(requested_by, "username", ""),
        )

    def reset_plan(self) -> ResetPlan:
        return ResetPlan.from_json(self.plan)

    def record_result(self, result: ApplyResult) -> None:
        self.partitions = [
            {
                "topic": p.topic,
                "partition": p.partition,
                "before": p.before,
                "planned": p.planned,
                "after": p.after,
                "error": p.error,
            }
            for p in result.partitions
        ]
        self.status = result.status
        self.detail = result.summary()
        self.applied_at = timezone.now()
        self.save()

    def record_refusal(self, reason: str, status: str = Status.REFUSED) -> None:
        self.status = status
        self.detail = reason
        self.save()
