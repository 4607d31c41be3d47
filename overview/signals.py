"""Record lag history after each mirror sync: a SyncRun row is written last, inside the sync's
transaction, so its post_save is the sync's "done". The points are written once that commits,
and a failure there is logged, never undoes the sync."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from topics.models import SyncRun

from . import lag

log = logging.getLogger(__name__)


@receiver(post_save, sender=SyncRun, dispatch_uid="overview.record_lag_after_sync")
def record_lag_after_sync(sender: type[SyncRun], instance: SyncRun, created: bool, **kwargs: Any) -> None:
    if created:
        transaction.on_commit(lambda: _record(instance))


def _record(run: SyncRun) -> None:
    try:
        lag.record(run.finished_at)
    except DatabaseError:
        log.exception("lag history not recorded for the sync at %s", run.finished_at)
