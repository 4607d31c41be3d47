from __future__ import annotations

import argparse
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsportal.kafka import KafkaClientError
from republish.models import Replay
from republish.publish import RepublishRefused
from republish.reconcile import reconcile


def replay_id(value: str) -> str:
    """A replay id is a UUID: anything else is refused before the database is asked (argparse
    names --replay in the error and the command exits non-zero)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value[:60]!r} is not a replay id (a UUID)") from None


class Command(BaseCommand):
    help = "Settle replays left in 'publishing' by a crash, by finding their replay id in the target partition."

    def add_arguments(self, parser: CommandParser) -> None:
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--replay", action="append", default=[], type=replay_id, help="a replay id (repeatable)")
        scope.add_argument("--all", action="store_true", help="every replay still publishing")
        parser.add_argument("--user", default=None, help="username recorded in the audit (default: none)")

    def handle(self, *args: Any, replay: list[str], all: bool, user: str | None, **options: Any) -> None:
        actor = self._user(user)
        replays = Replay.objects.filter(state=Replay.State.PUBLISHING)
        if not all:
            replays = replays.filter(replay_id__in=replay)
        failures = 0
        for item in replays.order_by("created_at"):
            try:
                self.stdout.write(reconcile(item, user=actor))
            except (RepublishRefused, KafkaClientError) as exc:
                failures += 1
                self.stderr.write(f"{item.replay_id}: {exc}")
        if failures:
            raise CommandError(f"{failures} replay(s) could not be settled")

    def _user(self, username: str | None) -> User | None:
        if username is None:
            return None
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {username!r}") from None
