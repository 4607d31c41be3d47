"""The beat job and the admin's "Sync now": the same sync_cluster() the command runs."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import redis
from celery import shared_task
from django.conf import settings
from redis.exceptions import LockError

from opsportal.kafka import KafkaClientError

from .sync import sync_cluster

log = logging.getLogger(__name__)

TASK_NAME = "topics.tasks.sync_cluster_task"
# Held from "Sync now" until that sync ends, so viewers cannot pile syncs up; it frees
# itself if the queued task is lost (a worker killed, the queue purged).
QUEUED_LOCK = "opsportal:mirror-sync-queued"
QUEUED_SECONDS = 600


def _queued_lock(token: str | None = None) -> Any:
    lock = redis.Redis.from_url(settings.CELERY_BROKER_URL).lock(QUEUED_LOCK, timeout=QUEUED_SECONDS)
    if token is not None:
        lock.local.token = token.encode()
    return lock


def queue_sync() -> bool:
    """Queue one sync unless an asked-for sync is already queued or running (then False)."""
    lock = _queued_lock()
    if not lock.acquire(blocking=False):
        return False
    try:
        sync_cluster_task.delay(queued_token=lock.local.token.decode())
    except Exception:
        lock.release()
        raise
    return True


def release_queued(token: str) -> None:
    """End the hold of the sync queued with this token; a newer hold is left alone."""
    try:
        _queued_lock(token).release()
    except LockError:
        pass  # expired, or taken by a newer request: not ours to end


@shared_task(name=TASK_NAME, ignore_result=True)
def sync_cluster_task(queued_token: str | None = None) -> dict[str, Any]:
    try:
        result = sync_cluster()
    except KafkaClientError as exc:
        # No retry: the next scheduled run (30 s) is the retry, and a backlog of retries would pile up.
        log.warning("cluster mirror not synced: %s", exc)
        return {"ok": False, "error": str(exc)}
    finally:
        if queued_token is not None:
            release_queued(queued_token)
    log.info("%s", result.summary())
    return {"ok": True} | asdict(result)
