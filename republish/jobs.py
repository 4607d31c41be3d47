"""Republish jobs as a state machine: awaiting approval -> queued -> running -> finished,
stopped or rejected; each move a conditional update, so two workers or two operators
never make the same one twice. runner.py does the work of a running job.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import F, QuerySet
from django.utils import timezone

from deadletter.models import DeadLetterRecord, Review

from . import pg
from .edits import edit_from_json, edit_to_json
from .models import AuditEntry, ReplayJob
from .outbox import REPUBLISHABLE
from .publish import Edit, Outcome, RepublishRefused

CHUNK_SIZE = 5000  # records claimed, produced and settled together


# How last_error says an operator ended a job (notices, not errors): "stopped by olga",
# "rejected by oscar: wrong target". Whatever else stopped a job is an error ("stopped: ...").
STOPPED_BY = "stopped by "
REJECTED_BY = "rejected by "
# How a rest job's request entry names the job it is the rest of: the one link between the two.
REST_OF = "the rest of stopped job {}"
# A job still to run: a second rest of the same job would be made of the same records.
PENDING = (ReplayJob.State.AWAITING_APPROVAL, ReplayJob.State.QUEUED, ReplayJob.State.RUNNING)


def stopped_by(job: ReplayJob) -> str:
    """Who stopped the job from its page, or "" when it stopped on its own (an error, a lost worker)."""
    if job.state == ReplayJob.State.STOPPED and job.last_error.startswith(STOPPED_BY):
        return job.last_error.removeprefix(STOPPED_BY)
    return ""


class JobNoLongerRunning(Exception):
    """The job was marked stopped while it ran (taken for abandoned): it claims nothing more."""


def needs_approval(target_topics: set[str]) -> bool:
    """Four-eyes: republishing to these topics waits for a second operator."""
    return settings.OPSPORTAL_FOUR_EYES and bool(target_topics & set(settings.OPSPORTAL_FOUR_EYES_TOPICS))


def create_job(
    record_ids: list[int],
    *,
    user: User | None,
    target_topic: str = "",
    rate_limit: int | None = None,
    edit: Edit | None = None,
    awaiting_approval: bool = False,
    note: str = "",
) -> ReplayJob:
    job = ReplayJob.objects.create(
        record_ids=list(record_ids),
        total=len(record_ids),
        target_topic=target_topic,
        rate_limit=rate_limit,
        requested_by=user,
        edit=edit_to_json(edit),
        state=ReplayJob.State.AWAITING_APPROVAL if awaiting_approval else ReplayJob.State.QUEUED,
    )
    # The request is audited here, its end by audit_end (chunks summarised): two entries a job.
    AuditEntry.objects.create(
        user=user,
        job=job,
        action=AuditEntry.Action.EDITED_REPUBLISH if edit else AuditEntry.Action.BULK_REPUBLISH,
        record_ids=list(record_ids),
        target_topic=target_topic,
        outcome=f"requested republish job {job.pk} of {job.total} record(s)"
        + (f" ({note})" if note else "")
        + (", waiting for a second operator's approval" if awaiting_approval else ""),
        details={"diff": edit.diff} if edit else {},
    )
    return job


def approve(job: ReplayJob, *, user: User) -> None:
    """A second operator's approval queues the job; the requester cannot approve their own."""
    if job.requested_by_id == user.pk:
        raise RepublishRefused("four-eyes: a second operator must approve this republish, not its requester")
    updated = ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.AWAITING_APPROVAL).update(
        state=ReplayJob.State.QUEUED, approved_by=user
    )
    if not updated:
        raise RepublishRefused(f"job {job.pk} is not awaiting approval")
    AuditEntry.objects.create(
        user=user,
        job=job,
        action=AuditEntry.Action.APPROVE,
        record_ids=job.record_ids[:1000],
        target_topic=job.target_topic,
        outcome=f"approved republish job {job.pk} of {job.total} record(s)",
    )


