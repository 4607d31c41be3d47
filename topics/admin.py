"""Read-only admin over the cluster mirror. Nobody edits mirror rows by hand; topics/sync.py writes them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from opsportal import kafka
from opsportal.admin_mixins import ForbiddenActionMixin, OfferedLookupsMixin, ReadOnlyMixin, show_time
from opsportal.text import breakable

from . import display, stuck, views
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


UNLIMITED = str(2**63 - 1)  # Kafka's Long.MAX_VALUE: "no limit"
DEFAULT_SOURCES = ("DEFAULT_CONFIG", "UNKNOWN", "")  # Kafka's own defaults; broker-level settings are overrides


def readable_config(key: str, value: str) -> str:
    """A topic config's value for people: -1 retention as "forever", Long.MAX_VALUE as "unlimited", ms and bytes."""
    if value == UNLIMITED:
        return "unlimited"
    if not value.lstrip("-").isdigit():
        return value or "-"
    number = int(value)
    if number < 0 and key.startswith("retention."):
        return "forever" if key.endswith(".ms") else "unlimited"
    if key.endswith(".ms") and number > 0:
        return human_ms(value) if number >= 3_600_000 else f"{number / 1000:g} s"
    if key.endswith(".bytes") and number >= 1024:
        return filesizeformat(number)
    return value


