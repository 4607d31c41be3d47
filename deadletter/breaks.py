"""Where a long name may wrap in a narrow column: after a dot, before "[" or "@", and between
the words of a CamelCase name, so a column wraps between words and never in the middle of one."""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_BREAK = re.compile(r"(?<=\.)(?=.)|(?<=.)(?=[\[@])|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def breakable(text: str) -> SafeString:
    """The text escaped, with <wbr> where it may break (the browser breaks there only when it must)."""
    return mark_safe("<wbr>".join(escape(part) for part in _BREAK.split(text)))