def reject(job: ReplayJob, *, user: User, reason: str = "") -> None:
    """Any operator may turn a waiting request down (the requester too: that is cancelling it).
    The reason (the admin asks for one) is kept on the job, where its page shows it, and audited."""
    reason = reason.strip()
    updated = ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.AWAITING_APPROVAL).update(
        state=ReplayJob.State.REJECTED,
        finished_at=timezone.now(),
        skipped=job.total,
        last_error=f"{REJECTED_BY}{user.get_username()}" + (f": {reason}" if reason else ""),
    )
    if not updated:
        raise RepublishRefused(f"job {job.pk} is not awaiting approval")
    AuditEntry.objects.create(
        user=user,
        job=job,
        action=AuditEntry.Action.REJECT,
        record_ids=job.record_ids[:1000],
        target_topic=job.target_topic,
        outcome=f"rejected republish job {job.pk} of {job.total} record(s); nothing was sent"
        + (f": {reason}" if reason else ""),
        details={"reason": reason} if reason else {},
    )


def rest_of(job: ReplayJob, *, user: User) -> ReplayJob:
    """A new job for what a stopped job did not get to: its rows still republishable, in its order.

    Rows it left publishing are not in it (they may have been written: reconcile
    settles them), nor rows republished or discarded since. Four-eyes applies as
    to any new job.
    """
    if job.state == ReplayJob.State.RUNNING:
        stop_if_abandoned(job)  # reads the job again: someone else may have stopped it meanwhile
    if job.state == ReplayJob.State.RUNNING:
        raise RepublishRefused(
            f"job {job.pk} is running: only a stopped job has a rest; one that settles nothing for "
            f"{settings.REPUBLISH_JOB_ABANDONED_AFTER:g} s counts as stopped"
        )
    if job.state != ReplayJob.State.STOPPED:
        raise RepublishRefused(f"job {job.pk} is {job.get_state_display().lower()}: only a stopped job has a rest")
    pending = rest_job(job)
    if pending is not None and pending.state in PENDING:
        raise RepublishRefused(
            f"the rest of job {job.pk} is already job {pending.pk} ({pending.get_state_display().lower()})"
        )
    still: set[int] = set()
    for chunk in chunks(job.record_ids, CHUNK_SIZE):
        rows = _by_ids(Review.objects.filter(status__in=REPUBLISHABLE), chunk)
        still.update(rows.values_list("pk", flat=True))
    remaining = [pk for pk in job.record_ids if pk in still]
    if not remaining:
        raise RepublishRefused(
            f"job {job.pk} left nothing to republish; rows it left publishing are settled by reconcile"
        )
    topics = {job.target_topic}
    if not job.target_topic:  # four-eyes decided from every remaining record's topic
        topics = set()
        for chunk in chunks(remaining, CHUNK_SIZE):
            topics.update(
                _by_ids(DeadLetterRecord.objects.all(), chunk).values_list("original_topic", flat=True).distinct()
            )
    return create_job(
        remaining,
        user=user,
        target_topic=job.target_topic,
        rate_limit=job.rate_limit,
        edit=edit_from_json(job.edit),
        awaiting_approval=needs_approval(topics),
        note=REST_OF.format(job.pk),
    )


def rest_job(job: ReplayJob) -> ReplayJob | None:
    """The newest job Run the rest made of this one, found by its request entry's note (the
    parentheses keep job 1 from matching job 12's)."""
    entry = (
        AuditEntry.objects.filter(
            action__in=(AuditEntry.Action.BULK_REPUBLISH, AuditEntry.Action.EDITED_REPUBLISH),
            job__isnull=False,
            outcome__contains=f"({REST_OF.format(job.pk)})",
        )
        .select_related("job")
        .order_by("-pk")
        .first()
    )
    return entry.job if entry is not None else None


def stop_if_abandoned(job: ReplayJob) -> bool:
    """Mark stopped a running job whose worker was lost (killed outright, its machine gone): it
    would never say so itself. Only while its progress time is still the old one, so a job that
    settled a chunk meanwhile keeps running. If it was alive after all, nothing goes out twice:
    every claim checks each row's status."""
    job.refresh_from_db()  # decided on what the database says now, not on what a page showed
    if not job.seems_abandoned():
        return False
    stopped = ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.RUNNING, progress_at=job.progress_at).update(
        state=ReplayJob.State.STOPPED,
        finished_at=timezone.now(),
        last_error=f"stopped: nothing settled since {job.last_moved_at:%Y-%m-%d %H:%M:%S} UTC; its worker was lost",
    )
    job.refresh_from_db()
    if stopped:
        audit_end(job)
    return bool(stopped)


