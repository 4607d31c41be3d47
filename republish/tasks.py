from __future__ import annotations

from celery import shared_task

from . import runner


@shared_task(name="republish.run_replay_job", acks_late=False)
def run_replay_job(job_id: int) -> str:
    # acks_late off: a redelivered task must never start a second run of a job;
    # run_job's conditional claim guards against that too.
    return runner.run_job(job_id).summary()
