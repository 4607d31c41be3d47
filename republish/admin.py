"""Republish jobs with their progress, attempts awaiting reconcile, and the audit trail: all read-only.

Also the dead-letter list and record page with the republish and discard acts: deadletter
registers its plain admin, knowing nothing of republishing; this app puts a subclass of it
carrying the acts in its place, at the same URLs.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from deadletter.admin import DeadLetterRecordAdmin
from deadletter.models import DeadLetterRecord
from opsportal.admin_mixins import ForbiddenActionMixin, OfferedLookupsChangeList, ReadOnlyMixin, operator, show_time
from opsportal.kafka import KafkaClientError
from opsportal.text import breakable

from . import jobs, links, pg
from .actions import PERMISSIONS, RepublishAdminMixin, queue_job, selected_inputs
from .edits import diff_rows
from .models import AuditEntry, Replay, ReplayJob
from .outbox import REPUBLISHABLE
from .publish import RepublishRefused
from .reconcile import reconcile


class ReadOnlyAdmin(ForbiddenActionMixin, ReadOnlyMixin, admin.ModelAdmin):
    pass


JOB_REPLAYS_SHOWN = 20
JOBS_LISTED = 20  # on the reject confirmation; the rest are counted


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        max_length=2000,
        strip=True,
        help_text="Why it is not to be sent: kept on the job's page and in the audit.",
    )


def job_target(job: ReplayJob) -> str:
    return job.target_topic or "each record's original topic"


def job_progress(job: ReplayJob) -> dict[str, Any]:
    """What the job page shows and polls: counts, rate since it started, time left at that rate."""
    settled = job.done + job.failed + job.skipped
    running = job.state in (ReplayJob.State.QUEUED, ReplayJob.State.RUNNING)
    end = timezone.now() if running else (job.finished_at or job.progress_at or timezone.now())
    seconds = (end - job.started_at).total_seconds() if job.started_at else 0.0
    rate = settled / seconds if seconds > 0 and job.state != ReplayJob.State.REJECTED else None
    left = job.total - settled
    # A lost worker's chunk in flight is left publishing: it may have been written, and it is not
    # republishable until reconcile settles it (Run the rest leaves it out).
    publishing = (
        Replay.objects.filter(job=job, state=Replay.State.PUBLISHING).count()
        if job.state == ReplayJob.State.STOPPED
        else 0
    )
    # An operator's stop or rejection is a notice, not an error: it says what was left, or why.
    stopped_by = jobs.stopped_by(job)
    rejected = job.last_error if job.state == ReplayJob.State.REJECTED else ""
    return {
        "state": job.state,
        "state_label": job.get_state_display(),
        "running": running,
        "sent_anything": job.state not in (ReplayJob.State.REJECTED, ReplayJob.State.AWAITING_APPROVAL),
        "total": job.total,
        "settled": settled,
        "done": job.done,
        "failed": job.failed,
        "skipped": job.skipped,
        "percent": 100 * settled // job.total if job.total else 0,
        "rate": round(rate, 1) if rate is not None else None,
        "eta_seconds": round(left / rate) if running and rate and left > 0 else None,
        "last_error": "" if stopped_by or rejected else job.last_error,
        "stopped_by": stopped_by,
        "rejected_by": rejected.removeprefix(jobs.REJECTED_BY).partition(": ")[0],
        "reject_reason": rejected.partition(": ")[2],  # user names hold no colon
        "not_sent": max(left - publishing, 0) if job.state == ReplayJob.State.STOPPED else 0,
        "publishing": publishing,
        "progress_at": show_time(job.progress_at),
    }


def has_rest(job: ReplayJob, rest: ReplayJob | None) -> bool:
    """Stopped (or running with its worker lost) with records unsent or failed: Run the rest offered,
    unless its rest (`rest`, jobs.rest_job) is still to run (a second would be made of the same records)."""
    if not job.seems_abandoned() and not (job.state == ReplayJob.State.STOPPED and job.done + job.skipped < job.total):
        return False
    return rest is None or rest.state not in jobs.PENDING


class IdFilter(admin.SimpleListFilter):
    """A filter by one id typed in (a job, a record): too many to list, so a text box."""

    template = "admin/republish/id_filter.html"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, value)] if value else [("", "")]  # never empty: Django hides a filter without choices

    def choices(self, changelist: Any) -> Any:
        keep = {k: v for k, v in changelist.get_filters_params().items() if k != self.parameter_name}
        yield {
            "selected": bool(self.value()),
            "value": self.value() or "",
            "parameter": self.parameter_name,
            "hidden": [(k, item) for k, v in keep.items() for item in (v if isinstance(v, list) else [v])],
            "clear": changelist.get_query_string(remove=[self.parameter_name]),
        }

    def as_id(self) -> int | None:
        value = self.value() or ""
        return int(value) if value.isascii() and value.isdigit() and int(value) < 2**63 else None


class JobFilter(IdFilter):
    title = "job"
    parameter_name = "job"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() is None:
            return queryset
        return queryset.filter(job_id=self.as_id()) if self.as_id() else queryset.none()


class RecordFilter(IdFilter):
    title = "record id"
    parameter_name = "record"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() is None:
            return queryset
        record = self.as_id()
        if record is None:
            return queryset.none()
        # A job's stop and end name no records of their own: they match through the job, found by its
        # request entry, which names all of them (not the jobs' own lists: each is read whole, uncompressed).
        if connection.vendor == "postgresql":
            naming = AuditEntry.objects.filter(record_ids__contains=[record])
            return queryset.filter(Q(pk__in=naming.values("pk")) | Q(job__in=naming.values("job")))
        entries = RawSQL(
            "SELECT a.id FROM republish_auditentry a, json_each(a.record_ids) j WHERE j.value = %s", [record]
        )
        job_ids = RawSQL(
            "SELECT a.job_id FROM republish_auditentry a, json_each(a.record_ids) j"
            " WHERE j.value = %s AND a.job_id IS NOT NULL",
            [record],
        )
        return queryset.filter(Q(pk__in=entries) | Q(job__in=job_ids))


class JobRecordsFilter(IdFilter):
    """A job's records still to republish (not sent, or sent and failed): where a stopped job's
    page points, what "Run the rest" would send."""

    title = "republish job (still to republish)"
    parameter_name = "republish_job"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() is None:
            return queryset
        job = self.as_id() or 0
        return job_records(queryset, job).filter(review__status__in=REPUBLISHABLE)


def job_records(queryset: QuerySet[Any], job_id: int) -> QuerySet[Any]:
    """The job's records, however many: one array parameter on PostgreSQL (a placeholder per id
    stops at 65,535), SQLite reads the job's JSON list itself."""
    if connection.vendor == "postgresql":
        ids = ReplayJob.objects.filter(pk=job_id).values_list("record_ids", flat=True).first()
        return pg.by_ids(queryset, ids or [])
    members = RawSQL("SELECT j.value FROM republish_replayjob r, json_each(r.record_ids) j WHERE r.id = %s", [job_id])
    return queryset.filter(pk__in=members)


