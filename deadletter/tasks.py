"""The scheduled drain: the same function as the management command."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections

from deadletter.drain import drain_dead_letter

# One run takes at most this many records, so a huge backlog spans several runs
# instead of one task that outlives the worker's time limits.
DEFAULT_MAX_RECORDS_PER_RUN = 100_000


@shared_task(name="deadletter.drain_dead_letter", ignore_result=True)
def drain_dead_letter_task() -> str:
    # A worker's connection may have died since the last run (as in django-celery-beat's scheduler).
    close_old_connections()
    limit = getattr(settings, "DEAD_LETTER_DRAIN_MAX_RECORDS_PER_RUN", DEFAULT_MAX_RECORDS_PER_RUN)
    return str(drain_dead_letter(max_records=limit, until_empty=True))
