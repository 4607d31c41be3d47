from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from topics.access import check_access


class Command(BaseCommand):
    help = (
        "Connect with the configured Kafka settings and check each operation the portal needs: "
        "one line per operation, ok or the refusal; exits non-zero on any refusal. Changes nothing."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--group", action="append", default=[], dest="groups", help="also a group whose offsets are reset"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        checks = check_access(reset_groups=options["groups"])
        for check in checks:
            self.stdout.write(check.line())
        refused = sum(check.refusal is not None for check in checks)
        if refused:
            raise CommandError(f"{refused} of {len(checks)} operations refused")
