"""Bulk republish as a Celery job: chunks, a progress row, a rate limit, four-eyes approval."""

from __future__ import annotations

import base64
import gc
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import closing

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from deadletter.models import DeadLetterRecord, Review
from opsportal import cyclic_gc
from opsportal.kafka import KafkaClientError

from . import sql
from .models import AuditEntry, ReplayJob
from .outbox import REPUBLISHABLE
from .publish import (
    Edit,
    InFlight,
    Outcome,
    RepublishRefused,
    Source,
    Targets,
    load_sources,
    republish_producer,
    start_republish,
)

CHUNK_SIZE = 5000
COLLECT_EVERY_CHUNKS = 50
TARGETS_MAX_AGE = 10.0  # seconds; brokers that stop or return mid-job are noticed


def needs_approval(target_topics: set[str]) -> bool:
    """Four-eyes: republishing to these topics waits for a second operator."""
    return settings.OPSPORTAL_FOUR_EYES and bool(target_topics & set(settings.OPSPORTAL_FOUR_EYES_TOPICS))


def create_job(
    record_ids: list[int],
    *,
    user,
    target_topic: str = "",
    rate_limit=None,
    edit: Edit | None = None,
    awaiting_approval: bool = False,
    note: str = "",
) -> ReplayJob:
    job = ReplayJob.objects.create(
        record_ids=list(record_ids),
        total=len(record_ids),
        target_topic=target_topic,
        rate_limit=rate_limit,
        requested_by=user,
        edit=_encode_edit(edit),
        state=ReplayJob.State.AWAITING_APPROVAL if awaiting_approval else ReplayJob.State.QUEUED,
    )
    # The request itself is audited; each chunk the job sends is audited again with its replay ids.
    AuditEntry.objects.create(
        user=user,
        action=AuditEntry.Action.EDITED_REPUBLISH if edit else AuditEntry.Action.BULK_REPUBLISH,
        record_ids=list(record_ids),
        target_topic=target_topic,
        outcome=f"requested republish job {job.pk} of {job.total} record(s)"
        + (f" ({note})" if note else "")
        + (", waiting for a second operator's approval" if awaiting_approval else ""),
        details={"diff": edit.diff} if edit else {},
    )
    return job


def _encode_edit(edit: Edit | None) -> dict:
    if edit is None:
        return {}
    return {
        "value": None if edit.value is None else base64.b64encode(edit.value).decode(),
        "headers": [[n, None if v is None else base64.b64encode(v).decode()] for n, v in edit.headers],
        "diff": edit.diff,
    }


def _decode_edit(data: dict) -> Edit | None:
    if not data:
        return None
    value = None if data["value"] is None else base64.b64decode(data["value"])
    headers = [(n, None if v is None else base64.b64decode(v)) for n, v in data["headers"]]
    return Edit(value=value, headers=headers, diff=data["diff"])


def approve(job: ReplayJob, *, user) -> None:
    """A second operator's approval queues the job; the requester cannot approve their own."""
    if job.requested_by_id == user.pk:
        raise RepublishRefused("four-eyes: a second operator must approve this republish, not its requester")
    updated = ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.AWAITING_APPROVAL).update(
        state=ReplayJob.State.QUEUED, approved_by=user
    )
    if not updated:
        raise RepublishRefused(f"job {job.pk} is not awaiting approval")
    AuditEntry.objects.create(
        user=user,
        action=AuditEntry.Action.APPROVE,
        record_ids=job.record_ids[:1000],
        target_topic=job.target_topic,
        outcome=f"approved republish job {job.pk} of {job.total} record(s)",
    )


def reject(job: ReplayJob, *, user) -> None:
    """Any operator may turn a waiting request down (the requester too: that is cancelling it)."""
    updated = ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.AWAITING_APPROVAL).update(
        state=ReplayJob.State.REJECTED, finished_at=timezone.now(), skipped=job.total
    )
    if not updated:
        raise RepublishRefused(f"job {job.pk} is not awaiting approval")
    AuditEntry.objects.create(
        user=user,
        action=AuditEntry.Action.REJECT,
        record_ids=job.record_ids[:1000],
        target_topic=job.target_topic,
        outcome=f"rejected republish job {job.pk} of {job.total} record(s); nothing was sent",
    )


