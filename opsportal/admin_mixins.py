"""ModelAdmin behaviour every app of the portal shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

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


class ForbiddenActionMixin(_ModelAdmin):
    """Django silently ignores a posted action the user may not run; here it is a 403."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        name = request.POST.get("action") if request.method == "POST" else None
        if name:
            # Django has no public list of every action a page defines, allowed or not.
            known = {action_name for _func, action_name, _desc in self._get_base_actions()}  # type: ignore[attr-defined]
            if name in known and name not in self.get_actions(request):
                raise PermissionDenied
        return super().changelist_view(request, extra_context)


def operator(request: HttpRequest) -> User:
    """The signed-in operator; admin views let no anonymous user this far."""
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user
