"""The review side: a list that stays fast at millions of rows, a record page, a summary.

Everything read from Kafka is read-only; people edit only the assignee, the triage
status and the notes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, tzinfo
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import Count, F, Max, Min, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from deadletter import decoders, pg, summary
from deadletter.models import SEARCHED, TRIAGE_STATUSES, DeadLetterRecord, Review, Status
from deadletter.rows import kafka_time
from opsportal.admin_mixins import LookupNotOffered, OfferedLookupsMixin, show_time
from opsportal.text import breakable
from topics import display
from topics.admin import TopicAdmin
from topics.models import ConsumerGroup, Topic

# Below this the exact COUNT(*) is cheap, and an estimate would look wrong on a small table.
ESTIMATE_ABOVE = 100_000
DISTINCT_LIMIT = 200


# A filtered list counts at most this many matches, then says "more than" (the count is the
# only part of a list page whose cost grows with the matches; the page itself uses an index).
COUNT_LIMIT = 10_000


class CountAtLeast(int):
    """A count that stopped at COUNT_LIMIT + 1: wherever the admin prints it, it reads
    "more than 10,000"; for the paginator's arithmetic it is the number itself."""

    def __str__(self) -> str:
        return f"more than {self - 1:,}"


class EstimatedCountPaginator(Paginator):
    """COUNT(*) walks every matching row on PostgreSQL: an unfiltered list uses the planner's
    estimate, a filtered one counts at most COUNT_LIMIT + 1 rows (COUNT over a LIMITed subquery)."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        if not queryset.query.where:
            estimate = _estimated_rows(queryset)
            if estimate is not None and estimate > ESTIMATE_ABOVE:
                return estimate
            return super().count
        counted = queryset.order_by()[: COUNT_LIMIT + 1].count()
        return CountAtLeast(counted) if counted > COUNT_LIMIT else counted


def _estimated_rows(queryset: QuerySet) -> int | None:
    return pg.estimated_rows(queryset.model) if connection.vendor == "postgresql" else None


def distinct_values(field: str) -> list[str]:
    """A column's distinct values; on PostgreSQL one index probe per value instead of DISTINCT over every row."""
    if connection.vendor == "postgresql":
        return pg.distinct_values(field, DISTINCT_LIMIT)
    return list(DeadLetterRecord.objects.order_by(field).values_list(field, flat=True).distinct()[:DISTINCT_LIMIT])


def values_filter(field: str, title: str) -> type[admin.SimpleListFilter]:
    class ValuesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
            return [(value, value or "(none)") for value in distinct_values(field)]

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            value = self.value()
            return queryset if value is None else queryset.filter(**{field: value})

    ValuesFilter.title = title
    return ValuesFilter