def config_rows(configs: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(overrides, defaults) of a topic's configs, each sorted by key, values made readable."""
    overrides: list[dict[str, str]] = []
    defaults: list[dict[str, str]] = []
    for key in sorted(configs):
        raw, source = configs[key]
        raw, source = str(raw if raw is not None else ""), str(source or "")
        shown = readable_config(key, raw)
        row = {"key": key, "value": shown, "raw": raw if shown != raw else "", "source": source}
        (defaults if source in DEFAULT_SOURCES else overrides).append(row)
    return overrides, defaults


def short_time(moment: datetime | None) -> str:
    """A time in a narrow column: the clock time today with its zone, the date otherwise; the full time on hover."""
    if moment is None:
        return "-"
    local = timezone.localtime(moment)
    text = local.strftime("%H:%M:%S %Z") if local.date() == timezone.localdate() else local.strftime("%Y-%m-%d")
    return format_html('<time datetime="{}" title="{}">{}</time>', local.isoformat(), show_time(moment), text)


class MirrorAdmin(ForbiddenActionMixin, ReadOnlyMixin, admin.ModelAdmin):
    change_list_template = "admin/topics/mirror_change_list.html"
    # No second COUNT(*) over the whole table on every filtered page.
    show_full_result_count = False
    list_per_page = 100

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        run = SyncRun.latest_run()
        context = {
            "mirror_run": run,
            "mirror_stale": run is not None and run.is_stale,
            # The button posts to the topics list's view, which asks for its view permission.
            "can_sync_now": self.admin_site.get_model_admin(Topic).has_view_permission(request),
        }
        return super().changelist_view(request, {**(extra_context or {}), **context})


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


class PartitionInline(ReadOnlyInline):
    model = Partition
    fields = ("number", "leader", "replicas", "isr", "earliest_offset", "latest_offset", "under_replicated_shown")
    readonly_fields = ("number_link", "under_replicated_shown")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        """The partition number links to its messages for those who may browse them (issue 18)."""
        fields = list(super().get_fields(request, obj))
        if request.user.has_perm("topics.browse_messages"):
            fields[fields.index("number")] = "number_link"
        return fields

    @admin.display(description="number")
    def number_link(self, partition: Partition) -> str:
        query = urlencode({"topic": partition.topic.name, "partition": partition.number})
        return format_html(
            '<a class="partition-messages" href="{}?{}" title="this partition\'s messages, newest first">{}</a>',
            reverse("admin:topics_topic_messages"),
            query,
            partition.number,
        )

    @admin.display(description="under-replicated")
    def under_replicated_shown(self, partition: Partition) -> str:
        if partition.under_replicated:
            return mark_safe("<strong>yes</strong>")
        return mark_safe('<span style="color: var(--body-quiet-color)">no</span>')


@admin.register(Topic)
class TopicAdmin(MirrorAdmin):
    change_list_template = "admin/topics/topic_change_list.html"
    # The health columns first; cleanup policy, min ISR and configs are on the topic page.
    # Widths in topic_change_list.html: all fit beside the filters at 1280-1920 px.
    list_display = (
        "name_shown",
        "partitions",
        "under_replicated",
        "offline",
        "approx_messages",
        "retention",
        "synced",
    )
    list_filter = (InternalFilter, UnderReplicatedFilter, OfflineFilter, VanishedFilter)
    search_fields = ("name",)
    # The configs are below the partitions, consumer groups and dead letters (topic_change_form.html).
    fields = (
        "name",
        ("partition_count", "replication_factor", "is_internal_shown"),
        ("under_replicated_partitions", "offline_partitions", "approx_messages"),
        ("retention", "cleanup_policy", "min_insync_replicas"),
        ("last_synced", "vanished_at"),
    )
    readonly_fields = ("retention", "is_internal_shown")

    @admin.display(description="is internal")
    def is_internal_shown(self, topic: Topic) -> str:
        """Yes or a quiet No: being a billing topic is no failure (not Django's red ✖)."""
        if topic.is_internal:
            return mark_safe("<strong>Yes</strong>")
        return mark_safe('<span style="color: var(--body-quiet-color)">No</span>')

    @admin.display(description="name", ordering="name")
    def name_shown(self, topic: Topic) -> str:
        return breakable(topic.name)

    @admin.display(description="partitions × replicas", ordering="partition_count")
    def partitions(self, topic: Topic) -> str:
        return f"{topic.partition_count} × {topic.replication_factor}"

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
        return short_time(topic.last_synced)

    inlines = (PartitionInline,)
    change_form_template = "admin/topics/topic_change_form.html"

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
        overrides, defaults = config_rows(topic.configs) if topic else ([], [])
        context = {
            "topic_groups": groups,
            "can_browse": request.user.has_perm("topics.browse_messages"),
            "config_overrides": overrides,
            "config_defaults": defaults,
        }
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
        # Back only to a page with the button (the overview and the lists that show the mirror's age).
        pages = {reverse(f"admin:topics_{name}_changelist") for name in SYNC_NOW_LISTS} | {reverse("admin:index")}
        return HttpResponseRedirect(back if back in pages else reverse("admin:topics_topic_changelist"))


SYNC_NOW_LISTS = ("topic", "broker", "consumergroup", "groupoffset", "syncrun")


def topic_schema_subjects(topic: str) -> tuple[list[kafka.SubjectInfo], str]:
    """The topic's subjects in the Schema Registry, or why they could not be read (the page still shows)."""
    try:
        return kafka.registry.topic_subjects(topic), ""
    except kafka.RegistryError as exc:
        return [], str(exc)


@admin.register(Broker)
class BrokerAdmin(MirrorAdmin):
    list_display = ("broker_id", "host", "port", "rack", "is_controller_shown", "is_up", "seen")
    list_filter = ("is_up", "is_controller")
    change_list_template = "admin/topics/sync_now_change_list.html"

    @admin.display(description="is controller", ordering="is_controller")
    def is_controller_shown(self, broker: Broker) -> str:
        """Yes or a quiet No: one broker of the cluster is the controller, the others are fine (not a red ✖)."""
        if broker.is_controller:
            return mark_safe("<strong>Yes</strong>")
        return mark_safe('<span style="color: var(--body-quiet-color)">No</span>')

    @admin.display(description="last seen", ordering="last_seen")
    def seen(self, broker: Broker) -> str:
        return show_time(broker.last_seen)


@admin.register(ConsumerGroup)
class ConsumerGroupAdmin(MirrorAdmin):
    # total_lag is the 4th column (the overview links to ?o=-4); widths in consumergroup_change_list.html.
    # The protocol type (almost always "consumer") is on the group's page.
    list_display = (
        "group_id",
        "state_shown",
        "members",
        "total_lag",
        "coordinator_shown",
        "sync_error",
        "synced",
    )
    list_filter = ("state", VanishedFilter)
    search_fields = ("group_id",)
    change_list_template = "admin/topics/consumergroup_change_list.html"
    # No "group offsets" inline: "where is it stuck" (read live) shows the same rows and more, first.
    change_form_template = "admin/topics/consumergroup_change_form.html"
    actions = ["reset_offsets"]

    @admin.display(description="state", ordering="state")
    def state_shown(self, group: ConsumerGroup) -> str:
        return group.state.replace("_", " ").capitalize() if group.state else "-"

    @admin.display(description="members", ordering="member_count")
    def members(self, group: ConsumerGroup) -> int:
        return group.member_count

    # A soft hyphen: the one long header word may break in a narrow column.
    @admin.display(description="coordi\u00adnator", ordering="coordinator")
    def coordinator_shown(self, group: ConsumerGroup) -> str:
        return "-" if group.coordinator is None else str(group.coordinator)

    @admin.display(description="last synced", ordering="last_synced")
    def synced(self, group: ConsumerGroup) -> str:
        if group.vanished_at:
            return format_html("vanished {}", short_time(group.vanished_at))
        return short_time(group.last_synced)

    def get_fieldsets(self, request: HttpRequest, obj: ConsumerGroup | None = None) -> list[Any]:
        """The mirrored fields under their age: they may disagree with the live state above them."""
        title = f"As of the last sync ({show_time(obj.last_synced)})" if obj else None
        return [(title, {"fields": self.get_fields(request, obj)})]

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
        rows = [self.stuck_row(row, now, topic_pks.get(row.topic)) for row in state.partitions]
        group_lag = state.time_lag(now)
        return {
            "live_state": state.state.replace("_", " ").capitalize() if state.state else "unknown",
            "live_member_count": len(state.members),
            "group_time_lag": stuck.human_duration(group_lag) if group_lag is not None else "",
            "stuck_rows": rows,
            "stuck_members": state.members,
            "stuck_errors": state.errors,
            "can_browse": request.user.has_perm("topics.browse_messages"),
            "offsets_url": f"{reverse('admin:topics_groupoffset_changelist')}?{urlencode({'q': group.group_id})}",
        }

    @staticmethod
    def stuck_row(row: stuck.StuckPartition, now: datetime, topic_pk: int | None) -> dict[str, Any]:
        time_lag = row.time_lag(now)
        record = row.record
        return {
            "row": row,
            "time_lag": stuck.human_duration(time_lag) if time_lag is not None else None,
            "time_lag_seconds": f"{time_lag.total_seconds():.3f}" if time_lag is not None else "",
            "topic_pk": topic_pk,
            "key": display.show(record.key, limit=200).text if record else "",
            "event_type": stuck.event_type(record) if record else "",
        }


@admin.register(GroupOffset)
class GroupOffsetAdmin(MirrorAdmin):
    """Lag per group and partition across the cluster, sortable by lag."""

    list_display = ("group", "topic_shown", "partition", "committed_offset", "end_offset", "lag")
    list_select_related = ("group",)
    change_list_template = "admin/topics/sync_now_change_list.html"

    @admin.display(description="topic", ordering="topic")
    def topic_shown(self, offset: GroupOffset) -> str:
        return breakable(offset.topic)

    search_fields = ("group__group_id", "topic")


@admin.register(SyncRun)
class SyncRunAdmin(MirrorAdmin):
    list_display = ("finished", "duration_shown", "created", "updated", "vanished", "errors")
    change_list_template = "admin/topics/sync_now_change_list.html"

    @admin.display(description="finished at", ordering="finished_at")
    def finished(self, run: SyncRun) -> str:
        return show_time(run.finished_at)

    @admin.display(description="duration", ordering="duration")
    def duration_shown(self, run: SyncRun) -> str:
        return f"{run.duration:.2f} s"


@admin.register(BrowseLog)
class BrowseLogAdmin(OfferedLookupsMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Who browsed, searched or downloaded which messages: for superusers only."""

    list_display = ("at", "username", "action", "topic_shown", "partitions_shown", "detail")
    list_filter = ("action",)
    search_fields = ("username", "topic")
    show_full_result_count = False
    change_list_template = "admin/topics/browselog_change_list.html"

    @admin.display(description="topic", ordering="topic")
    def topic_shown(self, log: BrowseLog) -> str:
        return breakable(log.topic)

    @admin.display(description="partitions")
    def partitions_shown(self, log: BrowseLog) -> str:
        """The partitions as "0, 1, 2", which wraps between its numbers (stored as "0,1,2")."""
        return log.partitions.replace(",", ", ")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser
