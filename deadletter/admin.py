"""The review side: a list that stays fast at millions of rows, a record page, a summary.

Everything read from Kafka is read-only; people edit only the assignee, the triage
status and the notes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, tzinfo
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import Count, F, Max, Min, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.timesince import timesince

from deadletter import decoders, pg
from deadletter.models import TRIAGE_STATUSES, DeadLetterRecord, Review, Status

# Below this the exact COUNT(*) is cheap, and an estimate would look wrong on a small table.
ESTIMATE_ABOVE = 100_000
DISTINCT_LIMIT = 200
DUMP_LIMIT = 64 * 1024  # bytes shown of a large value; the rest is summarised


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
        return Status.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value is None else queryset.filter(review__status=value)


class ReviewForm(forms.ModelForm):
    """The record page's form: the triage status is the Review's, edited here beside the
    assignee and the notes (save_model writes each where it lives)."""

    status = forms.ChoiceField(choices=[(s.value, s.label) for s in TRIAGE_STATUSES])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "status" in self.fields:
            self.initial.setdefault("status", self.instance.status)

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


# --- how raw bytes are shown -----------------------------------------------------------------


def hex_dump(data: bytes) -> str:
    """Offset, hex bytes and printable text, 16 bytes a line, like hexdump -C."""
    lines = []
    for start in range(0, min(len(data), DUMP_LIMIT), 16):
        chunk = data[start : start + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{start:08x}  {chunk.hex(' '):<47}  |{text}|")
    if len(data) > DUMP_LIMIT:
        lines.append(f"... {len(data) - DUMP_LIMIT} more bytes")
    return "\n".join(lines)


def show_bytes(data: bytes | memoryview | None) -> str:
    if data is None:
        return format_html("<em>null</em>")
    data = bytes(data)
    if not data:
        return format_html("<em>empty (0 bytes)</em>")
    if len(data) <= DUMP_LIMIT:
        try:
            pretty = json.dumps(json.loads(data), indent=2, ensure_ascii=False)
            return format_html('<pre class="dl-json">{}</pre>', pretty)
        except (ValueError, RecursionError):
            pass
    return format_html('<pre class="dl-hex">{}</pre>', hex_dump(data))


# --- the ModelAdmin ---------------------------------------------------------------------------

KAFKA_FIELDS = [
    field.name
    for field in DeadLetterRecord._meta.fields
    if field.name not in ("id", "assignee", "notes", "key", "value", "headers", "stack_trace")
]
HEAVY_FIELDS = ("key", "value", "headers", "stack_trace", "error_message", "decode_error")


@admin.register(DeadLetterRecord)
class DeadLetterRecordAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "status",
        "age",
        "original_topic",
        "error_type",
        "account_id",
        "event_type",
        "short_fingerprint",
        "convention",
        "assignee",
        "failed_again",
    )
    list_filter = (
        StatusFilter,
        "failed_again",
        values_filter("original_topic", "original topic"),
        "convention",
        values_filter("error_type", "error type"),
    )
    list_select_related = ("assignee", "review")
    form = ReviewForm
    search_fields = ("=key_text", "=event_id", "=account_id", "error_message")
    date_hierarchy = "timestamp"
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    change_list_template = "admin/deadletter/deadletterrecord/change_list.html"
    readonly_fields = (*KAFKA_FIELDS, "key_shown", "value_shown", "headers_table", "stack_trace_folded", "replay_id")
    fieldsets = (
        ("Review", {"fields": ("status", "assignee", "notes")}),
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
                    "failed_at",
                    "decode_error",
                )
            },
        ),
        (
            "Origin",
            {
                "fields": (
                    "convention",
                    "original_topic",
                    "original_partition",
                    "original_offset",
                    "original_timestamp_ms",
                    "consumer_group",
                )
            },
        ),
        (
            "Event",
            {"fields": ("event_id", "event_type", "account_id", "correlation_id", "saga_id", "amount", "currency")},
        ),
        (
            "Dead-letter record",
            {
                "fields": (
                    ("dlq_topic", "partition", "offset"),
                    ("timestamp", "drained_at"),
                    ("key_size", "value_size"),
                    "key_text",
                    "key_shown",
                    "value_shown",
                    "headers_table",
                )
            },
        ),
        ("Republish", {"fields": ("replay_id", "returned_replay_id", "failed_again")}),
    )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # Lists linked or bookmarked before the status moved to Review filtered by ?status__exact=.
        if "status__exact" in request.GET:
            query = request.GET.copy()
            query["status"] = query.pop("status__exact")[-1]
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        return super().changelist_view(request, extra_context)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        queryset = RangeDatesQuerySet(model=queryset.model, query=queryset.query, using=queryset.db)
        match = request.resolver_match
        if match is not None and match.url_name and match.url_name.endswith("changelist"):
            # A list row never needs the bytes: a page of 1 MiB values would be 100 MiB.
            queryset = queryset.defer(*HEAVY_FIELDS)
        return queryset

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
            fields += ("status",)  # republish and discard own these states, not triage
        return fields

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # The summary page links to the list filtered by fingerprint.
        # Django 5.2 still accepts request=None; django-stubs types the later, required argument.
        return lookup == "fingerprint" or super().lookup_allowed(lookup, value, request)  # type: ignore[arg-type]

    # --- list columns ---

    @admin.display(description="status", ordering="review__status")
    def status(self, obj: DeadLetterRecord) -> str:
        return obj.review.get_status_display()

    @admin.display(description="replay id")
    def replay_id(self, obj: DeadLetterRecord) -> str:
        return str(obj.review.replay_id or "-")

    @admin.display(description="age", ordering="timestamp")
    def age(self, obj: DeadLetterRecord) -> str:
        return timesince(obj.timestamp) if obj.timestamp else "-"

    @admin.display(description="fingerprint", ordering="fingerprint")
    def short_fingerprint(self, obj: DeadLetterRecord) -> str:
        return obj.fingerprint[:8]

    # --- record page ---

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
        return format_html("<details><summary>{}</summary><pre>{}</pre></details>", first, obj.stack_trace)

    @admin.display(description="headers (in record order)")
    def headers_table(self, obj: DeadLetterRecord) -> str:
        rows = [
            (index, name, _raw_text(value), decoders.describe_header(obj.convention, name, value))
            for index, (name, value) in enumerate(obj.raw_headers(), start=1)
        ]
        if not rows:
            return "no headers"
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>", rows)
        return format_html(
            "<table><thead><tr><th>#</th><th>name</th><th>raw</th><th>decoded</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            body,
        )

    # --- summary page ---

    def get_urls(self) -> list[URLPattern]:
        summary = path("summary/", self.admin_site.admin_view(self.summary_view), name="deadletter_summary")
        return [summary, *super().get_urls()]

    def summary_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        records = DeadLetterRecord.objects.order_by()
        changelist = reverse("admin:deadletter_deadletterrecord_changelist")

        def link(**params: str) -> str:
            return f"{changelist}?{urlencode(params)}"

        by_fingerprint = records.values("fingerprint", "error_type", "fingerprint_text").annotate(n=Count("id"))
        by_topic = records.values("original_topic").annotate(n=Count("id")).order_by("-n")
        by_status = Review.objects.order_by().values("status").annotate(n=Count("pk")).order_by("-n")
        labels = dict(Status.choices)
        context = {
            **self.admin_site.each_context(request),
            "title": "Dead letters: summary",
            "opts": self.model._meta,
            "fingerprints": [
                {**row, "link": link(fingerprint=row["fingerprint"])} for row in by_fingerprint.order_by("-n")[:100]
            ],
            "topics": [{**row, "link": link(original_topic=row["original_topic"])} for row in by_topic[:100]],
            "statuses": [
                {**row, "label": labels.get(row["status"], row["status"]), "link": link(status=row["status"])}
                for row in by_status
            ],
            "changelist": changelist,
        }
        return TemplateResponse(request, "admin/deadletter/summary.html", context)


def _raw_text(value: bytes | None) -> str:
    if value is None:
        return "null"
    try:
        text = value.decode("utf-8")
        if text.isprintable():
            return text if len(text) <= 300 else text[:300] + "..."
    except UnicodeDecodeError:
        pass
    return f"0x{value[:128].hex()}" + ("..." if len(value) > 128 else "")
