from __future__ import annotations

from django.apps import AppConfig


class OverviewConfig(AppConfig):
    name = "overview"
    verbose_name = "Overview"

    def ready(self) -> None:
        # Lag history is recorded after each mirror sync, from here: topics never imports overview.
        from . import signals  # noqa: F401
