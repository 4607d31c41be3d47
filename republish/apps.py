from django.apps import AppConfig


class RepublishConfig(AppConfig):
    name = "republish"
    verbose_name = "Republish"
