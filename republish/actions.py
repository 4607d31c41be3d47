"""Republish, edited republish, discard and reconcile, as the dead-letter admin offers them.

republish.admin registers deadletter's DeadLetterRecordAdmin with RepublishAdminMixin
mixed in. Every act follows
django.contrib.admin's delete_selected: a confirmation page first, the act
only on a POST carrying `post`, a 403 without the permission, and an audit
entry (republish.AuditEntry) beside Django's LogEntry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import CHANGE, LogEntry
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import ngettext

from deadletter.models import DeadLetterRecord
from opsportal.admin_mixins import ForbiddenActionMixin, operator
from opsportal.kafka import KafkaClientError
from topics import display

from . import discard as discarding
from . import edits, jobs, links, safety
from .forms import BulkRepublishForm, DiscardForm, EditForm, TargetForm
from .headers import business_headers
from .models import Replay, ReplayJob
from .outbox import REPUBLISHABLE
from .publish import Edit, Outcome, RepublishRefused, republish
from .reconcile import reconcile

TOPICS_SHOWN = 10  # target topics listed on a bulk confirmation page; the rest are counted

PERMISSIONS = {
    "republish": "republish.republish_record",
    "edit_republish": "republish.edit_republish_record",
    "bulk_republish": "republish.bulk_republish",
    "discard": "republish.discard_record",
}


def _row_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and int(value) < 2**63


def require(request: HttpRequest, action: str) -> None:
    if not request.user.has_perm(PERMISSIONS[action]):
        raise PermissionDenied


def targets_of(records: Iterable[DeadLetterRecord], target_topic: str) -> Counter[str]:
    return Counter(target_topic or record.original_topic or "(no original topic)" for record in records)


def queue_job(job: ReplayJob) -> None:
    from .tasks import run_replay_job

    if job.state == job.State.QUEUED:
        transaction.on_commit(lambda: run_replay_job.delay(job.pk))


SELECTION_SALT = "republish.bulk.selection"
SELECTION_MAX_AGE = 15 * 60


def selection_of(queryset: QuerySet[DeadLetterRecord]) -> list[int]:
    """What the confirmation page showed: how many rows, up to which id (new rows have higher ids)."""
    summary = queryset.order_by().aggregate(count=Count("pk"), last=Max("pk"))
    return [summary["count"], summary["last"]]


def selection_unchanged(request: HttpRequest, queryset: QuerySet[DeadLetterRecord]) -> bool:
    try:
        shown = signing.loads(request.POST.get("selection", ""), salt=SELECTION_SALT, max_age=SELECTION_MAX_AGE)
    except signing.BadSignature:
        return False
    return shown == selection_of(queryset)


DISCARD_SELECTION_SALT = "republish.discard.selection"


def discard_selection_of(queryset: QuerySet[DeadLetterRecord]) -> list[int]:
    """The rows the discard confirmation showed, as how many, the lowest and highest id and their sum:
    one pass in SQL, not every id into Python (a whole filter may hold a million). A selection across
    the list is its filters, read again on submit, and must still be the same rows: a row drained
    meanwhile raises the count, one that left the filter lowers it."""
    found = queryset.order_by().aggregate(n=Count("pk"), lo=Min("pk"), hi=Max("pk"), total=Sum("pk"))
    return [found["n"], found["lo"] or 0, found["hi"] or 0, int(found["total"] or 0)]  # PostgreSQL sums to numeric


def ids_digest(ids: list[int]) -> list[int]:
    """discard_selection_of, of ids already read."""
    return [len(ids), min(ids, default=0), max(ids, default=0), sum(ids)]


def discard_selection_unchanged(request: HttpRequest, ids: list[int]) -> bool:
    """Ids ticked one by one are exactly those posted; a selection across the list (or any post
    that carries the page's digest) is checked against what the page showed."""
    shown = request.POST.get("selection")
    if shown is None:
        return request.POST.get("select_across", "0") == "0"
    try:
        signed = signing.loads(shown, salt=DISCARD_SELECTION_SALT, max_age=SELECTION_MAX_AGE)
    except signing.BadSignature:
        return False
    return bool(signed == ids_digest(ids))


def selected_inputs(selected: list[str]) -> str:
    """The selection carried to the confirm button: one hidden input per id (ints only, checked by
    ForbiddenActionMixin), built at once rather than by the template engine, row by row."""
    return mark_safe(  # noqa: S308 - only decimal digits are interpolated
        "".join(f'<input type="hidden" name="_selected_action" value="{int(pk)}">' for pk in selected if pk.isdigit())
    )


def default_left_out(report: safety.SelectionCheck, target: str) -> set[str]:
    """The kinds ticked when the page opens: not a missing original topic when a target topic is
    chosen, since those records are then sent there instead of refused."""
    defaults = {finding.kind for finding in report.findings if finding.may_leave_out and finding.left_out_by_default}
    return defaults - {"no_topic"} if target else defaults


def _leaving_out(
    report: safety.SelectionCheck, total: int, skipped: QuerySet[DeadLetterRecord], target: str
) -> dict[str, Any]:
    """What the confirmation page needs to offer leaving flagged records out and to count what
    the job then holds: the ticked kinds' records among those that would be sent."""
    offered = [finding for finding in report.findings if finding.may_leave_out]
    not_republishable = skipped.count()
    # Every figure above the safety section counts only the records that can be sent (skipped ones
    # excluded) and each record once, so they add up to the button whatever findings overlap.
    skipped_ids = set(skipped.values_list("pk", flat=True)) if report.findings and not_republishable else set()
    overlaps = report.overlaps(skipped_ids)
    per_kind: Counter[str] = Counter()
    for kinds, count in overlaps:
        per_kind.update(dict.fromkeys(kinds, count))
    need_look = sorted(report.overlaps(skipped_ids, safety.FLAGGED), key=lambda combination: -combination[1])
    defaults = default_left_out(report, target)
    left_out = sum(count for kinds, count in overlaps if defaults & set(kinds))
    return {
        "not_republishable": not_republishable,
        "sendable": total - not_republishable,
        "offered": offered,
        "choices": [(finding, per_kind[finding.kind]) for finding in offered],
        "need_look": sum(count for _, count in need_look),
        "need_look_by": [(" + ".join(safety.KINDS[kind][1].lower() for kind in kinds), n) for kinds, n in need_look],
        "default_left_out": defaults,
        "decided_in_sql": safety.DECIDED_IN_SQL,
        "overlaps": overlaps,
        "left_out": left_out,
        "to_send": total - not_republishable - left_out,
    }


def left_out_by_kind(
    queryset: QuerySet[DeadLetterRecord], ids: list[int], kinds: list[str]
) -> tuple[dict[str, set[int]], int | None]:
    """The ids (of `ids`) each ticked kind leaves out, over the whole selection for the kinds the
    database decides; raises safety.Undecided. The second value is how many rows the kinds decided
    in Python were checked among, when that was fewer than all."""
    by_kind = {
        kind: set(queryset.filter(safety.left_out_where(queryset, kind)).values_list("pk", flat=True))
        for kind in kinds
        if kind in safety.DECIDED_IN_SQL
    }
    rest = [kind for kind in kinds if kind not in safety.DECIDED_IN_SQL]
    checked_among = None
    if rest:
        # The same database checks the page ran (Kafka's time-budgeted read is not one of them).
        report = safety.check_selection(queryset, len(ids), kafka_budget=0)
        by_kind.update({kind: report.left_out([kind]) for kind in rest})
        checked_among = report.checked if report.checked < report.total else None
    wanted = set(ids)
    return {kind: found & wanted for kind, found in by_kind.items() if found & wanted}, checked_among


def _left_out_note(by_kind: dict[str, set[int]], checked_among: int | None = None) -> str:
    """Names only the kinds that left records out."""
    left_out = set().union(*by_kind.values()) if by_kind else set()
    if not left_out:
        return ""
    titles = ", ".join(safety.KINDS[kind][1].lower() for kind in by_kind)
    among = (
        f" (partition mismatches among the first {checked_among} checked)"
        if checked_among and "partition_mismatch" in by_kind
        else ""
    )
    return f"left out {len(left_out)} flagged record(s): {titles}{among}"


class RepublishAdminMixin(ForbiddenActionMixin):
    """Adds the acts on dead letters to DeadLetterRecordAdmin."""

    actions = ["republish_selected", "discard_selected"]
    change_form_template = "admin/republish/record_change_form.html"

    def has_bulk_republish_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSIONS["bulk_republish"])

    def has_discard_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSIONS["discard"])

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/republish/", view(self.republish_view), name=f"{name}_republish"),
            path("<int:pk>/republish-edited/", view(self.edited_republish_view), name=f"{name}_republish_edited"),
            path("<int:pk>/discard/", view(self.discard_view), name=f"{name}_discard"),
            path("<int:pk>/reconcile/", view(self.reconcile_view), name=f"{name}_reconcile"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        user = request.user
        record = DeadLetterRecord.objects.filter(pk=int(object_id)).first() if _row_id(object_id) else None
        status = record.status if record else None
        # Django converts the URL's text id as it filters; django-stubs accepts only an int here.
        replays = Replay.objects.filter(record_id=object_id).select_related("requested_by")[:20]  # type: ignore[misc]
        returned = (
            Replay.objects.filter(replay_id=record.returned_replay_id).first()
            if record and record.returned_replay_id
            else None
        )
        extra_context = {
            **(extra_context or {}),
            "can_republish": user.has_perm(PERMISSIONS["republish"]),
            "can_edit_republish": user.has_perm(PERMISSIONS["edit_republish"]),
            "can_discard": user.has_perm(PERMISSIONS["discard"]),
            # What the record's state allows, decided here: the template only shows or hides.
            "offer_republish": status in REPUBLISHABLE,
            "offer_discard": status in discarding.DISCARDABLE and user.has_perm(PERMISSIONS["discard"]),
            "replays": [(r, links.replay_url(r.pk), links.written_copy_url(r)) for r in replays],
            "returned_replay": (returned, links.replay_url(returned.pk)) if returned else None,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- shared pieces ---------------------------------------------------------------

    def _page(
        self, request: HttpRequest, template: str, record: DeadLetterRecord | None = None, **context: Any
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "record": record,
            "title": context.pop("title", "Are you sure?"),
            **context,
        }
        return TemplateResponse(request, f"admin/republish/{template}", context)

    def _back(self, record: DeadLetterRecord) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[record.pk])
        )

    def _report(self, request: HttpRequest, outcome: Outcome, records: QuerySet[DeadLetterRecord]) -> None:
        level = messages.SUCCESS if not (outcome.failed or outcome.uncertain) else messages.ERROR
        self.message_user(request, outcome.summary(), level)
        LogEntry.objects.log_actions(
            operator(request).pk, records, CHANGE, change_message=f"Republish: {outcome.summary()}"
        )

    # --- one record --------------------------------------------------------------------

    def republish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        require(request, "republish")
        record = get_object_or_404(DeadLetterRecord, pk=pk)
        form = TargetForm(request.POST or None, original_topic=record.original_topic)
        if request.method == "POST" and request.POST.get("post") and form.is_valid():
            return self._republish_one(request, record, form.cleaned_data["target_topic"], edit=None)
        value = display.show(None if record.value is None else bytes(record.value))
        return self._confirm_one(
            request,
            record,
            form,
            "confirm_republish.html",
            "Republish this dead letter?",
            schema_value=value if value.note else None,  # a wire-format value: decoded JSON, or why not
        )

    def _confirm_one(
        self,
        request: HttpRequest,
        record: DeadLetterRecord,
        form: TargetForm,
        template: str,
        title: str,
        **context: Any,
    ) -> TemplateResponse:
        target = form.cleaned_data.get("target_topic", "") if form.is_bound and form.is_valid() else ""
        checks = safety.check([record]).by_record[record.pk]
        return self._page(
            request,
            template,
            record,
            title=title,
            form=form,
            safety=checks,
            target=target or record.original_topic,
            republishable=record.status in REPUBLISHABLE,
            **context,
        )

    def _republish_one(
        self, request: HttpRequest, record: DeadLetterRecord, target_topic: str, edit: Edit | None
    ) -> HttpResponse:
        target = target_topic or record.original_topic
        if jobs.needs_approval({target}):
            job = jobs.create_job(
                [record.pk], user=operator(request), target_topic=target_topic, edit=edit, awaiting_approval=True
            )
            self.message_user(
                request,
                f"Republish to {target} waits for a second operator's approval (job {job.pk}).",
                messages.WARNING,
            )
            return self._back(record)
        try:
            outcome = republish([record], user=operator(request), target_topic=target_topic or None, edit=edit)
        except (RepublishRefused, KafkaClientError) as exc:
            self.message_user(request, f"Nothing was republished: {exc}", messages.ERROR)
            return self._back(record)
        except DatabaseError as exc:
            self.message_user(
                request,
                f"It may have been sent, but the result could not be recorded ({exc}); reconcile it later.",
                messages.ERROR,
            )
            return self._back(record)
        self._report(request, outcome, DeadLetterRecord.objects.filter(pk=record.pk))
        return self._back(record)

    def edited_republish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        require(request, "edit_republish")
        record = get_object_or_404(DeadLetterRecord, pk=pk)
        original_value = None if record.value is None else bytes(record.value)
        try:
            decoded = edits.wire_value(original_value)  # a schema-encoded value is edited as its JSON
            initial = {
                "value": edits.editor_text(original_value, decoded),
                "headers": edits.headers_as_text(business_headers(record.raw_headers())),
            }
        except edits.EditRejected as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return self._back(record)
        form = EditForm(request.POST or None, initial=initial, original_topic=record.original_topic)
        edit = None
        encoded = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if decoded is not None:
                    edit, encoded = edits.check_schema_edit(
                        decoded,
                        record.raw_headers(),
                        data["value"],
                        data["headers"],
                        data["target_topic"] or record.original_topic,
                    )
                else:
                    edit = edits.check_edit(original_value, record.raw_headers(), data["value"], data["headers"])
            except edits.EditRejected as exc:
                form.add_error(exc.field, str(exc))
        if edit is not None and request.POST.get("post"):
            return self._republish_one(request, record, form.cleaned_data["target_topic"], edit)
        return self._confirm_one(
            request,
            record,
            form,
            "edit_republish.html",
            "Republish an edited copy",
            edit=edit,
            diff_rows=edits.diff_rows(edit.diff) if edit else [],
            stored_problem=edits.stored_value_problem(original_value) if not form.is_bound else "",
            schema_note=display.schema_note(decoded) if decoded is not None else "",
            encoded=encoded,
        )

    def discard_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        require(request, "discard")
        record = get_object_or_404(DeadLetterRecord, pk=pk)
        if record.status not in discarding.DISCARDABLE:
            self.message_user(
                request, f"Not discarded: the record is {record.get_status_display().lower()}.", messages.ERROR
            )
            return self._back(record)
        form = DiscardForm(request.POST or None)
        if request.method == "POST" and request.POST.get("post") and form.is_valid():
            count = discarding.discard([record.pk], user=operator(request), reason=form.cleaned_data["reason"])
            self.message_user(
                request,
                "Discarded; nothing was deleted from Kafka."
                if count
                else f"Not discarded: the record is {record.get_status_display().lower()}.",
                messages.SUCCESS if count else messages.ERROR,
            )
            if count:
                self.log_change(request, record, f"Discarded: {form.cleaned_data['reason']}")
            return self._back(record)
        return self._page(request, "confirm_discard.html", record, title="Discard this dead letter?", form=form)

    def reconcile_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        require(request, "republish")
        record = get_object_or_404(DeadLetterRecord, pk=pk)
        replay = Replay.objects.filter(record=record, state=Replay.State.PUBLISHING).first()
        if replay is None:
            self.message_user(request, "No republish of this record is waiting to be reconciled.", messages.ERROR)
            return self._back(record)
        if request.method == "POST" and request.POST.get("post"):
            try:
                self.message_user(request, reconcile(replay, user=operator(request)), messages.SUCCESS)
                self.log_change(request, record, f"Reconciled replay {replay.replay_id}")
            except (RepublishRefused, KafkaClientError) as exc:
                self.message_user(request, f"Not settled: {exc}", messages.ERROR)
            return self._back(record)
        return self._page(request, "confirm_reconcile.html", record, title="Reconcile this republish?", replay=replay)

    # --- bulk actions ---------------------------------------------------------------------

    @admin.action(description="Republish selected dead letters…", permissions=["bulk_republish"])
    def republish_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetterRecord]) -> HttpResponse | None:
        form = BulkRepublishForm(request.POST if request.POST.get("post") else None)
        if request.POST.get("post") and form.is_valid():
            if not selection_unchanged(request, queryset):
                self.message_user(
                    request,
                    "The selection changed since the confirmation page (new dead letters were drained or rows "
                    "were acted on); nothing was republished. Review it again.",
                    messages.ERROR,
                )
                return None
            return self._start_bulk(request, queryset, form.cleaned_data)
        target = request.POST.get("target_topic", "")
        total = queryset.count()
        report = safety.check_selection(queryset, total)
        skipped = queryset.exclude(review__status__in=REPUBLISHABLE)
        leaving_out = _leaving_out(report, total, skipped, target)
        # Selected and republishable (by status) per target topic: the table's totals are the
        # summary's first two figures, before any record is left out.
        per_topic = (
            {target: (total, leaving_out["sendable"])}
            if target
            else {
                topic: (n, sendable)
                for topic, n, sendable in queryset.order_by()
                .values_list("original_topic")
                .annotate(n=Count("id"), sendable=Count("id", filter=Q(review__status__in=REPUBLISHABLE)))
            }
        )
        topics = sorted(per_topic.items(), key=lambda item: -item[1][0])
        return self._page(
            request,
            "confirm_bulk.html",
            title="Republish these dead letters?",
            form=form,
            total=total,
            per_topic=topics[:TOPICS_SHOWN],
            more_topics=len(topics) - TOPICS_SHOWN,
            report=report,
            **leaving_out,
            selected_inputs=selected_inputs(request.POST.getlist(ACTION_CHECKBOX_NAME)),
            select_across=request.POST.get("select_across", "0"),
            four_eyes=jobs.needs_approval(set(per_topic)),
            selection=signing.dumps(selection_of(queryset), salt=SELECTION_SALT),
            # The action was posted to the list with its filters in the query string: back to them.
            cancel_url=request.get_full_path(),
        )

    def _start_bulk(
        self, request: HttpRequest, queryset: QuerySet[DeadLetterRecord], data: dict[str, Any]
    ) -> HttpResponseRedirect | None:
        """Create and queue the job, then take the operator to its page, where it runs live."""
        # Each account's events go out in their original order.
        ordered = queryset.filter(review__status__in=REPUBLISHABLE).order_by(
            "original_topic", "original_partition", "original_offset", "pk"
        )
        ids = list(ordered.values_list("pk", flat=True))
        by_kind: dict[str, set[int]] = {}
        checked_among = None
        if data["leave_out"] and ids:
            try:
                by_kind, checked_among = left_out_by_kind(queryset, ids, data["leave_out"])
            except safety.Undecided as exc:
                self.message_user(
                    request, f"Nothing was republished: the records to leave out are not known: {exc}. "
                    "Try again, or untick that box.", messages.ERROR
                )  # fmt: skip
                return None
        left_out = set().union(*by_kind.values()) if by_kind else set()
        ids = [pk for pk in ids if pk not in left_out]
        if not ids:
            self.message_user(
                request,
                "Nothing to republish: "
                + ("every selected record left out is flagged." if left_out else "none can be republished."),
                messages.ERROR,
            )
            return None
        target = data["target_topic"]
        topics = {target} if target else set(queryset.values_list("original_topic", flat=True).distinct())
        job = jobs.create_job(
            ids,
            user=operator(request),
            target_topic=target,
            rate_limit=data["rate_limit"],
            awaiting_approval=jobs.needs_approval(topics),
            note=_left_out_note(by_kind, checked_among),
        )
        queue_job(job)
        url = reverse("admin:republish_replayjob_change", args=[job.pk])
        waiting = " It waits for a second operator's approval." if job.state == job.State.AWAITING_APPROVAL else ""
        self.message_user(
            request,
            format_html(
                'Republish job <a href="{}">{}</a> created for {} record(s).{}{}',
                url,
                job.pk,
                len(ids),
                f" {_left_out_note(by_kind, checked_among).capitalize()}." if left_out else "",
                waiting,
            ),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(url)

    @admin.action(description="Discard selected dead letters…", permissions=["discard"])
    def discard_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetterRecord]) -> TemplateResponse | None:
        form = DiscardForm(request.POST if request.POST.get("post") else None)
        if request.POST.get("post") and form.is_valid():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True))
            if not discard_selection_unchanged(request, ids):
                self.message_user(
                    request,
                    "The selection changed since the confirmation page (new dead letters were drained or rows "
                    "no longer match the list's filters); nothing was discarded. Review it again.",
                    messages.ERROR,
                )
                return None
            count = discarding.discard(ids, user=operator(request), reason=form.cleaned_data["reason"])
            self.message_user(
                request,
                ngettext("%d dead letter discarded.", "%d dead letters discarded.", count) % count
                + (f" {len(ids) - count} skipped (already acted on)." if count < len(ids) else ""),
                messages.SUCCESS if count == len(ids) else messages.WARNING,
            )
            return None
        return self._page(
            request,
            "confirm_discard.html",
            title="Discard these dead letters?",
            form=form,
            summary=discarding.summarise(queryset),
            selected_inputs=selected_inputs(request.POST.getlist(ACTION_CHECKBOX_NAME)),
            select_across=request.POST.get("select_across", "0"),
            selection=signing.dumps(discard_selection_of(queryset), salt=DISCARD_SELECTION_SALT),
            action="discard_selected",
            # The action was posted to the list with its filters in the query string: back to them.
            cancel_url=request.get_full_path(),
        )
