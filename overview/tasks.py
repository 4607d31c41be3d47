"""The beat job that thins out lag history (overview/lag.py: downsample)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from . import lag

DOWNSAMPLE_TASK = "overview.tasks.downsample_lag_history"


@shared_task(name=DOWNSAMPLE_TASK, ignore_result=True)
def downsample_lag_history() -> dict:
    return asdict(lag.downsample())
