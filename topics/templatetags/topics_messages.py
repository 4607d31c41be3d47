"""{% message_row row target %}: one message of the browser or a search, as a table row.

Written with format_html, as Django's admin writes its change list's cells: the template engine
took 7 ms for a page's 50 rows (headers and value each a few nested tags), a third of the page.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


def _header_value(value: str, url: str) -> SafeString:
    if url:
        return format_html('<a class="header-link" href="{}">{}</a>', url, value)
    return format_html("<span>{}</span>", value)


def _headers(headers: list[tuple[str, str, str]]) -> SafeString:
    return format_html_join(
        "",
        '<div class="header"><strong>{}</strong>: {}</div>',
        ((name, _header_value(value, url)) for name, value, url in headers),
    )


def _more_headers(headers: list[tuple[str, str, str]]) -> SafeString:
    if not headers:
        return mark_safe("")
    return format_html(
        '<details class="more-headers"><summary>{} more header{}</summary>{}</details>',
        len(headers),
        "" if len(headers) == 1 else "s",
        _headers(headers),
    )


def _key(row: dict[str, Any]) -> SafeString:
    key = row["key"]
    return mark_safe("<em>null</em>") if key.kind == "null" else format_html("<pre>{}</pre>", key.text)


def _value(row: dict[str, Any]) -> SafeString:
    value = row["value"]
    note = format_html('<p class="schema-note">{}</p>', value.note) if value.note else ""
    if value.kind in ("null", "empty"):
        shown = format_html("<em>{}</em>", value.kind)
    elif row["preview"]:
        shown = format_html(
            '<details class="value-more"><summary><code class="value-preview">{}</code></summary>'
            "<pre>{}</pre></details>",
            row["preview"],
            value.text,
        )
    else:
        shown = format_html("<pre>{}</pre>", value.text)
    cut = (
        format_html(
            '<p class="cut-note">Cut: the first 256 KiB of {} shown. '
            '<a href="{}" class="download-link">Download the whole value</a></p>',
            filesizeformat(value.size),
            row["download_url"],
        )
        if value.cut
        else ""
    )
    return format_html("{}{}{}", note, shown, cut)


@register.simple_tag
def message_row(row: dict[str, Any], target: tuple[int, int] | None = None) -> SafeString:
    record = row["record"]
    arrived_at = target is not None and (record.partition, record.offset) == tuple(target)
    return format_html(
        '<tr class="message" data-partition="{}" data-offset="{}"{}>'
        "<td>{} / {}</td>"
        '<td class="time">{}</td>'
        '<td class="key key-{}">{}</td>'
        '<td class="headers">{}{}</td>'
        '<td class="value value-{}">{}</td>'
        "</tr>",
        record.partition,
        record.offset,
        mark_safe(' id="target-message"') if arrived_at else "",
        record.partition,
        record.offset,
        row["timestamp"],
        row["key"].kind,
        _key(row),
        _headers(row["headers"]),
        _more_headers(row["more_headers"]),
        row["value"].kind,
        _value(row),
    )
