"""Rows for the review-desk tests, stored exactly as the drain stores them."""

from __future__ import annotations

from datetime import UTC, datetime

from deadletter.models import DeadLetterRecord
from deadletter.rows import build_row
from opsportal.kafka import Headers, Record

RECORD_PAGE = "admin:deadletter_deadletterrecord_change"
CHANGELIST = "admin:deadletter_deadletterrecord_changelist"


def store(offset: int, key: bytes | None, value: bytes | None, headers: Headers) -> DeadLetterRecord:
    record = Record("billing.dead-letter", 0, offset, 1764000000000 + offset, key, value, tuple(headers))
    row = build_row(record, datetime.now(UTC))
    row.save()
    return row
