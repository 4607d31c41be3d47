"""python manage.py drain_dead_letter: the dead-letter topic into reviewable rows."""

from __future__ import annotations

import argparse
import math
import signal
import threading
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from deadletter.drain import DrainResult, drain_dead_letter
from opsportal.kafka import KafkaClientError


def positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse type: a number above zero (argparse names the argument in its error)."""

    def parse(text: str) -> int | float:
        try:
            number = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not 0 < number < math.inf:
            raise argparse.ArgumentTypeError(f"must be above zero, got {text}")
        return number

    parse.__name__ = kind.__name__  # argparse's "invalid int value" wording when ValueError escapes
    return parse


class Command(BaseCommand):
    help = (
        "Store every record of the dead-letter topic as a row, exactly once. Runs until stopped "
        "(SIGTERM finishes the current batch) unless --max-records or --until-empty says otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--max-records", type=positive(int), default=None, help="stop after this many records")
        parser.add_argument("--until-empty", action="store_true", help="stop once the topic is drained")
        parser.add_argument(
            "--timeout",
            type=positive(float),
            default=2.0,
            help="seconds a poll waits before the topic counts as drained",
        )
        parser.add_argument("--topic", default=None, help="dead-letter topic (default: settings)")
        parser.add_argument("--group-id", default=None, help="consumer group (default: settings)")
        parser.add_argument("--batch-size", type=positive(int), default=None, help="records per database transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        # Here, not in the drain: a Celery worker has its own SIGTERM handling.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        try:
            result = drain_dead_letter(
                max_records=options["max_records"],
                until_empty=options["until_empty"],
                timeout=options["timeout"],
                topic=options["topic"],
                group_id=options["group_id"],
                batch_size=options["batch_size"],
                stop=stop,
                on_batch=self._progress if options["verbosity"] >= 2 else None,
            )
        except (KafkaClientError, DatabaseError) as exc:
            raise CommandError(f"drain stopped, offsets of the unfinished batch not committed: {exc}") from exc
        self.stdout.write(str(result))

    def _progress(self, result: DrainResult) -> None:
        self.stdout.write(f"batch {result.batches}: {result}")
        self.stdout.flush()
