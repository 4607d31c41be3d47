from django.apps import AppConfig


class OffsetsConfig(AppConfig):
    name = "offsets"
    verbose_name = "Consumer offsets"  # not "Offset resets": that is its one model, the next crumb