def _by_ids(queryset: QuerySet[Any], ids: list[int]) -> QuerySet[Any]:
    return pg.by_ids(queryset, ids) if connection.vendor == "postgresql" else queryset.filter(pk__in=ids)


def chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def claim_for_run(job_id: int) -> bool:
    """Queued -> running. Claimed with a conditional update, so a second worker (or a
    redelivered task) finds nothing to do instead of publishing twice."""
    now = timezone.now()
    return bool(
        ReplayJob.objects.filter(pk=job_id, state=ReplayJob.State.QUEUED).update(
            state=ReplayJob.State.RUNNING, started_at=now, progress_at=now
        )
    )


def mark_finished(job: ReplayJob) -> None:
    # Only while running: a job stopped as abandoned (wrongly: it was alive) stays stopped.
    ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.RUNNING).update(
        state=ReplayJob.State.FINISHED, finished_at=timezone.now()
    )


def mark_stopped(job: ReplayJob, reason: str) -> None:
    """Whatever stopped the job, it must not look as if it were still running."""
    ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.RUNNING).update(
        state=ReplayJob.State.STOPPED, finished_at=timezone.now(), last_error=f"stopped: {reason}"
    )


def record_progress(job: ReplayJob, outcome: Outcome) -> None:
    """Count a settled chunk on the job; raises JobNoLongerRunning if it was stopped meanwhile."""
    progress: dict[str, Any] = {
        "done": F("done") + outcome.republished,
        "failed": F("failed") + outcome.failed + outcome.uncertain,
        "skipped": F("skipped") + outcome.skipped,
        "last_error": outcome.errors[0] if outcome.errors else F("last_error"),
        "progress_at": timezone.now(),
    }
    if not ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.RUNNING).update(**progress):
        # Stopped meanwhile: count what this chunk did, then claim nothing more (otherwise its
        # rest, run meanwhile, and this job would both send one account's events). It keeps
        # the reason it was stopped with.
        del progress["last_error"]
        ReplayJob.objects.filter(pk=job.pk).update(**progress)
        raise JobNoLongerRunning(f"job {job.pk} was stopped while it ran")


def request_stop(job: ReplayJob, *, user: User) -> bool:
    """Stop a queued or running job between chunks: the chunk in flight is settled, nothing is
    half-sent, and what it did not get to stays republishable (Run the rest)."""
    stopped = ReplayJob.objects.filter(pk=job.pk, state__in=(ReplayJob.State.QUEUED, ReplayJob.State.RUNNING)).update(
        state=ReplayJob.State.STOPPED,
        finished_at=timezone.now(),
        last_error=f"{STOPPED_BY}{user.get_username()}",
    )
    if stopped:
        AuditEntry.objects.create(
            user=user,
            job=job,
            action=AuditEntry.Action.STOP,
            target_topic=job.target_topic,
            outcome=f"asked republish job {job.pk} to stop after the chunk in flight",
        )
    return bool(stopped)


def stop_requested(job: ReplayJob) -> bool:
    return not ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.RUNNING).exists()


def audit_end(job: ReplayJob, errors: list[str] | None = None) -> None:
    """The job's one closing entry: what its chunks did, summed. An operator's stop is said as
    one, not as the job's first error."""
    job.refresh_from_db()
    settled = job.done + job.failed + job.skipped
    size = min(CHUNK_SIZE, job.rate_limit or CHUNK_SIZE)
    chunk_count = -(-settled // size)
    stopper = stopped_by(job)
    own_error = [job.last_error] if job.last_error and not stopper else []
    errors = list(dict.fromkeys([*(errors or []), *own_error]))[:10]
    AuditEntry.objects.create(
        user=job.requested_by,
        job=job,
        action=AuditEntry.Action.JOB_ENDED,
        target_topic=job.target_topic,
        outcome=f"republish job {job.pk} {job.get_state_display().lower()}: {settled} of {job.total} settled "
        f"in {chunk_count} chunk(s): {job.done} republished, {job.failed} failed, {job.skipped} skipped"
        + (f". Stopped by {stopper} after {job.done} of {job.total} sent" if stopper else "")
        + (f". First error: {errors[0]}" if errors else ""),
        details={
            "chunks": chunk_count,
            "done": job.done,
            "failed": job.failed,
            "skipped": job.skipped,
            "errors": errors,
            **({"stopped_by": stopper} if stopper else {}),
        },
    )
