"""Republish jobs with their progress, attempts awaiting reconcile, and the audit trail: all read-only.

Also the dead-letter list and record page with the republish and discard acts: deadletter
registers its plain admin, knowing nothing of republishing; this app puts a subclass of it
carrying the acts in its place, at the same URLs.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from deadletter.admin import DeadLetterRecordAdmin
from deadletter.models import DeadLetterRecord
from opsportal.admin_mixins import ForbiddenActionMixin, ReadOnlyMixin, operator
from opsportal.kafka import KafkaClientError

from . import jobs
from .actions import PERMISSIONS, RepublishAdminMixin, queue_job
from .models import AuditEntry, Replay, ReplayJob
from .publish import RepublishRefused
from .reconcile import reconcile


class ReadOnlyAdmin(ForbiddenActionMixin, ReadOnlyMixin, admin.ModelAdmin):
    pass


class RepublishingDeadLetterAdmin(RepublishAdminMixin, DeadLetterRecordAdmin):
    """deadletter's admin with the acts on dead letters (see republish.actions)."""


admin.site.unregister(DeadLetterRecord)
admin.site.register(DeadLetterRecord, RepublishingDeadLetterAdmin)


@admin.register(ReplayJob)
class ReplayJobAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "state",
        "progress",
        "done",
        "failed",
        "skipped",
        "total",
        "target_topic",
        "rate_limit",
        "requested_by",
        "approved_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("state",)
    list_select_related = ("requested_by", "approved_by")
    readonly_fields = (
        "state",
        "total",
        "done",
        "failed",
        "skipped",
        "last_error",
        "target_topic",
        "rate_limit",
        "requested_by",
        "approved_by",
        "created_at",
        "started_at",
        "progress_at",
        "finished_at",
        "edit_diff",
    )
    exclude = ("record_ids", "edit")
    actions = ["approve_jobs", "reject_jobs", "run_the_rest"]

    @admin.display(description="Progress")
    def progress(self, job: ReplayJob) -> str:
        settled = job.done + job.failed + job.skipped
        shown = f"{settled}/{job.total} ({100 * settled // job.total if job.total else 100}%)"
        if job.seems_abandoned():
            shown += f"; nothing settled since {job.last_moved_at:%Y-%m-%d %H:%M} UTC: worker lost? Run the rest"
        return shown

    @admin.display(description="Edit")
    def edit_diff(self, job: ReplayJob) -> str:
        return job.edit.get("diff", "–") if job.edit else "–"

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSIONS["bulk_republish"])

    @admin.action(description="Approve selected republish jobs (four-eyes)", permissions=["approve"])
    def approve_jobs(self, request: HttpRequest, queryset: QuerySet[ReplayJob]) -> None:
        approved, refusals = 0, []
        for job in queryset.filter(state=ReplayJob.State.AWAITING_APPROVAL):
            if job.edit and not request.user.has_perm(PERMISSIONS["edit_republish"]):
                refusals.append(
                    f"job {job.pk} sends an edited value: approving it needs the edited-republish permission"
                )
                continue
            try:
                jobs.approve(job, user=operator(request))
            except RepublishRefused as exc:
                refusals.append(str(exc))
                continue
            job.refresh_from_db()
            queue_job(job)
            approved += 1
        if approved:
            self.message_user(
                request, ngettext("%d job approved and queued.", "%d jobs approved and queued.", approved) % approved
            )
        for refusal in dict.fromkeys(refusals):
            self.message_user(request, refusal, messages.ERROR)

    def has_bulk_republish_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSIONS["bulk_republish"])

    @admin.action(
        description="Run the rest of selected stopped or abandoned jobs (rows still republishable)",
        permissions=["bulk_republish"],
    )
    def run_the_rest(self, request: HttpRequest, queryset: QuerySet[ReplayJob]) -> None:
        for job in queryset:
            if job.edit and not request.user.has_perm(PERMISSIONS["edit_republish"]):
                self.message_user(
                    request,
                    f"job {job.pk} sends an edited value: that needs the edited-republish permission",
                    messages.ERROR,
                )
                continue
            try:
                rest = jobs.rest_of(job, user=operator(request))
            except RepublishRefused as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            queue_job(rest)
            waiting = rest.state == rest.State.AWAITING_APPROVAL
            self.message_user(
                request,
                f"Job {rest.pk} created for the {rest.total} record(s) job {job.pk} did not get to."
                + (" It waits for a second operator's approval." if waiting else ""),
            )

    @admin.action(description="Reject selected republish jobs (nothing is sent)", permissions=["approve"])
    def reject_jobs(self, request: HttpRequest, queryset: QuerySet[ReplayJob]) -> None:
        rejected = 0
        for job in queryset.filter(state=ReplayJob.State.AWAITING_APPROVAL):
            try:
                jobs.reject(job, user=operator(request))
            except RepublishRefused as exc:  # approved or rejected by someone else meanwhile
                self.message_user(request, str(exc), messages.ERROR)
                continue
            rejected += 1
        self.message_user(request, ngettext("%d job rejected.", "%d jobs rejected.", rejected) % rejected)


@admin.register(Replay)
class ReplayAdmin(ReadOnlyAdmin):
    list_display = (
        "replay_id",
        "state",
        "record",
        "target_topic",
        "target_partition",
        "offset",
        "edited",
        "requested_by",
        "created_at",
        "error",
    )
    list_filter = ("state", "edited", "target_topic")
    search_fields = ("=replay_id",)
    list_select_related = ("record", "requested_by")
    readonly_fields = [field.name for field in Replay._meta.fields if field.name != "value"]
    show_full_result_count = False
    actions = ["reconcile_replays"]

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSIONS["republish"])

    @admin.action(description="Reconcile selected replays left publishing", permissions=["reconcile"])
    def reconcile_replays(self, request: HttpRequest, queryset: QuerySet[Replay]) -> None:
        for replay in queryset.filter(state=Replay.State.PUBLISHING)[:100]:
            try:
                self.message_user(request, reconcile(replay, user=operator(request)))
            except (RepublishRefused, KafkaClientError) as exc:
                self.message_user(request, f"{replay.replay_id}: {exc}", messages.ERROR)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "user", "action", "record_count", "target_topic", "outcome")
    list_filter = ("action",)
    list_select_related = ("user",)
    date_hierarchy = "at"
    readonly_fields = ("at", "user", "action", "record_ids", "target_topic", "replay_ids", "outcome", "details")

    @admin.display(description="Records")
    def record_count(self, entry: AuditEntry) -> int:
        return len(entry.record_ids)