def rest_of(job: ReplayJob, *, user) -> ReplayJob:
    """A new job for what a stopped job did not get to: its rows still republishable, in its order.

    Rows it left publishing are not in it (they may have been written: reconcile
    settles them), nor rows republished or discarded since. Four-eyes applies as
    to any new job.
    """
    if job.state == ReplayJob.State.RUNNING:
        stop_if_abandoned(job)  # reads the job again: someone else may have stopped it meanwhile
    if job.state == ReplayJob.State.RUNNING:
        raise RepublishRefused(
            f"job {job.pk} is running: only a stopped job has a rest; one that settles nothing for "
            f"{settings.REPUBLISH_JOB_ABANDONED_AFTER:g} s counts as stopped"
        )
    if job.state != ReplayJob.State.STOPPED:
        raise RepublishRefused(f"job {job.pk} is {job.get_state_display().lower()}: only a stopped job has a rest")
    still = set()
    for chunk in chunks(job.record_ids, CHUNK_SIZE):
        rows = sql.by_ids(Review.objects.filter(status__in=REPUBLISHABLE), chunk)
        still.update(rows.values_list("pk", flat=True))
    remaining = [pk for pk in job.record_ids if pk in still]
    if not remaining:
        raise RepublishRefused(
            f"job {job.pk} left nothing to republish; rows it left publishing are settled by reconcile"
        )
    topics = {job.target_topic}
    if not job.target_topic:
        topics = set(
            sql.by_ids(DeadLetterRecord.objects.all(), remaining[:CHUNK_SIZE])
            .values_list("original_topic", flat=True)
            .distinct()
        )
    return create_job(
        remaining,
        user=user,
        target_topic=job.target_topic,
        rate_limit=job.rate_limit,
        edit=_decode_edit(job.edit),
        awaiting_approval=needs_approval(topics),
        note=f"the rest of stopped job {job.pk}",
    )


def stop_if_abandoned(job: ReplayJob) -> bool:
    """Mark stopped a running job whose worker was lost (killed outright, its machine gone): it
    would never say so itself. Only while its progress time is still the old one, so a job that
    settled a chunk meanwhile keeps running. If it was alive after all, nothing goes out twice:
    every claim checks each row's status."""
    job.refresh_from_db()  # decided on what the database says now, not on what a page showed
    if not job.seems_abandoned():
        return False
    stopped = ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.RUNNING, progress_at=job.progress_at).update(
        state=ReplayJob.State.STOPPED,
        finished_at=timezone.now(),
        last_error=f"stopped: nothing settled since {job.last_moved_at:%Y-%m-%d %H:%M:%S} UTC; its worker was lost",
    )
    job.refresh_from_db()
    return bool(stopped)


def chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def run_job(job_id: int) -> Outcome:
    """Run a queued job once. Claiming it with a conditional update means a second
    worker (or a redelivered task) finds nothing to do instead of publishing twice."""
    now = timezone.now()
    claimed = ReplayJob.objects.filter(pk=job_id, state=ReplayJob.State.QUEUED).update(
        state=ReplayJob.State.RUNNING, started_at=now, progress_at=now
    )
    if not claimed:
        return Outcome()
    job = ReplayJob.objects.select_related("requested_by").get(pk=job_id)
    try:
        outcome = _run_chunks(job)
    except JobNoLongerRunning:
        return Outcome()  # stopped elsewhere (as abandoned): it keeps the reason given there
    except Exception as exc:
        # Whatever stopped the job, it must not look as if it were still running.
        ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.RUNNING).update(
            state=ReplayJob.State.STOPPED, finished_at=timezone.now(), last_error=f"stopped: {exc}"
        )
        raise
    # Only while running: a job stopped as abandoned (wrongly: it was alive) stays stopped.
    ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.RUNNING).update(
        state=ReplayJob.State.FINISHED, finished_at=timezone.now()
    )
    return outcome


def _run_chunks(job: ReplayJob) -> Outcome:
    total = Outcome()
    edit = _decode_edit(job.edit)
    producer = republish_producer()
    targets = None
    size = min(CHUNK_SIZE, job.rate_limit or CHUNK_SIZE)
    started, sent = time.monotonic(), 0
    settler = ChunkSettler(job, total)
    with cyclic_gc.paused(), closing(loaded_ahead(chunks(job.record_ids, size))) as loaded:
        try:
            for number, (chunk, sources) in enumerate(loaded, start=1):
                if targets is None or time.monotonic() - targets.read_at > TARGETS_MAX_AGE:
                    targets = _targets_or_none()
                settler.submit(_start_chunk(job, sources, edit, producer, targets))
                sent += len(chunk)
                if number % COLLECT_EVERY_CHUNKS == 0:
                    gc.collect()  # what few cycles a long job makes (an error's traceback) do not pile up
                if job.rate_limit:
                    time.sleep(max(0.0, sent / job.rate_limit - (time.monotonic() - started)))
        finally:
            # Whatever stopped the loop, what was produced is settled (or left publishing, for reconcile).
            settler.close()
    return total


def other_connections_see_our_rows() -> bool:
    """Whether a helper thread, which has a database connection of its own, can work beside
    the job's thread: not inside an open transaction (a test's), whose rows no other
    connection sees, and not on SQLite, which lets one connection write at a time."""
    return connection.vendor != "sqlite" and not connection.in_atomic_block


