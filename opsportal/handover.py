"""A one-slot hand-over between a worker thread and the thread that consumes its results.

Both pipelines that overlap database and Kafka work (the drain's reader, a republish
job's chunk loader) use it: one item waits at a time, so memory stays flat, and either
side can give up without the other blocking forever.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Handover(Generic[T]):
    def __init__(self, put_wait: float) -> None:
        self._slot: queue.Queue[T] = queue.Queue(maxsize=1)
        self._put_wait = put_wait
        self.halted = threading.Event()  # set by the consuming side: the worker stops handing over

    def put(self, item: T, meanwhile: Callable[[], None] | None = None) -> bool:
        """Wait for the slot to be free and fill it; False if the consumer halted first.
        `meanwhile` runs between tries (the drain commits offsets while it waits)."""
        while not self.halted.is_set():
            if meanwhile is not None:
                meanwhile()
            try:
                self._slot.put(item, timeout=self._put_wait)
                return True
            except queue.Full:
                continue
        return False

    def get(self, timeout: float) -> T:
        """The next item; raises queue.Empty after `timeout` seconds without one."""
        return self._slot.get(timeout=timeout)

    def halt(self) -> None:
        self.halted.set()

    def empty(self) -> bool:
        return self._slot.empty()