class AuditRecordsFilter(IdFilter):
    """Exactly the records of one audit entry (a job's stop or end: the job's), where the entry's
    page links to; shown only when chosen."""

    title = "audit entry's records"
    parameter_name = "audit_entry"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() is None:
            return queryset
        entry = AuditEntry.objects.filter(pk=self.as_id() or 0).select_related("job").first()
        if entry is None:
            return queryset.none()
        if entry.job is not None and len(entry.record_ids) < entry.job.total:  # as entry_record_ids
            return job_records(queryset, entry.job.pk)
        if connection.vendor == "postgresql":
            return pg.by_ids(queryset, entry.record_ids)  # one array parameter, however many
        members = RawSQL(
            "SELECT j.value FROM republish_auditentry a, json_each(a.record_ids) j WHERE a.id = %s", [entry.pk]
        )
        return queryset.filter(pk__in=members)


class RepublishingDeadLetterAdmin(RepublishAdminMixin, DeadLetterRecordAdmin):
    """deadletter's admin with the acts on dead letters (see republish.actions)."""

    list_filter = (*DeadLetterRecordAdmin.list_filter, JobRecordsFilter, AuditRecordsFilter)


admin.site.unregister(DeadLetterRecord)
admin.site.register(DeadLetterRecord, RepublishingDeadLetterAdmin)