def loaded_ahead(id_chunks: Iterator[list[int]]) -> Iterator[tuple[list[int], list[Source]]]:
    """Each chunk of ids with its dead letters, the next chunk read while this one is worked on.

    Reading a chunk's rows is mostly waiting for the database: on a thread of its own
    (and connection) it overlaps claiming and producing the chunk before it, which took
    a third of the job's thread. The rows read ahead may have changed status by the
    time they are claimed; the claim checks status, so that only skips them.
    """
    if not other_connections_see_our_rows():
        for chunk in id_chunks:
            yield chunk, load_sources(chunk)
        return
    loaded: queue.Queue = queue.Queue(maxsize=1)
    stopping = threading.Event()
    finished = (None, [], None)

    def hand_over(item) -> bool:
        while not stopping.is_set():
            try:
                loaded.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def load_each() -> None:
        item = finished
        try:
            for chunk in id_chunks:
                if not hand_over((chunk, load_sources(chunk), None)):
                    return
        except BaseException as exc:
            item = (None, [], exc)  # the job stops with this error, never as if it had ended
        finally:
            try:
                connection.close()  # this thread's own connection
            finally:
                hand_over(item)

    loader = threading.Thread(target=load_each, name="load-chunks", daemon=True)
    loader.start()
    try:
        while True:
            try:
                chunk, sources, error = loaded.get(timeout=1.0)
            except queue.Empty:
                if not loader.is_alive() and loaded.empty():
                    raise RuntimeError("the thread reading the job's rows ended without a word") from None
                continue
            if error is not None:
                raise error
            if chunk is None:
                return
            yield chunk, sources
    finally:
        stopping.set()
        while loader.is_alive():
            try:
                loaded.get(timeout=0.1)
            except queue.Empty:
                pass
        loader.join()


class ChunkSettler:
    """Settles produced chunks in order while the job's thread claims and produces the next.

    On its own thread and database connection: one chunk's acknowledgements are
    awaited and its outcome written while the next chunk is claimed and produced,
    and the database does both at once. Where no second connection can help
    (other_connections_see_our_rows), each chunk is settled in the job's thread
    instead, just after the next one is produced.
    """

    def __init__(self, job: ReplayJob, total: Outcome) -> None:
        self.job, self.total = job, total
        self._error: BaseException | None = None
        self._waiting: InFlight | Outcome | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._thread = None
        if other_connections_see_our_rows():
            self._thread = threading.Thread(target=self._settle_queued, name=f"settle-job-{job.pk}", daemon=True)
            self._thread.start()

    def submit(self, in_flight: InFlight | Outcome) -> None:
        if self._thread is None:
            previous, self._waiting = self._waiting, in_flight
            if previous is not None:
                _finish_chunk(self.job, previous, self.total)
            return
        # Queued even after a failure: the settle thread skips it (its rows stay publishing, for
        # reconcile), unless the job was only stopped elsewhere, when what was sent is settled.
        self._queue.put(in_flight)
        self._raise_if_failed()

    def close(self) -> None:
        if self._thread is None:
            if self._waiting is not None:
                waiting, self._waiting = self._waiting, None
                _finish_chunk(self.job, waiting, self.total)
            return
        self._queue.put(None)
        self._thread.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if isinstance(self._error, JobNoLongerRunning):
            raise self._error
        if self._error is not None:
            raise RuntimeError(f"settling a chunk failed: {self._error}") from self._error

    def _settle_queued(self) -> None:
        try:
            while (in_flight := self._queue.get()) is not None:
                if self._error is not None and not isinstance(self._error, JobNoLongerRunning):
                    continue  # its rows stay publishing: reconcile settles them
                try:
                    _finish_chunk(self.job, in_flight, self.total)
                except Exception as exc:
                    self._error = exc
        finally:
            connection.close()  # this thread's own connection


def _targets_or_none() -> Targets | None:
    try:
        return Targets()
    except KafkaClientError:
        return None  # the chunk reports the same error when it tries again


def _start_chunk(job: ReplayJob, sources: list[Source], edit: Edit | None, producer, targets) -> InFlight | Outcome:
    try:
        return start_republish(
            sources,
            user=job.requested_by,
            target_topic=job.target_topic or None,
            edit=edit,
            job=job,
            producer=producer,
            targets=targets or Targets(),
        )
    except (RepublishRefused, KafkaClientError) as exc:
        # start_republish raises only before it claims a row: these rows stay as they were.
        return Outcome(skipped=len(sources), errors=[str(exc)])


class JobNoLongerRunning(Exception):
    """The job was marked stopped while it ran (taken for abandoned): it claims nothing more."""


def _finish_chunk(job: ReplayJob, in_flight: InFlight | Outcome, total: Outcome) -> None:
    outcome = in_flight if isinstance(in_flight, Outcome) else in_flight.finish()
    total.add(outcome)
    progress = {
        "done": F("done") + outcome.republished,
        "failed": F("failed") + outcome.failed + outcome.uncertain,
        "skipped": F("skipped") + outcome.skipped,
        "last_error": outcome.errors[0] if outcome.errors else F("last_error"),
        "progress_at": timezone.now(),
    }
    if not ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.RUNNING).update(**progress):
        # Stopped meanwhile: count what this chunk did, then claim nothing more (otherwise its
        # rest, run meanwhile, and this job would both send one account's events). It keeps
        # the reason it was stopped with.
        del progress["last_error"]
        ReplayJob.objects.filter(pk=job.pk).update(**progress)
        raise JobNoLongerRunning(f"job {job.pk} was stopped while it ran")
