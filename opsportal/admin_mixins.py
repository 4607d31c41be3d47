"""ModelAdmin behaviour every app of the portal shares."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import AutoField, IntegerField
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone

# Typed as what it is mixed into, so mypy checks its super() calls.
if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object


class ReadOnlyMixin:
    """Rows written by the portal itself (mirror, audit): nobody adds, edits or deletes them by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LookupNotOffered(Exception):
    """A list URL asked for a lookup the page does not offer (see OfferedLookupsChangeList)."""

    def __init__(self, names: set[str]) -> None:
        super().__init__(", ".join(sorted(names)))
        self.names = names


class OfferedLookupsChangeList(ChangeList):
    """Only the list filters, the date hierarchy and the search the page shows.

    Django applies every query parameter no filter consumed as an ORM lookup
    (`?error_message__regex=...`): here those are refused before any query runs."""

    def get_filters(self, request: HttpRequest) -> Any:
        asked = set(self.get_filters_params())
        result = super().get_filters(request)
        remaining = set(result[2])
        hierarchy = self.date_hierarchy
        if hierarchy and asked & {f"{hierarchy}__{part}" for part in ("year", "month", "day")}:
            remaining -= {f"{hierarchy}__gte", f"{hierarchy}__lt"}  # the bounds Django derives from them
        if remaining:
            raise LookupNotOffered(remaining)
        return result


def _is_row_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and 0 < int(value) < 2**63


def _valid_ids(admin_: admin.ModelAdmin[Any], values: list[str]) -> bool:
    """Every posted selection is a primary key the database column can hold."""
    pk = admin_.model._meta.pk
    if not isinstance(pk, AutoField | IntegerField):
        return True
    _low, high = connection.ops.integer_field_range(pk.get_internal_type())
    return all(_is_row_id(value) and int(value) <= (high or 2**63 - 1) for value in values)


class OfferedLookupsMixin(_ModelAdmin):
    """Bad list input is a message on the list, never a 500: lookups the page does not offer,
    and action selections that are not ids (`_selected_action=abc`, a 30-digit id)."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return OfferedLookupsChangeList

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "POST" and request.POST.get("action"):
            selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
            index = request.POST.get("index", "0")
            if not _valid_ids(self, selected) or not index.isdigit() or len(index) > 6:
                self.message_user(request, "The selection is not a list of records: nothing was done.", messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
        try:
            return super().changelist_view(request, extra_context)
        except LookupNotOffered as refused:
            query = request.GET.copy()
            for name in refused.names:
                query.pop(name, None)
            self.message_user(
                request, f"This list cannot be filtered by {refused}: showing it without.", messages.ERROR
            )
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}" if query else request.path)


class ForbiddenActionMixin(OfferedLookupsMixin):
    """Django silently ignores a posted action the user may not run; here it is a 403."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        name = request.POST.get("action") if request.method == "POST" else None
        if name:
            # Django has no public list of every action a page defines, allowed or not.
            known = {action_name for _func, action_name, _desc in self._get_base_actions()}  # type: ignore[attr-defined]
            if name in known and name not in self.get_actions(request):
                raise PermissionDenied
        return super().changelist_view(request, extra_context)


def show_time(moment: datetime | None) -> str:
    """A time as every page of the portal shows it: to the second, with its zone."""
    if moment is None:
        return "-"
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z")


def operator(request: HttpRequest) -> User:
    """The signed-in operator; admin views let no anonymous user this far."""
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user
