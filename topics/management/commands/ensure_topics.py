from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsportal.kafka import KafkaClientError
from topics import spec
from topics.provisioning import ensure_topics


class Command(BaseCommand):
    help = "Create the billing topics from topics/spec.py and report drift (exit 1 while drift remains)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="report only; create and change nothing")
        parser.add_argument("--apply", action="store_true", help="fix drift: grow partitions, set configs")

    def handle(self, *args: Any, dry_run: bool, apply: bool, **options: Any) -> None:
        try:
            report = ensure_topics(spec.TOPICS, apply=apply, dry_run=dry_run)
        except KafkaClientError as exc:
            raise CommandError(str(exc)) from exc
        for warning in report.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        width = max(len(outcome.name) for outcome in report.outcomes)
        for outcome in report.outcomes:
            style = self.style.SUCCESS if not outcome.unresolved else self.style.ERROR
            line = f"{outcome.name:<{width}}  {outcome.status:<12}  {'; '.join(outcome.details)}"
            self.stdout.write(style(line.rstrip()))
        if not report.ok:
            hint = "" if apply else " (run with --apply to grow partitions and set configs)"
            raise CommandError(f"the cluster does not match topics/spec.py{hint}")
