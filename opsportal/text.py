"""Where a long name may wrap in a narrow cell: after a dot, before "[" or "@", and between the words
of a CamelCase name, so "billing.transaction.events" or "DataIntegrityViolationException" wraps between
its words, never inside one ("billing.transaction.e vents")."""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_BREAK = re.compile(r"(?<=\.)(?=.)|(?<=.)(?=[\[@])|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def breakable(text: object) -> SafeString:
    """The text escaped, with <wbr> where it may break (the browser breaks there only when it must)."""
    return mark_safe("<wbr>".join(escape(part) for part in _BREAK.split(str(text))))
