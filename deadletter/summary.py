"""The summary page's figures: the dead-letter list's own filters, grouped by failure and origin.

The records are the list's (its filters, search and date hierarchy, built by the list's own
ChangeList), restricted to the records still open unless the request chooses a status.
Their Reviews are grouped, which carry the record's fingerprint, topic and timestamp: with no
filter but the status the wide records table is never read, and with one only the ids the
list's index finds (docs/performance.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Count, Max, Min, QuerySet
from django.http import HttpRequest, QueryDict
from django.urls import reverse

from deadletter.models import DeadLetterRecord, Review, Status
from opsportal.admin_mixins import OfferedLookupsChangeList

if TYPE_CHECKING:
    from django.contrib import admin

# Work left to do: a record republished or discarded is no longer a reason to look at its error.
OPEN = (Status.NEW, Status.IN_REVIEW, Status.FAILED)
# The list's status filter value for all of OPEN: the summary's tables count these, and link here.
OPEN_CHOICE = "open"
TOP = 100


def statuses(value: str) -> tuple[str, ...]:
    """The Review statuses a status filter value stands for: itself, or every OPEN one."""
    return tuple(OPEN) if value == OPEN_CHOICE else (value,)


class SummaryChangeList(OfferedLookupsChangeList):
    """The list's filters without its page: no rows fetched, no count."""

    def get_results(self, request: HttpRequest) -> None:
        self.result_count = self.full_result_count = 0
        self.result_list = []


def filtered(model_admin: admin.ModelAdmin[Any], request: HttpRequest) -> QuerySet[DeadLetterRecord]:
    return model_admin.get_changelist_instance(request).queryset.order_by()


def context(records: QuerySet[DeadLetterRecord], request: HttpRequest) -> dict[str, Any]:
    chosen = request.GET.get("status")
    groups = _groups(records, request.GET)
    shown = groups if chosen is not None else [g for g in groups if g["status"] in OPEN]
    return {
        "statuses": _by_status(groups, request.GET),
        "status_chosen": {**dict(Status.choices), OPEN_CHOICE: "open"}.get(chosen or ""),
        "open_labels": ", ".join(str(status.label).lower() for status in OPEN),
        "fingerprints": _by_fingerprint(shown, request.GET),
        "topics": _by_topic(shown, request.GET),
        "list_url": _link(request.GET),
        "filtered": _filtered(request.GET),
    }


def _groups(records: QuerySet[DeadLetterRecord], query: QueryDict) -> list[dict[str, Any]]:
    """One scan of the filtered records' Reviews, grouped by failure, origin and status (a few
    thousand groups at most); the three tables are sums of these, not three more scans."""
    reviews = Review.objects.order_by()
    if "status" in query:
        reviews = reviews.filter(status__in=statuses(query.get("status", "")))
    if _filtered(query):
        reviews = reviews.filter(record__in=records.values("pk"))
    rows = reviews.values("fingerprint", "original_topic", "status").annotate(
        n=Count("pk"), first=Min("timestamp"), last=Max("timestamp")
    )
    return [dict(row) for row in rows]


def _filtered(query: QueryDict) -> bool:
    """Filtered by more than the status (which is the Review's own)."""
    return any(name != "status" for name in query)


def _link(query: QueryDict, **params: str) -> str:
    """The dead-letter list with the summary's own filters, and these."""
    merged = query.copy()
    for name, value in params.items():
        merged[name] = value
    changelist = reverse("admin:deadletter_deadletterrecord_changelist")
    return f"{changelist}?{merged.urlencode()}" if merged else changelist


def _scope(query: QueryDict) -> dict[str, str]:
    """What the failure and topic tables count: the status chosen, else the open records (so a
    link shows exactly the records its figure counts, not the republished and discarded too)."""
    return {} if "status" in query else {"status": OPEN_CHOICE}


def _sum(groups: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Counts, first and last seen per value of key, most records first."""
    totals: dict[str, dict[str, Any]] = {}
    for group in groups:
        total = totals.setdefault(group[key], {key: group[key], "n": 0, "first": None, "last": None})
        total["n"] += group["n"]
        if group["first"] is not None and (total["first"] is None or group["first"] < total["first"]):
            total["first"] = group["first"]
        if group["last"] is not None and (total["last"] is None or group["last"] > total["last"]):
            total["last"] = group["last"]
    return sorted(totals.values(), key=lambda total: (-total["n"], total[key] or ""))


def _by_status(groups: list[dict[str, Any]], query: QueryDict) -> list[dict[str, Any]]:
    labels = dict(Status.choices)
    return [
        {
            "label": labels.get(row["status"], row["status"]),
            "n": row["n"],
            "link": _link(query, status=row["status"]),
        }
        for row in _sum(groups, "status")
    ]


def _by_fingerprint(groups: list[dict[str, Any]], query: QueryDict) -> list[dict[str, Any]]:
    """The TOP failures; their texts read once per failure (one index probe each)."""
    top = _sum(groups, "fingerprint")[:TOP]
    for group in top:
        sample = (
            DeadLetterRecord.objects.filter(fingerprint=group["fingerprint"])
            .order_by()
            .values("error_type", "fingerprint_text")
            .first()
        ) or {"error_type": "", "fingerprint_text": ""}
        group.update(sample)
        group["link"] = _link(query, fingerprint=group["fingerprint"], **_scope(query))
    return top


def _by_topic(groups: list[dict[str, Any]], query: QueryDict) -> list[dict[str, Any]]:
    return [
        {**row, "link": _link(query, original_topic=row["original_topic"], **_scope(query))}
        for row in _sum(groups, "original_topic")[:TOP]
    ]
