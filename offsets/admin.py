"""The offset reset admin: the audit list, a "New reset" form with a preview first, and approvals.

Modelled on django.contrib.admin's delete_selected: an intermediate page shows
what will happen and the change is made only on an explicit confirming POST.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from opsportal.admin_mixins import OfferedLookupsMixin, operator
from opsportal.kafka import KafkaClientError

from . import reset, service
from .forms import ResetForm
from .models import OffsetReset

PLAN_MAX_AGE = 15 * 60  # seconds a preview may be confirmed after it was shown
PARTITION_HEAD = mark_safe(  # noqa: S308 - a constant
    "<tr><th>Topic</th><th>Partition</th><th>Before</th><th>Planned</th><th>After</th><th>Error / warning</th></tr>"
)
RESULT_LEVEL = {"applied": messages.SUCCESS, "pending_approval": messages.INFO}


def _plan_salt(request: HttpRequest) -> str:
    # Bound to the user: a preview token cannot be replayed by someone else.
    return f"offsets.reset.plan:{request.user.pk}"


@admin.register(OffsetReset)
class OffsetResetAdmin(OfferedLookupsMixin, admin.ModelAdmin):
    list_display = (
        "requested_at",
        "group_id",
        "reset_type",
        "value",
        "scope",
        "status",
        "requested_by_name",
        "approved_by",
        "applied_at",
    )
    list_filter = ("status", "reset_type")
    search_fields = ("group_id",)
    list_select_related = ("approved_by",)
    readonly_fields = (
        "group_id",
        "reset_type",
        "value",
        "scope",
        "status",
        "detail",
        "partition_table",
        "requested_by_name",
        "requested_at",
        "approved_by",
        "applied_at",
        "approval",
    )
    exclude = ("plan", "partitions", "requested_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # new resets go through the preview form, never a blank row

    def has_change_permission(self, request: HttpRequest, obj: OffsetReset | None = None) -> bool:
        return False  # the audit trail is read-only

    def has_delete_permission(self, request: HttpRequest, obj: OffsetReset | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("new/", self.admin_site.admin_view(self.new_reset_view), name=f"{name}_new"),
            path("<int:pk>/approve/", self.admin_site.admin_view(self.approve_view), name=f"{name}_approve"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_reset": self._can_reset(request)}
        return super().changelist_view(request, extra_context)

    def _can_reset(self, request: HttpRequest) -> bool:
        return request.user.has_perm("offsets.reset_offsets")

    @admin.display(description="Partitions")
    def partition_table(self, obj: OffsetReset) -> str:
        rows = obj.partitions or [
            {
                "topic": p["topic"],
                "partition": p["partition"],
                "before": p["current"],
                "planned": p["new"],
                "after": "",
                "error": p["warning"],
            }
            for p in obj.plan.get("partitions", [])
        ]
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (r["topic"], r["partition"], _dash(r["before"]), r["planned"], _dash(r["after"]), r["error"])
                for r in rows
            ),
        )
        return format_html("<table>{}{}</table>", PARTITION_HEAD, body)

    @admin.display(description="Approval")
    def approval(self, obj: OffsetReset) -> str:
        if obj.status != OffsetReset.Status.PENDING:
            return "-"
        url = reverse("admin:offsets_offsetreset_approve", args=[obj.pk])
        return format_html('<a href="{}">Review and approve</a>', url)

    # --- the New reset form -------------------------------------------------------

    def new_reset_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST" and request.POST.get("post"):
            return self._confirm(request)
        # GET parameters prefill the form, so a consumer group page can link here with its group id.
        form = ResetForm(request.POST) if request.method == "POST" else ResetForm(initial=self._initial(request))
        plan = self._preview(request, form) if request.method == "POST" and form.is_valid() else None
        if plan is not None:
            return self._render(
                request,
                "preview.html",
                form=form,
                plan=plan,
                token=signing.dumps(plan.to_json(), salt=_plan_salt(request)),
                back_url=_back_url(form),
            )
        return self._render(request, "reset_form.html", form=form)

    def _initial(self, request: HttpRequest) -> dict[str, Any]:
        """The query's values; for a group alone, also the topics it has committed offsets for."""
        initial: dict[str, Any] = request.GET.dict()
        group_id = initial.get("group_id", "").strip()
        if not group_id or initial.get("topics") or initial.get("all_topics"):
            return initial
        try:
            initial["topics"] = initial["prefilled_topics"] = "\n".join(reset.group_topics(group_id))
        except (reset.ResetError, KafkaClientError) as exc:
            self.message_user(request, f"The group's topics could not be filled in: {exc}", messages.WARNING)
        return initial

    def _preview(self, request: HttpRequest, form: ResetForm) -> reset.ResetPlan | None:
        try:
            return reset.plan_reset(form.cleaned_data["spec"])
        except (reset.ResetError, KafkaClientError) as exc:
            form.add_error(None, str(exc))  # includes a busy group's state and members
            return None

    def _confirm(self, request: HttpRequest) -> HttpResponse:
        if not self._can_reset(request):
            raise PermissionDenied
        try:
            plan = reset.ResetPlan.from_json(
                signing.loads(request.POST.get("plan", ""), salt=_plan_salt(request), max_age=PLAN_MAX_AGE)
            )
        except signing.BadSignature:
            self.message_user(
                request, "The preview expired or was altered; nothing was changed. Preview again.", messages.ERROR
            )
            return HttpResponseRedirect(reverse("admin:offsets_offsetreset_new"))
        row = service.submit(plan, operator(request))
        return self._report(request, row)

    def _report(self, request: HttpRequest, row: OffsetReset) -> HttpResponse:
        if row.status == OffsetReset.Status.PENDING:
            text = f"Reset of {row.group_id} is waiting for approval by a second operator."
        else:
            text = f"Reset of {row.group_id}: {row.get_status_display()}. {row.detail}"
        self.message_user(request, text, RESULT_LEVEL.get(row.status, messages.ERROR))
        return HttpResponseRedirect(reverse("admin:offsets_offsetreset_change", args=[row.pk]))

    # --- four-eyes approval -----------------------------------------------------------

    def approve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        row = get_object_or_404(OffsetReset, pk=pk)
        if not self._can_reset(request):
            raise PermissionDenied
        if request.method == "POST" and request.POST.get("post"):
            try:
                row = service.approve(row, operator(request))
            except reset.ResetError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return HttpResponseRedirect(reverse("admin:offsets_offsetreset_change", args=[row.pk]))
            return self._report(request, row)
        fresh, problem = self._fresh_preview(row)
        return self._render(
            request,
            "approve.html",
            row=row,
            plan=row.reset_plan(),
            fresh=fresh,
            problem=problem,
            own_request=row.requested_by_id == request.user.pk,
        )

    def _fresh_preview(self, row: OffsetReset) -> tuple[reset.ResetPlan | None, str]:
        """What the same reset would compute now, so the approver sees any drift since the request."""
        try:
            return reset.plan_reset(row.reset_plan().spec), ""
        except (reset.ResetError, KafkaClientError) as exc:
            return None, str(exc)

    def _render(self, request: HttpRequest, template: str, **context: Any) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Reset consumer group offsets",
            "can_reset": self._can_reset(request),
            **context,
        }
        return TemplateResponse(request, f"admin/offsets/offsetreset/{template}", context)


def _back_url(form: ResetForm) -> str:
    """The form again with what was entered: its GET parameters prefill it (see _initial)."""
    data = form.cleaned_data
    entered = {name: data.get(name) or "" for name in ("group_id", "topics", "reset_type", "value")}
    if data.get("all_topics"):
        entered["all_topics"] = "on"
    return f"{reverse('admin:offsets_offsetreset_new')}?{urlencode(entered)}"


def _dash(value: object) -> str:
    return "-" if value is None or value == "" else str(value)
