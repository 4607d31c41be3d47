from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from opsportal.text import breakable as _breakable

register = template.Library()


@register.filter
def breakable(text: object) -> SafeString:
    """{{ topic|breakable }}: escaped, with <wbr> after each dot (opsportal/text.py)."""
    return _breakable(text)
