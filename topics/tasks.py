"""The beat job and the admin's "Sync now": the same sync_cluster() the command runs."""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import shared_task

from opsportal.kafka import KafkaClientError

from .sync import sync_cluster

log = logging.getLogger(__name__)

TASK_NAME = "topics.tasks.sync_cluster_task"


@shared_task(name=TASK_NAME, ignore_result=True)
def sync_cluster_task() -> dict:
    try:
        result = sync_cluster()
    except KafkaClientError as exc:
        # No retry: the next scheduled run (30 s) is the retry, and a backlog of retries would pile up.
        log.warning("cluster mirror not synced: %s", exc)
        return {"ok": False, "error": str(exc)}
    log.info("%s", result.summary())
    return {"ok": True} | asdict(result)
