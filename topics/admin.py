"""Read-only admin over the cluster mirror. Nobody edits mirror rows by hand; topics/sync.py writes them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from opsportal import kafka
from opsportal.admin_mixins import ForbiddenActionMixin, OfferedLookupsMixin, ReadOnlyMixin, show_time

from . import stuck, views
from .models import Broker, BrowseLog, ConsumerGroup, GroupOffset, Partition, SyncRun, Topic
from .tasks import queue_sync


class HiddenByDefaultFilter(admin.SimpleListFilter):
    """Rows matching `condition` are hidden unless asked for: the default choice excludes them."""

    condition: Q

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("all", "Shown too"), ("only", "Only these")]

    def choices(self, changelist: Any) -> Iterator[Any]:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Hidden (default)",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "all":
            return queryset
        if self.value() == "only":
            return queryset.filter(self.condition)
        return queryset.exclude(self.condition)


class InternalFilter(HiddenByDefaultFilter):
    title = "internal topics"
    parameter_name = "internal"
    condition = Q(is_internal=True)


class VanishedFilter(HiddenByDefaultFilter):
    title = "vanished"
    parameter_name = "vanished"
    condition = Q(vanished_at__isnull=False)


class UnderReplicatedFilter(admin.SimpleListFilter):
    title = "under-replicated"
    parameter_name = "under_replicated"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Under-replicated"), ("no", "Fully replicated")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(under_replicated_partitions__gt=0)
        if self.value() == "no":
            return queryset.filter(under_replicated_partitions=0)
        return queryset


class OfflineFilter(admin.SimpleListFilter):
    title = "offline partitions"
    parameter_name = "offline_partitions__gt"  # the overview's "topics with offline partitions" links here

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("0", "With offline partitions")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset if self.value() is None else queryset.filter(offline_partitions__gt=0)


def quiet_when_zero(count: int) -> str:
    """A count that is bad news when above zero: zero in grey, anything else in bold (no red ✖ for "all fine")."""
    if not count:
        return mark_safe('<span style="color: var(--body-quiet-color)">0</span>')
    return format_html("<strong>{}</strong>", count)


def human_ms(value: str) -> str:
    """A retention in milliseconds as days or hours ("-1": forever)."""
    if not value.lstrip("-").isdigit():
        return value or "-"
    ms = int(value)
    if ms < 0:
        return "forever"
    hours = ms / 3_600_000
    return f"{hours / 24:g} d" if hours >= 24 and hours % 24 == 0 else f"{hours:.4g} h"


class MirrorAdmin(ForbiddenActionMixin, ReadOnlyMixin, admin.ModelAdmin):
    change_list_template = "admin/topics/mirror_change_list.html"
    # No second COUNT(*) over the whole table on every filtered page.
    show_full_result_count = False
    list_per_page = 100

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        run = SyncRun.latest_run()
        context = {"mirror_run": run, "mirror_stale": run is not None and run.is_stale}
        return super().changelist_view(request, {**(extra_context or {}), **context})


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


class PartitionInline(ReadOnlyInline):
    model = Partition
    fields = ("number", "leader", "replicas", "isr", "earliest_offset", "latest_offset", "under_replicated_shown")
    readonly_fields = ("under_replicated_shown",)

    @admin.display(description="under-replicated")
    def under_replicated_shown(self, partition: Partition) -> str:
        if partition.under_replicated:
            return mark_safe("<strong>yes</strong>")
        return mark_safe('<span style="color: var(--body-quiet-color)">no</span>')


@admin.register(Topic)
class TopicAdmin(MirrorAdmin):
    change_list_template = "admin/topics/topic_change_list.html"
    # The health columns first; cleanup policy, min ISR and configs are on the topic page.
    list_display = (
        "name",
        "partition_count",
        "replication_factor",
        "under_replicated",
        "offline",
        "approx_messages",
        "retention",
        "synced",
    )
    list_filter = (InternalFilter, UnderReplicatedFilter, OfflineFilter, VanishedFilter)
    search_fields = ("name",)
    fields = (
        "name",
        ("partition_count", "replication_factor", "is_internal"),
        ("under_replicated_partitions", "offline_partitions", "approx_messages"),
        ("retention_ms", "cleanup_policy", "min_insync_replicas"),
        ("last_synced", "vanished_at"),
        "config_table",
    )
    readonly_fields = ("config_table",)

    @admin.display(description="under-replicated", ordering="under_replicated_partitions")
    def under_replicated(self, topic: Topic) -> str:
        return quiet_when_zero(topic.under_replicated_partitions)

    @admin.display(description="offline", ordering="offline_partitions")
    def offline(self, topic: Topic) -> str:
        return quiet_when_zero(topic.offline_partitions)

    @admin.display(description="retention", ordering="retention_ms")
    def retention(self, topic: Topic) -> str:
        return human_ms(topic.retention_ms)

    @admin.display(description="last synced", ordering="last_synced")
    def synced(self, topic: Topic) -> str:
        return show_time(topic.last_synced)

    inlines = (PartitionInline,)
    change_form_template = "admin/topics/topic_change_form.html"

    @admin.display(description="configs")
    def config_table(self, topic: Topic) -> str:
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", ((k, v, s) for k, (v, s) in topic.configs.items())
        )
        return format_html("<table><tr><th>key</th><th>value</th><th>source</th></tr>{}</table>", rows)

    def get_urls(self) -> list[URLPattern]:
        sync_now = self.admin_site.admin_view(require_POST(self.sync_now_view))
        browse = self.admin_site.admin_view(lambda request: views.messages_view(request, self))
        search = self.admin_site.admin_view(lambda request: views.search_view(request, self))
        download = self.admin_site.admin_view(lambda request: views.download_view(request, self))
        return [
            path("sync-now/", sync_now, name="topics_topic_sync_now"),
            path("messages/", browse, name="topics_topic_messages"),
            path("messages/search/", search, name="topics_topic_search"),
            path("messages/download/", download, name="topics_topic_message_download"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        topic = self.get_object(request, object_id)
        groups = (
            GroupOffset.objects.filter(topic=topic.name)
            .values("group_id", "group__group_id")
            .annotate(partitions=Count("id"), lag=Sum("lag"))
            .order_by("group__group_id")
            if topic
            else []
        )
        context = {"topic_groups": groups, "can_browse": request.user.has_perm("topics.browse_messages")}
        if topic and kafka.registry.enabled():
            context["schema_subjects"], context["schema_error"] = topic_schema_subjects(topic.name)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **context})

    def sync_now_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            queued = queue_sync()
        except (OperationalError, RedisError) as exc:
            self.message_user(request, f"Could not queue the sync (is the Celery broker up?): {exc}", messages.ERROR)
        else:
            if queued:
                self.message_user(request, "Sync queued: the mirror refreshes within a few seconds; reload this page.")
            else:
                self.message_user(request, "A sync asked for is already queued or running; reload this page shortly.")
        back = request.POST.get("next", "")
        lists = {reverse(f"admin:topics_{name}_changelist") for name in ("topic", "broker", "consumergroup")}
        return HttpResponseRedirect(back if back in lists else reverse("admin:topics_topic_changelist"))


def topic_schema_subjects(topic: str) -> tuple[list[kafka.SubjectInfo], str]:
    """The topic's subjects in the Schema Registry, or why they could not be read (the page still shows)."""
    try:
        return kafka.registry.topic_subjects(topic), ""
    except kafka.RegistryError as exc:
        return [], str(exc)