@admin.register(ReplayJob)
class ReplayJobAdmin(ReadOnlyAdmin):
    # What an operator watches jobs by, narrow enough for 1280 px beside the filter (widths in
    # republish.css); the counts one by one, rate limit, start and progress times are on the job page.
    list_display = ("job_shown", "state", "progress", "target", "people", "created", "finished")
    list_display_links = ("job_shown",)
    list_filter = ("state",)
    list_select_related = ("requested_by", "approved_by")
    # The counts, state and last error are in the live box at the top of the job page, which
    # polling keeps current; a second copy of them below would go stale while it does.
    readonly_fields = (
        "target_topic",
        "rate_limit",
        "requested_by",
        "approved_by",
        "created_at",
        "started_at",
        "progress_at",  # polling updates it with the live box
        "finished_at",
        "edit_diff",
    )
    exclude = ("record_ids", "edit", "state", "total", "done", "failed", "skipped", "last_error")
    actions = ["approve_jobs", "reject_jobs", "run_the_rest"]
    change_form_template = "admin/republish/replayjob_change_form.html"

    class Media:
        css = {"all": ("republish/republish.css",)}

    @admin.display(description="Job", ordering="pk")
    def job_shown(self, job: ReplayJob) -> str:
        return str(job.pk)

    @admin.display(description="Progress")
    def progress(self, job: ReplayJob) -> str:
        if job.state == ReplayJob.State.REJECTED:
            return "rejected: nothing sent"
        if job.state == ReplayJob.State.AWAITING_APPROVAL:
            return f"awaiting approval: 0/{job.total}"
        settled = job.done + job.failed + job.skipped
        shown = f"{settled}/{job.total} ({100 * settled // job.total if job.total else 100}%)"
        if job.seems_abandoned():
            shown += f"; nothing settled since {job.last_moved_at:%Y-%m-%d %H:%M} UTC: worker lost? Run the rest"
        return format_html(
            '{}<span class="rp-detail">{} republished · {} failed · {} skipped</span>',
            shown,
            job.done,
            job.failed,
            job.skipped,
        )

    @admin.display(description="Target", ordering="target_topic")
    def target(self, job: ReplayJob) -> str:
        limit = f"at most {job.rate_limit}/s" if job.rate_limit else "no rate limit"
        return format_html('{}<span class="rp-detail">{}</span>', job_target(job), limit)

    @admin.display(description="Created", ordering="created_at")
    def created(self, job: ReplayJob) -> str:
        return show_time(job.created_at)

    @admin.display(description="Finished", ordering="finished_at")
    def finished(self, job: ReplayJob) -> str:
        return show_time(job.finished_at)

    @admin.display(description="By")
    def people(self, job: ReplayJob) -> str:
        if job.approved_by is None:
            return str(job.requested_by or "–")
        return format_html('{}<span class="rp-detail">approved by {}</span>', job.requested_by or "–", job.approved_by)

    @admin.display(description="Edit")
    def edit_diff(self, job: ReplayJob) -> str:
        if not job.edit:
            return "–"
        return format_html('<pre style="white-space: pre-wrap; overflow-wrap: anywhere">{}</pre>', job.edit["diff"])

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/progress/", view(self.progress_view), name="republish_replayjob_progress"),
            path("<int:pk>/stop/", view(self.stop_view), name="republish_replayjob_stop"),
            path("<int:pk>/rest/", view(self.rest_view), name="republish_replayjob_rest"),
            path("<int:pk>/approve/", view(self.approve_view), name="republish_replayjob_approve"),
            path("<int:pk>/reject/", view(self.reject_view), name="republish_replayjob_reject"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        job = ReplayJob.objects.filter(pk=int(object_id)).first() if object_id.isdigit() else None
        if job is not None and int(object_id) < 2**63:
            replays = Replay.objects.filter(job=job).order_by("id")[:JOB_REPLAYS_SHOWN]
            # Looked up once (a scan of the audit's outcomes): for the link and for whether to offer a rest.
            rest = jobs.rest_job(job) if job.state in (ReplayJob.State.STOPPED, ReplayJob.State.RUNNING) else None
            extra_context = {
                "replay_count": Replay.objects.filter(job=job).count(),
                "still_to_republish_url": links.job_records_url(job.pk),
                **(extra_context or {}),
                "live": job_progress(job),
                "can_stop": self.has_bulk_republish_permission(request),
                "offer_rest": self.has_bulk_republish_permission(request) and has_rest(job, rest),
                "rest_job": rest if job.state == ReplayJob.State.STOPPED else None,
                # Nobody approves their own request; anyone who may approve may reject (cancel) it.
                "can_approve": self.has_approve_permission(request) and job.requested_by_id != request.user.pk,
                "can_reject": self.has_approve_permission(request),
                "replays_url": links.job_replays_url(job.pk),
                "publishing_url": f"{links.job_replays_url(job.pk)}&state={Replay.State.PUBLISHING}",
                "audit_url": f"{reverse('admin:republish_auditentry_changelist')}?job={job.pk}",
                "job_replays": [(r, links.replay_url(r.pk), links.written_copy_url(r)) for r in replays],
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def progress_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        if not self.has_view_permission(request):
            return JsonResponse({"error": "forbidden"}, status=403)
        return JsonResponse(job_progress(get_object_or_404(ReplayJob, pk=pk)))

    def stop_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = get_object_or_404(ReplayJob, pk=pk)
        if request.method != "POST" or not self.has_bulk_republish_permission(request):
            return HttpResponse("Stopping a job needs the bulk-republish permission and a POST.", status=403)
        if jobs.request_stop(job, user=operator(request)):
            self.message_user(
                request,
                f"Job {job.pk} stops after the chunk in flight; what it did not get to stays republishable "
                "(Run the rest).",
            )
        else:
            self.message_user(
                request, f"Job {job.pk} is {job.get_state_display().lower()}: nothing to stop.", messages.ERROR
            )
        return HttpResponseRedirect(reverse("admin:republish_replayjob_change", args=[job.pk]))

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSIONS["bulk_republish"])

    @admin.action(description="Approve selected republish jobs (four-eyes)", permissions=["approve"])
    def approve_jobs(self, request: HttpRequest, queryset: QuerySet[ReplayJob]) -> None:
        approved, refusals = 0, []
        for job in queryset.filter(state=ReplayJob.State.AWAITING_APPROVAL):
            refusal = self._approve(request, job)
            if refusal:
                refusals.append(refusal)
            else:
                approved += 1
        if approved:
            self.message_user(
                request, ngettext("%d job approved and queued.", "%d jobs approved and queued.", approved) % approved
            )
        for refusal in dict.fromkeys(refusals):
            self.message_user(request, refusal, messages.ERROR)

    def _approve(self, request: HttpRequest, job: ReplayJob) -> str:
        """Approve and queue one job; why not, or "" when it was."""
        if job.edit and not request.user.has_perm(PERMISSIONS["edit_republish"]):
            return f"job {job.pk} sends an edited value: approving it needs the edited-republish permission"
        try:
            jobs.approve(job, user=operator(request))
        except RepublishRefused as exc:
            return str(exc)
        job.refresh_from_db()
        queue_job(job)
        return ""

    def approve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The job page's Approve: the list action's checks and function, for one job."""
        job = get_object_or_404(ReplayJob, pk=pk)
        if request.method != "POST" or not self.has_approve_permission(request):
            return HttpResponse("Approving a job needs the approve permission and a POST.", status=403)
        refusal = self._approve(request, job)
        if refusal:
            self.message_user(request, refusal, messages.ERROR)
        else:
            self.message_user(request, f"Job {job.pk} approved and queued.")
        return HttpResponseRedirect(reverse("admin:republish_replayjob_change", args=[job.pk]))

    def reject_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The job page's Reject: the list action's confirmation asking why, for one job; back to
        its page when done or cancelled."""
        job = get_object_or_404(ReplayJob, pk=pk)
        if request.method != "POST" or not self.has_approve_permission(request):
            return HttpResponse("Rejecting a job needs the approve permission and a POST.", status=403)
        page = reverse("admin:republish_replayjob_change", args=[job.pk])
        confirmation = self._ask_reject(request, ReplayJob.objects.filter(pk=job.pk), cancel_url=page)
        return confirmation or HttpResponseRedirect(page)

    def has_bulk_republish_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSIONS["bulk_republish"])

    @admin.action(
        description="Run the rest of selected stopped or abandoned jobs (rows still republishable)",
        permissions=["bulk_republish"],
    )
    def run_the_rest(self, request: HttpRequest, queryset: QuerySet[ReplayJob]) -> None:
        for job in queryset:
            self._run_rest(request, job)

    def rest_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The job page's Run the rest: the list action's checks and function, for one job."""
        job = get_object_or_404(ReplayJob, pk=pk)
        if request.method != "POST" or not self.has_bulk_republish_permission(request):
            return HttpResponse("Running the rest of a job needs the bulk-republish permission and a POST.", status=403)
        rest = self._run_rest(request, job)
        return HttpResponseRedirect(reverse("admin:republish_replayjob_change", args=[(rest or job).pk]))

    def _run_rest(self, request: HttpRequest, job: ReplayJob) -> ReplayJob | None:
        """A new job, queued, for what `job` did not get to; the outcome said as a message."""
        if job.edit and not request.user.has_perm(PERMISSIONS["edit_republish"]):
            self.message_user(
                request,
                f"job {job.pk} sends an edited value: that needs the edited-republish permission",
                messages.ERROR,
            )
            return None
        try:
            rest = jobs.rest_of(job, user=operator(request))
        except RepublishRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return None
        queue_job(rest)
        waiting = rest.state == rest.State.AWAITING_APPROVAL
        self.message_user(
            request,
            f"Job {rest.pk} created for the {rest.total} record(s) job {job.pk} did not get to."
            + (" It waits for a second operator's approval." if waiting else ""),
        )
        return rest

    @admin.action(description="Reject selected republish jobs (nothing is sent)…", permissions=["approve"])
    def reject_jobs(self, request: HttpRequest, queryset: QuerySet[ReplayJob]) -> TemplateResponse | None:
        """Four-eyes' no, as Django's delete_selected: a confirmation asking why, then the act."""
        return self._ask_reject(request, queryset, cancel_url=request.get_full_path())  # the list, with its filters

    def _ask_reject(
        self, request: HttpRequest, queryset: QuerySet[ReplayJob], cancel_url: str
    ) -> TemplateResponse | None:
        waiting = queryset.filter(state=ReplayJob.State.AWAITING_APPROVAL).order_by("pk")
        if not waiting.exists():
            self.message_user(request, "None of the selected jobs awaits approval: nothing to reject.", messages.ERROR)
            return None
        form = RejectForm(request.POST if request.POST.get("post") else None)
        if request.POST.get("post") and form.is_valid():
            self._reject(request, waiting, form.cleaned_data["reason"])
            return None
        return self._confirm_reject(request, queryset, waiting, form, cancel_url)

    def _reject(self, request: HttpRequest, waiting: QuerySet[ReplayJob], reason: str) -> None:
        rejected = 0
        for job in waiting:
            try:
                jobs.reject(job, user=operator(request), reason=reason)
            except RepublishRefused as exc:  # approved or rejected by someone else meanwhile
                self.message_user(request, str(exc), messages.ERROR)
                continue
            rejected += 1
        if rejected:
            self.message_user(request, ngettext("%d job rejected.", "%d jobs rejected.", rejected) % rejected)

    def _confirm_reject(
        self,
        request: HttpRequest,
        queryset: QuerySet[ReplayJob],
        waiting: QuerySet[ReplayJob],
        form: RejectForm,
        cancel_url: str,
    ) -> TemplateResponse:
        count, selected = waiting.count(), queryset.count()
        shown = [
            (
                reverse("admin:republish_replayjob_change", args=[job.pk]),
                f"{job} to {job_target(job)}, requested by {job.requested_by or '–'}",
            )
            for job in waiting.select_related("requested_by")[:JOBS_LISTED]
        ]
        confirm = {
            "intro": ngettext(
                "Reject this republish job? Nothing of it is sent; the requester sees your reason on its page.",
                "Reject these %(count)d republish jobs? Nothing of them is sent; the requesters see your reason "
                "on their pages.",
                count,
            )
            % {"count": count},
            "items": shown,
            "more": count - len(shown),
            "note": f"{selected - count} of the selected jobs are not awaiting approval and are left as they are."
            if selected > count
            else "",
            "action": "reject_jobs",
            "submit": ngettext("Yes, reject %d job", "Yes, reject %d jobs", count) % count,
        }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Reject republish jobs?",
            "form": form,
            "confirm": confirm,
            # The jobs shown, by id (never "all across the list"): one requested meanwhile is not
            # rejected unseen.
            "selected_inputs": selected_inputs([str(pk) for pk in waiting.values_list("pk", flat=True)]),
            "select_across": "0",
            "cancel_url": cancel_url,
        }
        return TemplateResponse(request, "admin/republish/base_confirm.html", context)


@admin.register(Replay)
class ReplayAdmin(ReadOnlyAdmin):
    # Narrow enough for 1280 px beside the filters (widths in republish.css): the id shortened
    # to its end (see replay_shown), the written copy as one link, a failure's error under its state. The full
    # id, start offset, requester and settle time are on the replay's page.
    list_display = ("replay_shown", "state_shown", "written_to", "dead_letter_id", "job_id_shown", "created")
    list_display_links = ("replay_shown",)
    list_filter = ("state", "edited", "target_topic", JobFilter)
    search_fields = ("=replay_id",)
    search_help_text = "An exact replay id (the x-replay-id header of the written copy)."

    class Media:
        css = {"all": ("republish/republish.css",)}

    @admin.display(description="Replay", ordering="replay_id")
    def replay_shown(self, replay: Replay) -> str:
        """The last 12 hex digits: replay ids are time-ordered, so a job's all share their start."""
        return format_html('<code title="{}">…{}</code>', replay.replay_id, str(replay.replay_id)[-12:])

    @admin.display(description="State", ordering="state")
    def state_shown(self, replay: Replay) -> str:
        edited = " (edited)" if replay.edited else ""
        if not replay.error:
            return f"{replay.get_state_display()}{edited}"
        return format_html(
            '{}{}<span class="rp-detail rp-error" title="{}">{}</span>',
            replay.get_state_display(),
            edited,
            replay.error,
            replay.error,
        )

    @admin.display(description="Written to", ordering="target_topic")
    def written_to(self, replay: Replay) -> str:
        url = links.written_copy_url(replay)
        if not url:
            return f"{replay.target_topic}[{replay.target_partition}]"
        where = f"{replay.target_topic}[{replay.target_partition}]@{replay.offset}"
        return format_html('<a href="{}">{}</a>', url, breakable(where))

    @admin.display(description="Created", ordering="created_at")
    def created(self, replay: Replay) -> str:
        return show_time(replay.created_at)

    @admin.display(description="Dead letter", ordering="record")
    def dead_letter_id(self, replay: Replay) -> str:
        return format_html('<a href="{}">{}</a>', links.record_url(replay.record_id), replay.record_id)

    @admin.display(description="Job", ordering="job")
    def job_id_shown(self, replay: Replay) -> str:
        return links.job_link(replay.job_id)

    # The record field would link the same dead letter as dead_letter does: shown once, as that.
    exclude = ("record",)
    readonly_fields = [
        *(field.name for field in Replay._meta.fields if field.name not in ("value", "record")),
        "written_copy",
        "dead_letter",
        "came_back_as",
    ]

    @admin.display(description="Written copy")
    def written_copy(self, replay: Replay) -> str:
        url = links.written_copy_url(replay)
        if not url:
            return "– (not written, or not known yet)"
        return format_html(
            '<a href="{}" id="written-copy">{}[{}]@{}</a>',
            url,
            replay.target_topic,
            replay.target_partition,
            replay.offset,
        )

    @admin.display(description="Dead letter")
    def dead_letter(self, replay: Replay) -> str:
        return format_html(
            '<a href="{}" id="replay-record">{}</a>', links.record_url(replay.record_id), replay.record_id
        )

    @admin.display(description="Came back as")
    def came_back_as(self, replay: Replay) -> str:
        returned = DeadLetterRecord.objects.filter(returned_replay_id=replay.replay_id).order_by("pk").first()
        if returned is None:
            return "– (not dead-lettered again)"
        return format_html('<a href="{}" id="returned-record">{}</a>', links.record_url(returned.pk), returned)

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
    # Narrow enough for 1280 px beside the filters (widths in auditentry/change_list.html): who under
    # the action, names wrapped between their parts, the outcome cut to three lines (the whole on the
    # entry's page, and on hover).
    list_display = ("at_shown", "action_shown", "job_link", "record_count", "target_shown", "outcome_shown")
    list_display_links = ("at_shown",)
    list_filter = ("action", "user", JobFilter, RecordFilter, "at")
    list_select_related = ("user", "job")
    date_hierarchy = "at"
    # Ids as a count, the first few linked and the rest one link away: a job's 20,000 are no wall of numbers.
    fields = ("at", "user", "action", "job", "records", "target_shown", "replays", "outcome", "details_shown")
    readonly_fields = fields

    class Media:
        css = {"all": ("republish/republish.css",)}

    @admin.display(description="At", ordering="at")
    def at_shown(self, entry: AuditEntry) -> str:
        return show_time(entry.at)

    @admin.display(description="Action", ordering="action")
    def action_shown(self, entry: AuditEntry) -> str:
        if entry.user is None:
            return entry.get_action_display()
        return format_html(
            '{}<span class="rp-detail">by <span class="rp-who">{}</span></span>', entry.get_action_display(), entry.user
        )

    @admin.display(description="Job", ordering="job")
    def job_link(self, entry: AuditEntry) -> str:
        return links.job_link(entry.job_id)

    @admin.display(description="Records")
    def record_count(self, entry: AuditEntry) -> int | str:
        """The entry's own records; a job's end or stop names none of its own: the job's count."""
        if entry.record_ids:
            return len(entry.record_ids)
        return entry.job.total if entry.job is not None else "–"

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return AuditChangeList

    @admin.display(description="Target topic", ordering="target_topic")
    def target_shown(self, entry: AuditEntry) -> str:
        """The topic chosen, else where its replays went (a record republished to its original
        topic records no target of its own), else a job's records' own original topics."""
        if entry.target_topic:
            return breakable(entry.target_topic)
        topics = getattr(entry, "sent_to", None)
        if topics is None:  # not from the list page, which looks up a whole page at once
            topics = sent_to([entry]).get(entry.pk, [])
        if topics:
            more = f" and {len(topics) - 3} more" if len(topics) > 3 else ""
            return format_html("{}{}", comma_joined(*[breakable(topic) for topic in topics[:3]]), more)
        if entry.job_id is not None:
            return "each record's original topic"
        return "–"

    @admin.display(description="Outcome")
    def outcome_shown(self, entry: AuditEntry) -> str:
        return format_html('<span class="rp-clamp" title="{}">{}</span>', entry.outcome, breakable(entry.outcome))

    @admin.display(description="Records")
    def records(self, entry: AuditEntry) -> str:
        """How many, the first IDS_SHOWN linked to their pages, and all of them in the dead-letter list."""
        ids, of_job = entry_record_ids(entry)
        if not ids:
            return "–"
        first = comma_joined(*[format_html('<a href="{}">{}</a>', links.record_url(pk), pk) for pk in ids[:IDS_SHOWN]])
        listed = (
            f"{reverse('admin:deadletter_deadletterrecord_changelist')}?{AuditRecordsFilter.parameter_name}={entry.pk}"
        )
        return format_html(
            '<p id="entry-record-count">{}{}</p><p id="entry-record-ids">{}{}</p>'
            '<p><a href="{}" id="entry-records-link">{}</a></p>',
            ngettext("%d record", "%d records", len(ids)) % len(ids),
            f" of job {entry.job_id}" if of_job else "",
            first,
            f", … and {len(ids) - IDS_SHOWN} more" if len(ids) > IDS_SHOWN else "",
            listed,
            "This record in the dead-letter list" if len(ids) == 1 else f"All {len(ids)} in the dead-letter list",
        )

    @admin.display(description="Replays")
    def replays(self, entry: AuditEntry) -> str:
        """The replay ids, the first IDS_SHOWN linked to their replays' pages."""
        ids = [str(replay_id) for replay_id in entry.replay_ids]
        if not ids:
            return "–"
        found = Replay.objects.filter(replay_id__in=ids[:IDS_SHOWN]).values_list("replay_id", "pk")
        page_of = {str(replay_id): links.replay_url(pk) for replay_id, pk in found}
        shown = [
            format_html('<a href="{}"><code>{}</code></a>', page_of[r], r)
            if r in page_of
            else format_html("<code>{}</code>", r)
            for r in ids[:IDS_SHOWN]
        ]
        more = f", … and {len(ids) - IDS_SHOWN} more" if len(ids) > IDS_SHOWN else ""
        return format_html("{}: {}{}", len(ids), comma_joined(*shown), more)

    @admin.display(description="Details")
    def details_shown(self, entry: AuditEntry) -> str:
        """An edit's diff in red and green lines as the edit page shows it, the rest as key: value lines."""
        details = dict(entry.details or {})
        diff = details.pop("diff", None)
        lines = [
            format_html('<span class="detail-line">{}: {}</span>', key, detail_value(value))
            for key, value in details.items()
        ]
        if isinstance(diff, str):
            shown = [format_html('<span class="{}">{}</span>', kind, line) for kind, line in diff_rows(diff)]
            changed = (
                format_html_join("", "{}", ((line,) for line in shown))
                or "(no change: the copy was sent with the stored value)"
            )
            lines.insert(0, format_html('<div id="entry-diff">{}</div>', changed))
        return format_html_join("", "{}", ((line,) for line in lines)) or "–"

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **self._titled(request, object_id)}
        )

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        titled = self._titled(request, object_id)
        if titled:
            titled["title"] = f"Change history: {titled['entry_title']}"
        return super().history_view(request, object_id, {**(extra_context or {}), **titled})

    def _titled(self, request: HttpRequest, object_id: str) -> dict[str, str]:
        """The entry's name with its time's zone, for the heading, the title and the breadcrumbs
        (the model's own name shows the time without one)."""
        entry = self.get_object(request, object_id)
        if entry is None:
            return {}
        who = f" by {entry.user}" if entry.user is not None else ""
        title = f"{entry.get_action_display()}{who} at {show_time(entry.at)}"
        return {"subtitle": title, "entry_title": title}


