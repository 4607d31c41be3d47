"""Running a claimed republish job: chunks read ahead, claimed and produced on the job's
thread, settled on a thread of their own, at the job's rate limit.

Each stage has its own database connection where a second connection can see the job's
rows (other_connections_see_our_rows), so reading, producing and settling overlap.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import closing

from django.db import connection

from opsportal import cyclic_gc, kafka
from opsportal.handover import Handover

from . import jobs
from .edits import edit_from_json
from .jobs import JobNoLongerRunning
from .models import ReplayJob
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

COLLECT_EVERY_CHUNKS = 50
TARGETS_MAX_AGE = 10.0  # seconds; brokers that stop or return mid-job are noticed


def run_job(job_id: int) -> Outcome:
    """Run a queued job once; a job another worker claimed first is left to it."""
    if not jobs.claim_for_run(job_id):
        return Outcome()
    job = ReplayJob.objects.select_related("requested_by").get(pk=job_id)
    try:
        outcome = run_chunks(job)
    except JobNoLongerRunning:
        jobs.audit_end(job)
        return Outcome()  # stopped elsewhere (by an operator, or as abandoned): it keeps the reason given there
    except Exception as exc:
        jobs.mark_stopped(job, str(exc))
        jobs.audit_end(job)
        raise
    jobs.mark_finished(job)
    jobs.audit_end(job, outcome.errors)
    return outcome


def run_chunks(job: ReplayJob) -> Outcome:
    total = Outcome()
    edit = edit_from_json(job.edit)
    producer = republish_producer()
    targets = None
    size = min(jobs.CHUNK_SIZE, job.rate_limit or jobs.CHUNK_SIZE)
    started, sent = time.monotonic(), 0
    settler = ChunkSettler(job, total)
    with cyclic_gc.paused(), closing(loaded_ahead(jobs.chunks(job.record_ids, size))) as loaded:
        try:
            for number, (chunk, sources) in enumerate(loaded, start=1):
                if number > 1 and jobs.stop_requested(job):
                    raise JobNoLongerRunning(f"job {job.pk} was stopped")  # between chunks: none half-sent
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


def loaded_ahead(id_chunks: Iterator[list[int]]) -> Generator[tuple[list[int], list[Source]], None, None]:
    """Each chunk of ids with its dead letters, the next chunk read while this one is worked on.

    Reading a chunk's rows is mostly waiting for the database: on a thread (and connection)
    of its own it overlaps claiming and producing the chunk before it. The rows read ahead
    may have changed status by the time they are claimed; the claim checks status, so that
    only skips them.
    """
    if not other_connections_see_our_rows():
        for chunk in id_chunks:
            yield chunk, load_sources(chunk)
        return
    loaded: Handover[tuple[list[int] | None, list[Source], BaseException | None]] = Handover(put_wait=0.1)

    def load_each() -> None:
        item: tuple[list[int] | None, list[Source], BaseException | None] = (None, [], None)  # finished
        try:
            for chunk in id_chunks:
                if not loaded.put((chunk, load_sources(chunk), None)):
                    return
        except BaseException as exc:
            item = (None, [], exc)  # the job stops with this error, never as if it had ended
        finally:
            try:
                connection.close()  # this thread's own connection
            finally:
                loaded.put(item)

    loader = threading.Thread(target=load_each, name="load-chunks", daemon=True)
    loader.start()
    try:
        while True:
            try:
                ids, sources, error = loaded.get(timeout=1.0)
            except queue.Empty:
                if not loader.is_alive() and loaded.empty():
                    raise RuntimeError("the thread reading the job's rows ended without a word") from None
                continue
            if error is not None:
                raise error
            if ids is None:
                return
            yield ids, sources
    finally:
        loaded.halt()
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
                finish_chunk(self.job, previous, self.total)
            return
        # Queued even after a failure: the settle thread skips it (its rows stay publishing, for
        # reconcile), unless the job was only stopped elsewhere, when what was sent is settled.
        self._queue.put(in_flight)
        self._raise_if_failed()

    def close(self) -> None:
        if self._thread is None:
            if self._waiting is not None:
                waiting, self._waiting = self._waiting, None
                finish_chunk(self.job, waiting, self.total)
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
                    finish_chunk(self.job, in_flight, self.total)
                except Exception as exc:
                    self._error = exc
        finally:
            connection.close()  # this thread's own connection


def _targets_or_none() -> Targets | None:
    try:
        return Targets()
    except kafka.KafkaClientError:
        return None  # the chunk reports the same error when it tries again


def _start_chunk(
    job: ReplayJob, sources: list[Source], edit: Edit | None, producer: kafka.Producer, targets: Targets | None
) -> InFlight | Outcome:
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
    except (RepublishRefused, kafka.KafkaClientError) as exc:
        # start_republish raises only before it claims a row: these rows stay as they were.
        return Outcome(skipped=len(sources), errors=[str(exc)])


def finish_chunk(job: ReplayJob, in_flight: InFlight | Outcome, total: Outcome) -> None:
    """Wait for a chunk's acknowledgements, settle it and count it on the job.

    Public on purpose: tests replace it to see which thread settles, or to stop a job mid-run.
    """
    outcome = in_flight if isinstance(in_flight, Outcome) else in_flight.finish()
    total.add(outcome)
    jobs.record_progress(job, outcome)