@admin.register(Broker)
class BrokerAdmin(MirrorAdmin):
    list_display = ("broker_id", "host", "port", "rack", "is_controller", "is_up", "seen")
    list_filter = ("is_up", "is_controller")
    change_list_template = "admin/topics/sync_now_change_list.html"

    @admin.display(description="last seen", ordering="last_seen")
    def seen(self, broker: Broker) -> str:
        return show_time(broker.last_seen)


class GroupOffsetInline(ReadOnlyInline):
    model = GroupOffset
    fields = ("topic", "partition", "committed_offset", "end_offset", "lag")


@admin.register(ConsumerGroup)
class ConsumerGroupAdmin(MirrorAdmin):
    list_display = (
        "group_id",
        "state",
        "protocol_type",
        "member_count",
        "coordinator",
        "total_lag",
        "sync_error",
        "last_synced",
        "vanished_at",
    )
    list_filter = ("state", VanishedFilter)
    search_fields = ("group_id",)
    change_list_template = "admin/topics/sync_now_change_list.html"
    inlines = (GroupOffsetInline,)
    change_form_template = "admin/topics/consumergroup_change_form.html"
    actions = ["reset_offsets"]

    def has_reset_offsets_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("offsets.reset_offsets")

    @admin.action(description="Reset offsets of the selected group (preview first)…", permissions=["reset_offsets"])
    def reset_offsets(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        groups = list(queryset.values_list("group_id", flat=True)[:2])
        if len(groups) != 1:
            self.message_user(request, "Choose exactly one consumer group to reset.", messages.ERROR)
            return None
        return HttpResponseRedirect(f"{reverse('admin:offsets_offsetreset_new')}?{urlencode({'group_id': groups[0]})}")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_reset_offsets": self.has_reset_offsets_permission(request),
            **self.stuck_context(request, object_id),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def stuck_context(self, request: HttpRequest, object_id: str) -> dict[str, Any]:
        """Where the group is stuck, read live; an unreachable cluster is a line on the page, not an error."""
        group = self.get_object(request, object_id)
        if group is None:
            return {}
        try:
            state = stuck.where_stuck(group.group_id)
        except kafka.KafkaClientError as exc:
            return {"stuck_error": str(exc)}
        names = {row.topic for row in state.partitions}
        topic_pks = dict(Topic.objects.filter(name__in=names).values_list("name", "pk"))
        now = timezone.now()
        rows = [
            {"row": row, "time_lag": row.time_lag(now), "topic_pk": topic_pks.get(row.topic)}
            for row in state.partitions
        ]
        return {
            "stuck_rows": rows,
            "stuck_members": state.members,
            "stuck_errors": state.errors,
            "can_browse": request.user.has_perm("topics.browse_messages"),
        }


@admin.register(GroupOffset)
class GroupOffsetAdmin(MirrorAdmin):
    """Lag per group and partition across the cluster, sortable by lag."""

    list_display = ("group", "topic", "partition", "committed_offset", "end_offset", "lag")
    list_select_related = ("group",)
    search_fields = ("group__group_id", "topic")


@admin.register(SyncRun)
class SyncRunAdmin(MirrorAdmin):
    list_display = ("finished", "duration_shown", "created", "updated", "vanished", "errors")

    @admin.display(description="finished at", ordering="finished_at")
    def finished(self, run: SyncRun) -> str:
        return show_time(run.finished_at)

    @admin.display(description="duration", ordering="duration")
    def duration_shown(self, run: SyncRun) -> str:
        return f"{run.duration:.2f} s"


@admin.register(BrowseLog)
class BrowseLogAdmin(OfferedLookupsMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Who browsed, searched or downloaded which messages: for superusers only."""

    list_display = ("at", "username", "action", "topic", "partitions", "detail")
    list_filter = ("action",)
    search_fields = ("username", "topic")
    show_full_result_count = False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser
