from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsportal import kafka
from topics import spec
from topics.schemas import ensure_schemas


class Command(BaseCommand):
    help = (
        "Set the billing subjects' Schema Registry compatibility from topics/spec.py and report drift "
        "(exit 1 while drift remains)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="report only; change nothing")
        parser.add_argument("--apply", action="store_true", help="also change subjects that have another level")

    def handle(self, *args: Any, dry_run: bool, apply: bool, **options: Any) -> None:
        if not kafka.registry.enabled():
            raise CommandError("SCHEMA_REGISTRY_URL is not set: there is no Schema Registry to configure")
        try:
            report = ensure_schemas(spec.TOPICS, apply=apply, dry_run=dry_run)
        except kafka.RegistryError as exc:
            raise CommandError(str(exc)) from exc
        for warning in report.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        width = max((len(outcome.subject) for outcome in report.outcomes), default=0)
        for outcome in report.outcomes:
            style = self.style.SUCCESS if not outcome.unresolved else self.style.ERROR
            self.stdout.write(style(f"{outcome.subject:<{width}}  {outcome.status:<9}  {outcome.detail}".rstrip()))
        if not report.ok:
            hint = "" if apply else " (run with --apply to change subjects that have another level)"
            raise CommandError(f"the registry's compatibility levels do not match topics/spec.py{hint}")
