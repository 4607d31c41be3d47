"""The message browser, search and download pages (served by TopicAdmin; see topics/browse.py and search.py).

Every bad input and every Kafka failure is a message on the page, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from opsportal import kafka
from opsportal.replay_headers import REPLAY_ID, REPLAYED_FROM

from . import display, search
from .browse import (
    MAX_OFFSET,
    PAGE_SIZE,
    Bounds,
    BrowseError,
    Page,
    bounds,
    browsing,
    choose_partitions,
    clamp,
    offsets_at,
    read_one,
    starting_from,
)
from .browse import page_backward as read_backward
from .browse import page_forward as read_forward
from .models import BrowseLog, Topic

TEMPLATE = "admin/topics/messages.html"
HEADERS_SHOWN = 3  # more headers than these fold under "n more"
STARTS = {"newest": "Newest", "oldest": "Oldest", "offset": "Offset", "time": "Date-time (UTC unless a zone is given)"}


def require_browse_permission(request: HttpRequest) -> None:
    if not request.user.has_perm("topics.browse_messages"):
        raise PermissionDenied


def parse_offset(text: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise BrowseError(f"Offset {text[:40]!r} is not a whole number of 0 or more.")
    if len(text) > 19 or int(text) > MAX_OFFSET:
        raise BrowseError(f"Offset {text[:40]}… is larger than any Kafka offset (at most {MAX_OFFSET}).")
    return int(text)


def parse_time(text: str) -> int:
    """Epoch milliseconds of an ISO-8601 date-time; no zone means UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BrowseError(
            f"{text[:60]!r} is not a date-time; write it as 2026-11-24T10:00 or 2026-11-24 10:00:00Z."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.year < 1970 or moment.timestamp() < 0:
        raise BrowseError(f"{text[:60]!r} is before 1970: Kafka timestamps start at 1970-01-01T00:00Z.")
    return int(moment.timestamp() * 1000)


def parse_cursor(text: str, partitions: list[int]) -> dict[int, int]:
    """'0:120,1:98': per partition, where a page or a search continues."""
    cursor = {}
    for part in text.split(","):
        partition, _, offset = part.partition(":")
        if not partition.isdigit() or int(partition) not in partitions:
            raise BrowseError(f"Position {part[:40]!r} names no partition of this topic.")
        cursor[int(partition)] = parse_offset(offset)
    return cursor


def format_cursor(cursor: dict[int, int]) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(cursor.items()))


def _base_context(request: HttpRequest, model_admin: admin.ModelAdmin, title: str) -> dict[str, Any]:
    topic = request.GET.get("topic", "")
    mirrored = Topic.objects.filter(name=topic).values_list("pk", flat=True).first()
    return {
        **model_admin.admin_site.each_context(request),
        "opts": Topic._meta,
        "title": title,
        "topic": topic,
        "topic_url": reverse("admin:topics_topic_change", args=[mirrored]) if mirrored else "",
        "params": request.GET,
        "starts": STARTS,
        "kinds": search.KINDS,
        "browse_url": reverse("admin:topics_topic_messages"),
        "search_url": reverse("admin:topics_topic_search"),
    }


def _guarded(context: dict[str, Any], work: Callable[[], None]) -> None:
    try:
        work()
    except BrowseError as exc:
        context["error"] = str(exc)
    except kafka.KafkaClientError as exc:
        context["error"] = f"Kafka could not answer: {exc}"


def _log(request: HttpRequest, action: str, topic: str, partitions: list[int], detail: str) -> None:
    user = request.user if request.user.is_authenticated else None
    BrowseLog.objects.create(
        user=user,
        username=request.user.get_username(),
        action=action,
        topic=topic,
        partitions=",".join(map(str, partitions))[:255],
        detail=detail,
    )