IDS_SHOWN = 20  # of an audit entry's record or replay ids, on its page


def comma_joined(*parts: str) -> str:
    """HTML parts (escaped already) joined by commas."""
    return format_html(", ".join(["{}"] * len(parts)), *parts)


def detail_value(value: Any) -> str:
    """An audit detail as read: a list as its items joined, nothing as a dash."""
    if isinstance(value, list):
        return "; ".join(str(item) for item in value) or "none"
    return "–" if value is None or value == "" else str(value)


def entry_record_ids(entry: AuditEntry) -> tuple[list[int], bool]:
    """The records an entry is about, and whether they are its job's: a job's stop or end names
    none of its own."""
    if entry.job is not None and len(entry.record_ids) < entry.job.total:
        # A stop or end names none; an approval or rejection the first 1,000: the job names them all.
        return list(entry.job.record_ids), True
    return list(entry.record_ids), False


REPLAYS_LOOKED_UP = 1000  # of one entry's replays, for the topics they went to


def sent_to(entries: list[AuditEntry]) -> dict[int, list[str]]:
    """Each entry's replays' target topics (of its first REPLAYS_LOOKED_UP), for a page of entries
    in one query per 10,000 replay ids instead of one per entry."""
    wanted = {entry.pk: entry.replay_ids[:REPLAYS_LOOKED_UP] for entry in entries if not entry.target_topic}
    ids = sorted({replay_id for replay_ids in wanted.values() for replay_id in replay_ids})
    topic_of: dict[str, str] = {}
    for start in range(0, len(ids), 10_000):
        found = Replay.objects.filter(replay_id__in=ids[start : start + 10_000]).values_list(
            "replay_id", "target_topic"
        )
        topic_of.update((str(replay_id), topic) for replay_id, topic in found)
    return {
        pk: sorted({topic_of[str(r)] for r in replay_ids if str(r) in topic_of}) for pk, replay_ids in wanted.items()
    }


class AuditChangeList(OfferedLookupsChangeList):
    """The list's offered lookups only, and each page's replay targets looked up at once."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        topics = sent_to(list(self.result_list))
        for entry in self.result_list:
            entry.sent_to = topics.get(entry.pk, [])
