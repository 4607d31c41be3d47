from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from opsportal.kafka import KafkaClientError
from topics.sync import sync_cluster


class Command(BaseCommand):
    help = "Mirror brokers, topics, partitions, configs, consumer groups and lag into the database."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = sync_cluster()
        except KafkaClientError as exc:
            # Nothing was written: the mirror still shows the previous sync.
            raise CommandError(f"{exc} The mirror was left unchanged.") from exc
        for message in result.error_messages:
            self.stderr.write(self.style.WARNING(f"error: {message}"))
        self.stdout.write(result.summary())
