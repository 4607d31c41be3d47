"""Every time the portal prints says its zone, so it can be read beside a broker log or a dashboard."""

from __future__ import annotations

from datetime import UTC, datetime

from django.template import Context, Template
from django.utils import formats


def test_a_time_in_a_page_says_its_zone():
    moment = datetime(2026, 12, 1, 21, 5, 7, tzinfo=UTC)

    assert Template("{{ moment }}").render(Context({"moment": moment})) == "2026-12-01 21:05:07 UTC"
    assert formats.date_format(moment, "SHORT_DATETIME_FORMAT") == "2026-12-01 21:05 UTC"
