"""{% overview_panel %}: the overview at the top of the admin's index (templates/admin/index.html)."""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib import admin

from overview import figures
from topics.models import Topic

register = template.Library()


@register.inclusion_tag("overview/panel.html", takes_context=True)
def overview_panel(context: dict[str, Any]) -> dict[str, Any]:
    request = context.get("request")
    # "Sync now" for whoever the topics list offers it to: its view is the one the button posts to.
    can_sync = request is not None and admin.site.get_model_admin(Topic).has_view_permission(request)
    return {"overview": figures.build(), "request": request, "can_sync": can_sync}
