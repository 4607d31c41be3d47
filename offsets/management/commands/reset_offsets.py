"""reset_offsets GROUP (--topic T[:P,...] | --all-topics) (--to-earliest | ... | --shift-by N) [--execute [--as USER]]

A dry run unless --execute, like kafka-consumer-groups --reset-offsets.
"""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from offsets import reset, service
from offsets.models import OffsetReset
from opsportal.kafka import KafkaClientError


class Command(BaseCommand):
    help = "Preview (default) or apply a consumer group offset reset, with Kafka's reset semantics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("group")
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--topic", action="append", metavar="T[:P,...]", help="repeatable")
        scope.add_argument("--all-topics", action="store_true")
        kind = parser.add_mutually_exclusive_group(required=True)
        for flag in ("to-earliest", "to-latest", "to-current"):
            kind.add_argument(f"--{flag}", dest="reset_type", action="store_const", const=flag)
        for flag, metavar in (("to-datetime", "D"), ("by-duration", "P"), ("to-offset", "N"), ("shift-by", "N")):
            kind.add_argument(f"--{flag}", dest=flag.replace("-", "_"), metavar=metavar)
        parser.add_argument("--execute", action="store_true", help="apply; without it nothing changes")
        parser.add_argument(
            "--as",
            dest="operator",
            metavar="USER",
            help="the portal user asking for the reset (required with --execute when four-eyes approval is on)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        spec = self._spec(options)
        operator = self._operator(options["operator"], options["execute"])
        try:
            plan = reset.plan_reset(spec)
        except (reset.ResetError, KafkaClientError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(plan.table())
        if not options["execute"]:
            self.stdout.write("Dry run: nothing changed. Add --execute to apply.")
            return
        name = operator.get_username() if operator else getpass.getuser()
        row = service.submit(plan, operator, requested_by_name=f"manage.py ({name})")
        self._report(row)

    def _operator(self, username: str | None, execute: bool) -> User | None:
        """The requester, so that under four-eyes whoever ran the command cannot approve it too."""
        if username is None:
            if execute and service.four_eyes_required():
                raise CommandError("four-eyes approval is on: say who asks for the reset with --as USER")
            return None
        try:
            return User.objects.get(username=username, is_active=True)
        except User.DoesNotExist:
            raise CommandError(f"--as {username}: no active portal user has that name") from None

    def _spec(self, options: dict[str, Any]) -> reset.ResetSpec:
        reset_type, value = options.get("reset_type") or "", None
        for flag in ("to_datetime", "by_duration", "to_offset", "shift_by"):
            if options.get(flag) is not None:
                reset_type, value = flag.replace("_", "-"), options[flag]
        try:
            scope = reset.Scope.parse(options["topic"] or [], options["all_topics"])
            return reset.ResetSpec.build(options["group"], scope, reset_type, value)
        except reset.ResetError as exc:
            raise CommandError(str(exc)) from None

    def _report(self, row: OffsetReset) -> None:
        if row.status == OffsetReset.Status.PENDING:
            self.stdout.write(f"Four-eyes approval is on: request #{row.pk} waits for approval in the admin.")
        elif row.status == OffsetReset.Status.APPLIED:
            self.stdout.write(self.style.SUCCESS(f"Applied (audit #{row.pk}): {row.detail}"))
        else:
            raise CommandError(f"{row.get_status_display()} (audit #{row.pk}): {row.detail}")