def _timestamp(ms: int | None) -> str:
    """A Kafka timestamp as the portal shows every time (show_time), with the milliseconds Kafka keeps."""
    if ms is None:
        return "–"
    try:
        local = timezone.localtime(datetime.fromtimestamp(ms // 1000, tz=UTC))
    except (OverflowError, OSError, ValueError):  # a producer may set any 64-bit timestamp
        return f"{ms} ms since the epoch (out of range)"
    return local.strftime(f"%Y-%m-%d %H:%M:%S.{ms % 1000:03d} %Z")


class HeaderLinks:
    """Where a header naming a replay leads: the replay's page, or the message it was replayed from.

    The two pages' addresses are reversed once for a page of messages, not once per header.
    """

    def __init__(self) -> None:
        try:
            self.replays = reverse("admin:republish_replay_changelist")
        except NoReverseMatch:  # republish not installed: the header stays text
            self.replays = ""
        self.messages = reverse("admin:topics_topic_messages")

    def __call__(self, name: str, value: str) -> str:
        if name == REPLAY_ID and value and self.replays:
            return f"{self.replays}?{urlencode({'q': value})}"
        if name == REPLAYED_FROM:
            parts = value.rsplit("/", 2)
            if len(parts) == 3 and parts[0] and parts[1].isdigit() and parts[2].isdigit():
                at = {"topic": parts[0], "partition": parts[1], "start": "offset", "offset": parts[2]}
                return f"{self.messages}?{urlencode(at)}"
        return ""


def message_rows(records: list[kafka.Record]) -> list[dict[str, Any]]:
    download = reverse("admin:topics_topic_message_download")
    header_link = HeaderLinks()
    rows = []
    for record in records:
        query = urlencode({"topic": record.topic, "partition": record.partition, "offset": record.offset})
        value = display.show(record.value)
        headers = [(name, text, header_link(name, text)) for name, text in display.describe_headers(record.headers)]
        rows.append(
            {
                "record": record,
                "timestamp": _timestamp(record.timestamp_ms),
                "key": display.show(record.key, limit=4096),
                "value": value,
                # A compact row: a few lines of the value, the whole of it one click away.
                "preview": display.preview(value),
                "headers": headers[:HEADERS_SHOWN],
                "more_headers": headers[HEADERS_SHOWN:],
                "download_url": f"{download}?{query}",
            }
        )
    return rows


def _link(base: str, params: QueryDict, **changes: str) -> str:
    query = {k: params.get(k, "") for k in ("topic", "partition") if params.get(k)}
    return f"{base}?{urlencode({**query, **changes})}"


def messages_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    require_browse_permission(request)
    context = _base_context(request, model_admin, f"Messages of {request.GET.get('topic', '')}")
    context["mode"] = "browse"
    _guarded(context, lambda: _browse(request, context))
    return TemplateResponse(request, TEMPLATE, context)


def _browse(request: HttpRequest, context: dict[str, Any]) -> None:
    params, topic = request.GET, request.GET.get("topic", "")
    with browsing(topic) as (client, all_partitions):
        context["all_partitions"] = all_partitions
        chosen = choose_partitions(params.get("partition", "all"), all_partitions)
        known = bounds(client, topic, chosen)
        notes: list[str] = []
        backward, cursor = _start(client, params, topic, known, notes)
        page = (read_backward if backward else read_forward)(client, topic, cursor, known)
    page.notes = notes
    _show_page(request, context, page)
    if params.get("start") == "offset" and not params.get("pos") and len(chosen) == 1 and chosen[0] in cursor:
        # Highlighted and scrolled to; a partition that could not be read (its broker down) has no cursor.
        context["target"] = (chosen[0], cursor[chosen[0]])
    shown = "; ".join(f"{p}: {page.lo[p]}–{page.hi[p]}" for p in sorted(page.lo))
    _log(request, "browse", topic, chosen, f"offsets shown [from, to): {shown}")


def _start(
    client: kafka.Consumer, params: QueryDict, topic: str, known: Bounds, notes: list[str]
) -> tuple[bool, dict[int, int]]:
    """(read backward?, cursor) for the request: a continued page, or a start at newest, oldest, offset or time."""
    if params.get("pos"):
        return params.get("dir") == "backward", clamp(
            parse_cursor(params.get("pos", ""), known.partitions), known, notes
        )
    start = params.get("start", "newest")
    if start == "newest":
        return True, dict(known.end)
    if start == "oldest":
        return False, dict(known.begin)
    if start == "offset":
        offset = parse_offset(params.get("offset", ""))
        return False, clamp(dict.fromkeys(known.partitions, offset), known, notes)
    if start == "time":
        at = parse_time(params.get("at", ""))
        cursor = offsets_at(client, topic, known, at)
        for p in sorted(p for p, offset in cursor.items() if offset >= known.end[p]):
            notes.append(f"Partition {p}: no message at or after {_timestamp(at)}; starting at its end.")
        return False, cursor
    raise BrowseError(f"Start {start[:40]!r} is not one of: {', '.join(STARTS)}.")


def _show_page(request: HttpRequest, context: dict[str, Any], page: Page) -> None:
    base = context["browse_url"]
    failures = {**page.bounds.failures, **page.failures}
    context.update(
        {
            "page": page,
            "rows": message_rows(page.records),
            "notes": page.notes,
            "failures": sorted(failures.items()),
            "older_url": _link(base, request.GET, dir="backward", pos=format_cursor(page.lo)) if page.has_older else "",
            "newer_url": _link(base, request.GET, dir="forward", pos=format_cursor(page.hi)) if page.has_newer else "",
            "ranges": [
                (p, _span(page.lo[p], page.hi[p]), _span(page.bounds.begin[p], page.bounds.end[p]))
                for p in sorted(page.lo)
            ],
        }
    )


def _span(start: int, stop: int) -> str:
    """Offsets [start, stop) as people read them: "337–356", "357", or "none"."""
    if stop <= start:
        return "none"
    return str(start) if stop == start + 1 else f"{start}–{stop - 1}"


def search_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    require_browse_permission(request)
    context = _base_context(request, model_admin, f"Search the messages of {request.GET.get('topic', '')}")
    context["mode"] = "search"
    if request.GET.get("value") or request.GET.get("pos"):
        _guarded(context, lambda: _search(request, context))
    else:
        _guarded(context, lambda: _partitions_only(request, context))
    return TemplateResponse(request, TEMPLATE, context)


def _partitions_only(request: HttpRequest, context: dict[str, Any]) -> None:
    with browsing(request.GET.get("topic", "")) as (_, partitions):
        context["all_partitions"] = partitions


def _search(request: HttpRequest, context: dict[str, Any]) -> None:
    params, topic = request.GET, request.GET.get("topic", "")
    query = search.parse_query(params.get("kind", ""), params.get("value", ""), params.get("field", "").strip())
    with browsing(topic) as (client, all_partitions):
        context["all_partitions"] = all_partitions
        chosen = choose_partitions(params.get("partition", "all"), all_partitions)
        notes: list[str] = []
        known = _search_bounds(client, topic, chosen, params.get("from", ""), notes)
        cursor = (
            clamp(parse_cursor(params.get("pos", ""), known.partitions), known, notes)
            if params.get("pos")
            else known.end
        )
        before = parse_offset(params.get("scanned", "0") or "0")
        result = search.search(client, topic, cursor, known, query, settings.BROWSE_SEARCH_MAX_RECORDS)
    scanned = before + result.scanned
    context.update(
        {
            "query": query,
            "result": result,
            "page_size": PAGE_SIZE,
            "rows": message_rows(result.matches),
            "notes": notes,
            "scanned": scanned,
            "total": known.total(),
            "failures": sorted({**known.failures, **result.failures}.items()),
            "looked_down_to": sorted(result.cursor.items()),
        }
    )
    if result.stopped_by != "done":
        changes = {k: params.get(k, "") for k in ("kind", "field", "value")}
        if params.get("from"):
            changes["from"] = params.get("from", "")
        context["continue_url"] = _link(
            context["search_url"], params, **changes, pos=format_cursor(result.cursor), scanned=str(scanned)
        )
    _log(request, "search", topic, chosen, f"{query.describe()}: scanned {scanned} of {known.total()}")


def _search_bounds(client: kafka.Consumer, topic: str, chosen: list[int], lowest: str, notes: list[str]) -> Bounds:
    """The partitions' bounds; with `from` (one partition: a dead letter's newer events of its key), none below it."""
    known = bounds(client, topic, chosen)
    if not lowest:
        return known
    if len(chosen) != 1:
        raise BrowseError("A search from an offset needs one partition: offsets of different partitions are unrelated.")
    return starting_from(known, parse_offset(lowest), notes)


def download_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    """The whole value of one record, as the bytes Kafka holds."""
    require_browse_permission(request)
    context = _base_context(request, model_admin, "Download a message value")
    context["mode"] = "download"
    found: list[kafka.Record] = []

    def fetch() -> None:
        topic, partition = request.GET.get("topic", ""), request.GET.get("partition", "")
        if not partition.isdigit():
            raise BrowseError(f"Partition {partition[:40]!r} is not a partition number.")
        record = read_one(topic, int(partition), parse_offset(request.GET.get("offset", "")))
        if record is None:
            raise BrowseError(f"{topic}[{partition}] has no message at offset {request.GET.get('offset')}.")
        found.append(record)

    _guarded(context, fetch)
    if not found:
        return TemplateResponse(request, TEMPLATE, context, status=404)
    record = found[0]
    _log(request, "download", record.topic, [record.partition], f"value of offset {record.offset}")
    response = HttpResponse(record.value or b"", content_type="application/octet-stream")
    filename = f"{record.topic}-{record.partition}-{record.offset}.bin"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