class StatusFilter(admin.SimpleListFilter):
    """By the record's Review status (its own table: see Review), through that table's index."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        open_labels = ", ".join(str(status.label).lower() for status in summary.OPEN)
        return [(summary.OPEN_CHOICE, f"Open ({open_labels})"), *Status.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value is None else queryset.filter(review__status__in=summary.statuses(value))


class AssigneeFilter(admin.SimpleListFilter):
    """Assigned to me, to nobody, or to one of the people who may triage (the partial index on
    the assignee serves every choice but "nobody", which the time index serves)."""

    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        people = [(str(user.pk), user.get_username()) for user in triagers()[:DISTINCT_LIMIT]]
        return [("me", "Assigned to me"), ("nobody", "Nobody"), *people]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        if value == "me":
            return queryset.filter(assignee=request.user.pk)
        if value == "nobody":
            return queryset.filter(assignee__isnull=True)
        if not value.isdigit() or len(value) > 18:
            raise IncorrectLookupParameters(f"no such assignee: {value!r}")
        return queryset.filter(assignee=int(value))


class FingerprintFilter(admin.SimpleListFilter):
    """One failure (error type and message shape), as the summary links to; shown only when chosen."""

    title = "failure (fingerprint)"
    parameter_name = "fingerprint"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value is None else queryset.filter(fingerprint=value)


class SinceFilter(admin.SimpleListFilter):
    """Dead-lettered since a moment (the overview's "new in the last hour" links here)."""

    title = "dead-lettered"
    parameter_name = "timestamp__gte"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        now = timezone.now().replace(second=0, microsecond=0)
        choices = [((now - timedelta(hours=hours)).isoformat(), label) for hours, label in SINCE]
        value = self.value()
        if value and value not in dict(choices):
            choices.append((value, f"since {value}"))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        try:
            moment = parse_datetime(value)
        except ValueError:
            moment = None
        if moment is None:
            raise IncorrectLookupParameters(f"not a date-time: {value!r}")
        return queryset.filter(timestamp__gte=moment)


SINCE = ((1, "In the last hour"), (24, "In the last 24 hours"), (24 * 7, "In the last 7 days"))


class ReviewForm(forms.ModelForm):
    """The record page's form: the triage status is the Review's, edited here beside the
    assignee and the notes (save_model writes each where it lives)."""

    status = forms.ChoiceField(choices=[(s.value, s.label) for s in TRIAGE_STATUSES])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "status" in self.fields:
            self.initial.setdefault("status", self.instance.status)

    def clean(self) -> dict[str, Any] | None:
        """A record republished or discarded since the page was loaded: said on the form, which keeps
        what was typed (save_model's guard stays, for the moment between this check and the save)."""
        cleaned = super().clean()
        # Posted review fields (the form was opened in triage), changed or not: "saved" would be untrue.
        if self.instance.pk is not None and "notes" in self.data:
            now = Review.objects.filter(pk=self.instance.pk).values_list("status", flat=True).first()
            if now is not None and now not in TRIAGE_STATUSES:
                label = dict(Status.choices).get(now, now)
                raise forms.ValidationError(
                    f"This dead letter was {str(label).lower()} since you opened it: nothing was saved. "
                    "Copy your note from below, then reload the page."
                )
        return cleaned

    class Meta:
        model = DeadLetterRecord
        fields = ("assignee", "notes")


class RangeDatesQuerySet(QuerySet):
    """The date hierarchy asks for DISTINCT truncated dates, a scan of every row. Here the
    periods come from the first and last times (two index probes): a period may list with
    no record in it.

    Each bound is its own ORDER BY ... LIMIT 1: PostgreSQL answers MIN/MAX from an index
    only on one table, and the status filter joins the Review table (an aggregate over the
    join reads every matching row)."""

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """MIN and MAX of plain columns (what the date hierarchy asks for) as a LIMIT 1 query each."""
        query = self.query
        plain = not (query.is_sliced or query.combinator or query.distinct_fields)
        if args or not kwargs or not plain or not all(_is_plain_bound(a) for a in kwargs.values()):
            return super().aggregate(*args, **kwargs)
        return {name: self._bound(a.source_expressions[0].name, isinstance(a, Max)) for name, a in kwargs.items()}

    def _bound(self, field_name: str, last: bool) -> Any:  # the column's value, of the column's type
        times = self.filter(**{f"{field_name}__isnull": False}).values_list(field_name, flat=True)
        return times.order_by(f"-{field_name}" if last else field_name).first()

    def datetimes(  # type: ignore[override]  # a list of periods, not a QuerySet: the date hierarchy only iterates it
        self, field_name: str, kind: str, order: str = "ASC", tzinfo: tzinfo | None = None
    ) -> list[datetime]:
        first, last = self._bound(field_name, last=False), self._bound(field_name, last=True)
        if first is None:
            return []
        current = _truncate(timezone.localtime(first), kind)
        last = _truncate(timezone.localtime(last), kind)
        periods: list[datetime] = []
        while current <= last:
            periods.append(current)
            current = _next_period(current, kind)
        return periods


def _is_plain_bound(aggregate: Any) -> bool:
    """MIN or MAX of one column of this table, with no filter and no default."""
    source = aggregate.source_expressions[0] if isinstance(aggregate, Min | Max) else None
    simple = isinstance(source, F) and "__" not in source.name
    return simple and aggregate.filter is None and aggregate.default is None


def _truncate(moment: datetime, kind: str) -> datetime:
    moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind in ("month", "year"):
        moment = moment.replace(day=1)
    return moment.replace(month=1) if kind == "year" else moment


def _next_period(moment: datetime, kind: str) -> datetime:
    if kind == "day":
        return moment + timedelta(days=1)
    if kind == "year":
        return moment.replace(year=moment.year + 1)
    return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)


