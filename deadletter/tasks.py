"""The scheduled drain: the same function as the management command."""

from __future__ import annotations

import logging

import redis
from celery import shared_task
from django.conf import settings
from django.db import close_old_connections

from deadletter.drain import drain_dead_letter
from deadletter.registry_fields import fill_registry_fields

log = logging.getLogger(__name__)

LOCK_NAME = "opsportal:deadletter-drain"
LOCK_SECONDS = 900  # outlives any one run; frees itself if a worker dies holding it


@shared_task(name="deadletter.drain_dead_letter", ignore_result=True)
def drain_dead_letter_task() -> str:
    # Beat fires every 10 s; a run still draining a backlog must not be joined by a second
    # one reading the same records (harmless for the data, wasteful for the database).
    lock = redis.Redis.from_url(settings.CELERY_BROKER_URL).lock(LOCK_NAME, timeout=LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return "skipped: another drain is running"
    try:
        # A worker's connection may have died since the last run (as in django-celery-beat's scheduler).
        close_old_connections()
        # A bounded run: a huge backlog spans several runs instead of one that outlives the worker's limits.
        result = drain_dead_letter(max_records=settings.DEAD_LETTER_DRAIN_MAX_RECORDS_PER_RUN, until_empty=True)
        log.info("dead-letter drain: %s", result)
        return str(result)
    finally:
        lock.release()


@shared_task(name="deadletter.fill_registry_fields", ignore_result=True)
def fill_registry_fields_task() -> int:
    """Decode, through the Schema Registry, the wire-format dead letters the drain stored raw."""
    close_old_connections()
    return fill_registry_fields()
