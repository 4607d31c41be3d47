"""The beat job that thins out lag history (overview/lag.py: downsample)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from . import lag, tally

DOWNSAMPLE_TASK = "overview.tasks.downsample_lag_history"


@shared_task(name=DOWNSAMPLE_TASK, ignore_result=True)
def downsample_lag_history() -> dict:
    return asdict(lag.downsample())


TALLY_TASK = "overview.tasks.tally_dead_letters"


@shared_task(name=TALLY_TASK, ignore_result=True)
def tally_dead_letters() -> dict:
    """Add the dead letters drained since the last run to the running tallies (overview/tally.py)."""
    return asdict(tally.catch_up())