# --- how raw bytes are shown: topics.display, as the message browser shows them ------------


def show_bytes(data: bytes | memoryview | None) -> str:
    """JSON pretty-printed, UTF-8 text as text (a malformed JSON value with the parser's complaint),
    anything else as a hex dump."""
    if data is None:
        return format_html("<em>null</em>")
    data = bytes(data)
    if not data:
        return format_html("<em>empty (0 bytes)</em>")
    shown = display.show(data)
    cut = format_html(" <em>(first {} of {} bytes)</em>", display.VALUE_DISPLAY_LIMIT, shown.size) if shown.cut else ""
    note = _json_complaint(data) if shown.kind == "text" else ""
    if shown.note:
        note = format_html('<p class="dl-schema">{}</p>', shown.note)
    return format_html('{}<pre class="dl-{}">{}</pre>{}', note, shown.kind, shown.text, cut)


def _json_complaint(data: bytes) -> str:
    """Why a value that starts like JSON (the usual deserialization failure) is not JSON."""
    if data.lstrip()[:1] not in (b"{", b"["):
        return ""
    try:
        json.loads(data)
    except json.JSONDecodeError as exc:
        return format_html(
            '<p class="dl-json-error">Not valid JSON: {} (line {}, column {})</p>', exc.msg, exc.lineno, exc.colno
        )
    except (ValueError, RecursionError) as exc:
        return format_html('<p class="dl-json-error">Not valid JSON: {}</p>', exc)
    return ""


# --- the ModelAdmin ---------------------------------------------------------------------------

KAFKA_FIELDS = [
    field.name
    for field in DeadLetterRecord._meta.fields
    if field.name not in ("id", "assignee", "notes", "key", "value", "headers", "stack_trace")
]
HEAVY_FIELDS = ("key", "value", "headers", "stack_trace", "error_message", "decode_error")
SHOWN_TIMES = ("timestamp_shown", "drained_at_shown", "failed_at_shown", "original_time")
LINKS = ("origin_links", "consumer_group_link")


