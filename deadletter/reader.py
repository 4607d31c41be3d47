"""The drain's reader thread: polls and decodes batch N+1 while the caller's thread stores
batch N, and commits each batch's offsets only once the caller reports its rows committed
in the database.

The consumer is used by this thread alone while it runs (created, assigned and closed by
the caller's thread before and after). One decoded batch waits in the hand-over: with the
one being stored and the one being read, memory stays at about three batches.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from types import TracebackType

from deadletter.rows import Batch, decode_batch
from opsportal import kafka
from opsportal.handover import Handover

log = logging.getLogger(__name__)

# A batch also ends at this many bytes of keys and values, so 1 MiB records keep memory flat too.
MAX_BATCH_BYTES = 32 * 1024 * 1024
EMPTY_POLLS_TO_STOP = 3
POLL_CHUNK = 1000  # records per poll: the byte limit above is checked between polls
POLL_SLICE = 0.25  # seconds one poll may wait: stored batches' offsets are committed in between

_END = object()  # the reader has nothing more to hand over


def caught_up(positions: dict[kafka.Position, int], cluster: kafka.ClusterSettings | None) -> bool:
    """Every partition read up to its end offset, as the broker reports it now."""
    ends, failures = kafka.list_offsets(positions, "latest", cluster)
    return not failures and all(positions[p] >= ends.get(p, 0) for p in positions)


class Reader:
    """Used as a context manager: the thread runs inside the `with`, and on leaving it the
    offsets of every batch reported stored are committed."""

    def __init__(
        self,
        consumer: kafka.Consumer,
        positions: dict[kafka.Position, int],
        *,
        batch_size: int,
        max_records: int | None,
        until_empty: bool,
        timeout: float,
        cluster: kafka.ClusterSettings | None,
    ) -> None:
        self.consumer, self.positions, self.cluster = consumer, dict(positions), cluster
        self.batch_size, self.max_records = batch_size, max_records
        self.until_empty, self.timeout = until_empty, timeout
        self.batches: Handover[object] = Handover(put_wait=0.02)
        self.stored_positions: queue.SimpleQueue[dict[kafka.Position, int]] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="deadletter-drain-reader", daemon=True)
        self.ends: dict[kafka.Position, int] = {}  # end offsets last seen, for until_empty

    def __enter__(self) -> Reader:
        self.thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.batches.halt()
        self.thread.join()
        # The reader thread is gone: commit what the database stored since its last commit.
        try:
            self._commit_stored()
        except kafka.KafkaClientError:
            if exc is None:
                raise
            log.exception("dead-letter drain: committing the offsets of stored batches failed")

    def next_batch(self, stop: threading.Event) -> Batch | None:
        """The next decoded batch, in order; None when the reader is done or a stop was requested."""
        while True:
            try:
                item = self.batches.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    return None
                continue
            if isinstance(item, BaseException):
                raise item
            return None if item is _END else item  # type: ignore[return-value]

    def stored(self, batch: Batch) -> None:
        """The batch's rows are committed in the database: its offsets may be committed now."""
        self.stored_positions.put(batch.positions())

    # --- the reader thread ---

    def _run(self) -> None:
        item: object
        try:
            self._read()
            item = _END
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread, in batch order
            item = exc
        try:
            self.batches.put(item, meanwhile=self._commit_stored)
        except BaseException as exc:  # noqa: BLE001 - a refused commit must reach the caller, not end the thread
            # Handed over without committing again: the caller would otherwise wait for an item forever.
            self.batches.put(exc)

    def _commit_stored(self) -> None:
        """One synchronous commit of the newest offsets the database has committed rows for."""
        newest: dict[kafka.Position, int] = {}
        while True:
            try:
                newest.update(self.stored_positions.get_nowait())
            except queue.Empty:
                break
        if newest:
            kafka.commit_positions(self.consumer, newest, self.cluster)

    def _read(self) -> None:
        read, empty_polls = 0, 0
        if self.until_empty:
            self._refresh_ends()
        while not self.batches.halted.is_set():
            limit = self.batch_size if self.max_records is None else min(self.batch_size, self.max_records - read)
            if limit <= 0:
                return
            records = self._poll(limit)
            if records:
                empty_polls = 0
                read += len(records)
                batch = decode_batch(records)
                self.positions.update(batch.positions())
                # Offsets are committed while the caller stores the batch before this one.
                if not self.batches.put(batch, meanwhile=self._commit_stored):
                    return
                if self.until_empty and self._at_ends(self.positions) and self._refresh_ends():
                    return  # drained: no need to wait out an empty poll
            elif self.until_empty:
                # An empty poll alone can mean "fetch not started yet": ask the broker for the
                # end. Several empty polls also end it (transaction markers sit past the last record).
                empty_polls += 1
                if empty_polls >= EMPTY_POLLS_TO_STOP or caught_up(self.positions, self.cluster):
                    return

    def _poll(self, limit: int) -> list[kafka.Record]:
        """Up to `limit` records or MAX_BATCH_BYTES, waiting at most `timeout` for them."""
        records: list[kafka.Record] = []
        size = 0
        deadline = time.monotonic() + self.timeout
        while len(records) < limit and size < MAX_BATCH_BYTES and not self.batches.halted.is_set():
            self._commit_stored()
            left = deadline - time.monotonic()
            if left <= 0:
                break
            wanted = min(limit - len(records), POLL_CHUNK)
            polled = kafka.poll(self.consumer, wanted, min(left, POLL_SLICE), self.cluster)
            records += polled
            size += sum(len(r[5] or b"") + len(r[4] or b"") for r in polled)
            if len(polled) < wanted and self.until_empty and records and self._at_ends(self._after(records)):
                break  # the last records of the topic: hand them over now
        return records

    def _after(self, records: list[kafka.Record]) -> dict[kafka.Position, int]:
        positions = dict(self.positions)
        for topic, partition, offset, *_ in records:
            positions[(topic, partition)] = max(positions.get((topic, partition), 0), offset + 1)
        return positions

    def _at_ends(self, positions: dict[kafka.Position, int]) -> bool:
        return bool(self.ends) and all(positions.get(p, 0) >= end for p, end in self.ends.items())

    def _refresh_ends(self) -> bool:
        """Ask the broker for the end offsets again; True if the drain has reached them."""
        ends, failures = kafka.list_offsets(self.positions, "latest", self.cluster)
        self.ends = {} if failures else ends
        return self._at_ends(self.positions)
