"""{% overview_panel %}: the overview at the top of the admin's index (templates/admin/index.html)."""

from __future__ import annotations

from typing import Any

from django import template

from overview import figures

register = template.Library()


@register.inclusion_tag("overview/panel.html", takes_context=True)
def overview_panel(context: dict[str, Any]) -> dict[str, Any]:
    return {"overview": figures.build(), "request": context.get("request")}