@admin.register(DeadLetterRecord)
class DeadLetterRecordAdmin(OfferedLookupsMixin, admin.ModelAdmin):
    # What triage needs, narrow enough for 1280 px beside the filters (the CSS in the list
    # template fixes the widths); position, fingerprint, convention are on the record page.
    list_display = (
        *("error_shown", "status_shown", "age", "topic_shown", "account_shown", "event_type_shown", "assignee"),
    )
    list_display_links = ("error_shown",)
    list_filter: ClassVar[tuple[Any, ...]] = (
        StatusFilter,
        AssigneeFilter,
        "failed_again",
        values_filter("original_topic", "original topic"),
        "convention",
        values_filter("error_type", "error type"),
        FingerprintFilter,
        SinceFilter,
    )
    list_select_related = ("assignee", "review")
    form = ReviewForm
    search_help_text = "Exact key, event id, account id, correlation id or transaction id."
    search_fields = ("=key_text",)  # shows the box; get_search_results does the search
    date_hierarchy = "timestamp"
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    change_list_template = "admin/deadletter/deadletterrecord/change_list.html"

    class Media:
        css = {"all": ("deadletter/deadletter.css",)}

    readonly_fields = (
        *KAFKA_FIELDS,
        *("key_shown", "value_shown", "headers_table", "stack_trace_folded", "replay_id", "failed_again_shown"),
        "account_shown",
        *SHOWN_TIMES,
        *LINKS,
    )
    fieldsets = (
        ("Review", {"fields": ("status", "assignee", "notes")}),
        # The billing event's fields next: what an operator checks first (which account, how much).
        (
            "Event",
            {
                "fields": (
                    ("event_id", "event_type"),
                    ("account_shown", "transaction_id"),
                    ("correlation_id", "saga_id"),
                    ("amount", "currency"),
                )
            },
        ),
        (
            "Failure",
            {
                "fields": (
                    "error_type",
                    "error_message",
                    "stack_trace_folded",
                    "fingerprint",
                    "fingerprint_text",
                    "retry_count",
                    "failed_at_shown",
                    "decode_error",
                )
            },
        ),
        (
            "Origin",
            {"fields": ("convention", "origin_links", "original_time", "consumer_group_link")},
        ),
        (
            "Dead-letter record",
            {
                "fields": (
                    ("dlq_topic", "partition", "offset"),
                    ("timestamp_shown", "drained_at_shown"),
                    ("key_size", "value_size"),
                    "key_text",
                    "key_shown",
                    "value_shown",
                    "headers_table",
                )
            },
        ),
        ("Republish", {"fields": ("replay_id", "returned_replay_id", "failed_again_shown")}),
    )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # Lists linked or bookmarked before the status moved to Review filtered by ?status__exact=.
        if "status__exact" in request.GET:
            query = request.GET.copy()
            query["status"] = query.pop("status__exact")[-1]
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        summary = reverse("admin:deadletter_summary")
        asked = request.GET.urlencode()
        context = {"summary_url": f"{summary}?{asked}" if asked else summary}
        return super().changelist_view(request, {**(extra_context or {}), **context})

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        queryset = RangeDatesQuerySet(model=queryset.model, query=queryset.query, using=queryset.db)
        match = request.resolver_match
        if match is not None and match.url_name and match.url_name.endswith(("changelist", "summary")):
            # A list row never needs the bytes: a page of 1 MiB values would be 100 MiB.
            queryset = queryset.defer(*HEAVY_FIELDS)
        return queryset

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        match = request.resolver_match
        if match is not None and match.url_name == "deadletter_summary":
            return summary.SummaryChangeList
        return super().get_changelist(request, **kwargs)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        """Equality on each searched column, each through its own partial index (an OR of
        index scans); never LIKE or UPPER(), which would read every row."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if len(term) > 255:
            return queryset.none(), False
        matches = Q()
        for name in SEARCHED:
            matches |= Q(**{name: term})
        return queryset.filter(matches), False

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "assignee":
            kwargs["queryset"] = triagers()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        widget = getattr(formfield, "widget", None)
        if db_field.name == "assignee" and isinstance(widget, RelatedFieldWidgetWrapper):
            # Triage picks a person; it does not add, edit or delete users (a superuser could, from here).
            widget.can_add_related = widget.can_change_related = False
            widget.can_delete_related = widget.can_view_related = False
        return formfield

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from Kafka only

    def has_delete_permission(self, request: HttpRequest, obj: DeadLetterRecord | None = None) -> bool:
        return False  # the drain committed its offset: a deleted row would never come back

    def save_model(
        self, request: HttpRequest, obj: DeadLetterRecord, form: forms.ModelForm[DeadLetterRecord], change: bool
    ) -> None:
        """Save only the triage fields, and only while the row is still in triage.

        A full save would write back what was read when the form was loaded, and a
        status written over a republish claimed in the meantime would undo it.
        """
        triage = ("status", "assignee", "notes")
        changed = {name: form.cleaned_data[name] for name in form.changed_data if name in triage}
        if not changed:
            return
        with transaction.atomic():
            # The status guard is in the UPDATE itself: a claim committed meanwhile makes it match nothing.
            still_in_triage = Review.objects.filter(pk=obj.pk, status__in=TRIAGE_STATUSES)
            if not still_in_triage.update(status=changed.pop("status", F("status"))):
                raise PermissionDenied("this dead letter is being republished or was acted on; reload it")
            if changed:
                DeadLetterRecord.objects.filter(pk=obj.pk).update(**changed)

    def get_readonly_fields(self, request: HttpRequest, obj: DeadLetterRecord | None = None) -> tuple[str, ...]:
        fields = tuple(self.readonly_fields)
        if obj is not None and obj.status not in TRIAGE_STATUSES:
            # Republish and discard own these states, not triage: the review is over, and its
            # fields are shown, not offered (a save could only be refused). A form opened while the
            # record was still in triage posts them: kept, so ReviewForm.clean refuses them with a
            # message and what was typed stays on the page.
            fields += ("status",)
            if not (request.method == "POST" and "notes" in request.POST):
                fields += ("assignee", "notes")
        return fields

    # --- list columns ---

    @admin.display(description="error", ordering="error_type")
    def error_shown(self, obj: DeadLetterRecord) -> str:
        """The class name without its package (the whole name on hover): the part that says what failed."""
        if not obj.error_type:
            return "(no error type)"
        short = obj.error_type.rsplit(".", 1)[-1] or obj.error_type
        return format_html('<span title="{}">{}</span>', obj.error_type, breakable(short))

    @admin.display(description="account", ordering="account_id")
    def account_shown(self, obj: DeadLetterRecord) -> str:
        """The event's account, else the record key (billing keys by account id): display only, never stored."""
        if obj.account_id:
            return obj.account_id
        if obj.key_text:
            return format_html(
                '<span class="dl-from-key" title="{}">{}</span> <span class="help">(key)</span>', KEY_HINT, obj.key_text
            )
        return "-"

    @admin.display(description="original topic", ordering="original_topic")
    def topic_shown(self, obj: DeadLetterRecord) -> str:
        """Breakable after each dot, so a narrow column wraps billing.transaction.events between words."""
        return breakable(obj.original_topic) if obj.original_topic else "-"

    @admin.display(description="event type", ordering="event_type")
    def event_type_shown(self, obj: DeadLetterRecord) -> str:
        """Breakable between the words of a CamelCase type (ChargebackOpened), never inside one."""
        return breakable(obj.event_type) if obj.event_type else "-"

    @admin.display(description="status", ordering="review__status")
    def status_shown(self, obj: DeadLetterRecord) -> str:
        again = format_html(' <span class="dl-again" title="{}">failed again</span>', FAILED_AGAIN_HINT)
        return format_html("{}{}", obj.review.get_status_display(), again if obj.failed_again else "")

    @admin.display(description="status", ordering="review__status")
    def status(self, obj: DeadLetterRecord) -> str:
        return obj.review.get_status_display()

    @admin.display(description="replay id")
    def replay_id(self, obj: DeadLetterRecord) -> str:
        return str(obj.review.replay_id or "-")

    @admin.display(description="age", ordering="timestamp")
    def age(self, obj: DeadLetterRecord) -> str:
        if not obj.timestamp:
            return "-"
        return format_html('<span title="{}">{}</span>', show_time(obj.timestamp), timesince(obj.timestamp, depth=1))

    @admin.display(description="fingerprint", ordering="fingerprint")
    def short_fingerprint(self, obj: DeadLetterRecord) -> str:
        return obj.fingerprint[:8]

    # --- record page ---

    @admin.display(description="failed again")
    def failed_again_shown(self, obj: DeadLetterRecord) -> str:
        if obj.failed_again:
            return format_html('<span class="dl-again">Yes</span> <span class="help">{}</span>', FAILED_AGAIN_HINT)
        return mark_safe('<span class="dl-no">No</span>')

    @admin.display(description="timestamp")
    def timestamp_shown(self, obj: DeadLetterRecord) -> str:
        return show_time(obj.timestamp)

    @admin.display(description="drained at")
    def drained_at_shown(self, obj: DeadLetterRecord) -> str:
        return show_time(obj.drained_at)

    @admin.display(description="failed at")
    def failed_at_shown(self, obj: DeadLetterRecord) -> str:
        return show_time(obj.failed_at)

    @admin.display(description="original timestamp")
    def original_time(self, obj: DeadLetterRecord) -> str:
        ms = obj.original_timestamp_ms
        if ms is None:
            return "-"
        moment = kafka_time(ms)
        shown = show_time(moment) if moment else "out of range"
        return format_html('{} <span class="help">({} ms since the epoch)</span>', shown, ms)

    @admin.display(description="original message")
    def origin_links(self, obj: DeadLetterRecord) -> str:
        """topic[partition]@offset, linked into the message browser, and the key's newer events there."""
        topic, partition, offset = obj.original_topic, obj.original_partition, obj.original_offset
        if not topic:
            return "-"
        # Kafka Connect writes -1 for a position it does not know.
        if partition is None or offset is None or partition < 0 or offset < 0:
            return format_html("{} (partition or offset unknown)", topic)
        where = f"{topic}[{partition}]@{offset}"
        at = {"topic": topic, "partition": str(partition), "start": "offset", "offset": str(offset)}
        message = format_html(
            '<a id="original-message" href="{}?{}">{}</a>', reverse("admin:topics_topic_messages"), urlencode(at), where
        )
        if obj.key_text:
            # From the original's offset up: the key's events after it (and it), not those before it.
            by_key = {
                "topic": topic,
                "partition": str(partition),
                "kind": "key",
                "value": obj.key_text,
                "from": str(offset),
            }
            newer = format_html(
                ' &middot; <a id="newer-for-key" href="{}?{}">newer events of key {} on that partition</a>',
                reverse("admin:topics_topic_search"),
                urlencode(by_key),
                obj.key_text,
            )
            return format_html("{}{}", message, newer)
        return message

    @admin.display(description="consumer group")
    def consumer_group_link(self, obj: DeadLetterRecord) -> str:
        if not obj.consumer_group:
            return "-"
        pk = ConsumerGroup.objects.filter(group_id=obj.consumer_group).values_list("pk", flat=True).first()
        if pk is None:
            return format_html('{} <span class="help">(not in the mirror)</span>', obj.consumer_group)
        url = reverse("admin:topics_consumergroup_change", args=[pk])
        return format_html('<a id="consumer-group" href="{}">{}</a>', url, obj.consumer_group)

    @admin.display(description="key")
    def key_shown(self, obj: DeadLetterRecord) -> str:
        return show_bytes(obj.key)

    @admin.display(description="value")
    def value_shown(self, obj: DeadLetterRecord) -> str:
        return show_bytes(obj.value)

    @admin.display(description="stack trace")
    def stack_trace_folded(self, obj: DeadLetterRecord) -> str:
        if not obj.stack_trace:
            return "-"
        first = obj.stack_trace.splitlines()[0][:200]
        return format_html(
            '<details><summary>{}</summary><pre class="dl-wrap">{}</pre></details>', first, obj.stack_trace
        )

    @admin.display(description="headers (in record order)")
    def headers_table(self, obj: DeadLetterRecord) -> str:
        rows = [
            _header_row(index, name, value, decoders.describe_header(obj.convention, name, value, _decoded_text))
            for index, (name, value) in enumerate(obj.raw_headers(), start=1)
        ]
        if not rows:
            return "no headers"
        return format_html(
            '<table class="dl-headers"><colgroup><col class="dl-n"><col class="dl-name"><col><col></colgroup>'
            "<thead><tr><th>#</th><th>name</th><th>raw</th><th>decoded</th></tr></thead>"
            "<tbody>{}</tbody></table>"
            '<p class="help">A value across both columns reads the same raw and decoded.</p>',
            format_html_join("", "{}", ((row,) for row in rows)),  # each row built by format_html
        )

    # --- summary page ---

    def get_urls(self) -> list[URLPattern]:
        summary = path("summary/", self.admin_site.admin_view(self.summary_view), name="deadletter_summary")
        return [summary, *super().get_urls()]

    def summary_view(self, request: HttpRequest) -> HttpResponse:
        """The list's own filters, search and date hierarchy, grouped; still-open records only
        unless a status is chosen (a fixed error is not work left)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            records = summary.filtered(self, request)
        except LookupNotOffered as refused:
            self.message_user(
                request, f"The summary cannot be filtered by {refused}: shown unfiltered.", messages.ERROR
            )
            return HttpResponseRedirect(reverse("admin:deadletter_summary"))
        except IncorrectLookupParameters as wrong:
            names = ", ".join(sorted(request.GET)) or "-"
            self.message_user(
                request, f"The summary cannot apply its filters ({names}): {wrong}. Shown unfiltered.", messages.ERROR
            )
            return HttpResponseRedirect(reverse("admin:deadletter_summary"))
        context = {
            **self.admin_site.each_context(request),
            **summary.context(records, request),
            "title": "Dead letters: summary",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/deadletter/summary.html", context)


FAILED_AGAIN_HINT = "Republished, then dead-lettered again."
KEY_HINT = "No account id in the event (not JSON, or no account field): this is the record key."


def triagers() -> QuerySet[User]:
    """Active staff who may change a dead letter (triage), directly, by group or as superusers."""
    may_change = Q(codename="change_deadletterrecord", content_type__app_label="deadletter")
    permission = Permission.objects.filter(may_change).first()
    allowed = Q(is_superuser=True)
    if permission is not None:
        allowed |= Q(user_permissions=permission) | Q(groups__permissions=permission)
    ids = User.objects.filter(allowed, is_active=True, is_staff=True).values("pk")
    return User.objects.filter(pk__in=ids).order_by("username")


class TopicWithDeadLettersAdmin(TopicAdmin):
    """topics' own topic admin, with the dead letters whose original topic it is (topics never
    imports deadletter: this app puts the subclass in its place, at the same URLs)."""

    change_form_template = "admin/deadletter/topic_change_form.html"

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        topic = self.get_object(request, object_id)
        context = dead_letters_of(topic.name) if topic is not None else {}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **context})


admin.site.unregister(Topic)
admin.site.register(Topic, TopicWithDeadLettersAdmin)


def dead_letters_of(topic: str) -> dict[str, Any]:
    """Count by status of the dead letters that came from this topic, each linked to the filtered list."""
    changelist = reverse("admin:deadletter_deadletterrecord_changelist")
    counts = Review.objects.filter(record__original_topic=topic).order_by().values("status").annotate(n=Count("pk"))
    labels = dict(Status.choices)
    rows = [
        {
            "label": labels.get(row["status"], row["status"]),
            "n": row["n"],
            "link": f"{changelist}?{urlencode({'original_topic': topic, 'status': row['status']})}",
        }
        for row in counts
    ]
    return {
        "dead_letter_rows": rows,
        "dead_letter_total": sum(row["n"] for row in rows),
        "dead_letter_link": f"{changelist}?{urlencode({'original_topic': topic})}",
    }


RAW_HEADER_LIMIT = 4096  # characters of a header's raw value shown; stack traces run long


def _header_row(index: int, name: str, value: bytes | None, decoded: str) -> str:
    """One header: raw and decoded side by side, or once across both when they are the same text
    (a plain text header, a stack trace); an epoch-milliseconds timestamp also as a date."""
    raw = _raw_text(value)
    decoded = _with_date(name, decoded)
    if decoded == raw:
        return format_html(
            '<tr><td>{}</td><td>{}</td><td colspan="2" class="dl-same"><pre class="dl-wrap">{}</pre></td></tr>',
            index,
            name,
            raw,
        )
    return format_html(
        '<tr><td>{}</td><td>{}</td><td><pre class="dl-wrap">{}</pre></td><td><pre class="dl-wrap">{}</pre></td></tr>',
        index,
        name,
        raw,
        decoded,
    )


def _decoded_text(decoded: object) -> str:
    """A decoded header value as the page shows it: a time (x-failed-at) as every time of the portal."""
    return show_time(decoded) if isinstance(decoded, datetime) else str(decoded)


def _with_date(name: str, decoded: str) -> str:
    """A timestamp header's milliseconds since the epoch, with the date and zone they are."""
    if not name.lower().endswith("timestamp") or not decoded.isascii() or not decoded.isdigit():
        return decoded
    moment = kafka_time(int(decoded)) if len(decoded) <= 15 else None
    return f"{decoded} = {show_time(moment)}" if moment else decoded


def _raw_text(value: bytes | None) -> str:
    """A header's bytes as text when they are UTF-8 text (multi-line stack traces too), else hex."""
    if value is None:
        return "null"
    shown = display.show(value, limit=RAW_HEADER_LIMIT)
    if shown.kind == "empty":
        return ""
    if shown.kind in ("text", "json"):
        return value.decode("utf-8", "replace")[:RAW_HEADER_LIMIT] + ("..." if shown.cut else "")
    return f"0x{value[:128].hex()}" + ("..." if len(value) > 128 else "")
