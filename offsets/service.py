"""Submitting, approving and executing resets: the one path shared by the admin and the command.

Every attempt that reaches the cluster leaves a row: applied, partly applied,
failed or refused, with what each partition was before and after.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from opsportal.kafka import ClusterSettings, KafkaClientError
from topics.sync import sync_group

from . import reset
from .models import OffsetReset

logger = logging.getLogger(__name__)


def four_eyes_required() -> bool:
    return settings.OPSPORTAL_FOUR_EYES


def submit(
    plan: reset.ResetPlan, user: User | None, *, requested_by_name: str = "", cluster: ClusterSettings | None = None
) -> OffsetReset:
    """Apply a confirmed preview now, or park it for a second person when four-eyes is on."""
    status = OffsetReset.Status.PENDING if four_eyes_required() else OffsetReset.Status.APPLYING
    row = OffsetReset.for_plan(plan, user, status, requested_by_name)
    row.save()
    if status == OffsetReset.Status.PENDING:
        return row
    return execute(row, cluster)


def approve(row: OffsetReset, approver: User, cluster: ClusterSettings | None = None) -> OffsetReset:
    """A different person approves; the plan is re-checked against the cluster, then applied."""
    if row.requested_by_id is not None and row.requested_by_id == approver.pk:
        raise reset.ResetError("four-eyes approval: you requested this reset, so someone else has to approve it")
    # A conditional update claims the request, so two approvers clicking at once apply it once.
    with transaction.atomic():
        claimed = OffsetReset.objects.filter(pk=row.pk, status=OffsetReset.Status.PENDING).update(
            status=OffsetReset.Status.APPLYING, approved_by=approver
        )
    if not claimed:
        raise reset.ResetError("this reset is no longer pending approval")
    row.refresh_from_db()
    stale = _moved_targets(row, cluster)
    if stale:
        # What was requested hours ago (to-latest, by-duration) may no longer be what the
        # requester meant; the approver must not commit offsets nobody has looked at.
        row.record_refusal(f"the same reset now gives other offsets ({stale}); request it again")
        return row
    return execute(row, cluster)


def _moved_targets(row: OffsetReset, cluster: ClusterSettings | None) -> str:
    requested = row.reset_plan()
    try:
        fresh = reset.plan_reset(requested.spec, cluster).new_offsets
    except (reset.ResetError, KafkaClientError) as exc:
        return f"it cannot be previewed now: {exc}"
    changed = [
        f"{t}[{p}] {old} -> {fresh.get((t, p))}"
        for (t, p), old in requested.new_offsets.items()
        if fresh.get((t, p)) != old
    ]
    return ", ".join(changed[:5])


def execute(row: OffsetReset, cluster: ClusterSettings | None = None) -> OffsetReset:
    try:
        result = reset.apply_plan(row.reset_plan(), cluster)
    except reset.ResetError as exc:
        row.record_refusal(str(exc))
        return row
    except KafkaClientError as exc:
        # The request may have reached the broker before the error: say so rather than claim nothing changed.
        row.record_refusal(
            f"Kafka error, the reset may or may not have been applied; check the committed offsets: {exc}",
            status=OffsetReset.Status.FAILED,
        )
        return row
    row.record_result(result)
    _refresh_mirror(row.group_id, cluster)
    return row


def _refresh_mirror(group_id: str, cluster: ClusterSettings | None) -> None:
    # The group's page should show the new offsets now, not after the next scheduled sync;
    # a failure here changes nothing about the reset, which is already recorded.
    try:
        sync_group(group_id, cluster)
    except KafkaClientError as exc:
        logger.warning("offset reset of %s applied, but its mirror rows were not refreshed: %s", group_id, exc)
