"""Thin out lag history every 10 minutes in django-celery-beat's database scheduler (editable in the admin)."""

from django.db import migrations

TASK_NAME = "overview.tasks.downsample_lag_history"
PERIODIC_TASK_NAME = "Downsample lag history"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_10min, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=PERIODIC_TASK_NAME,
        defaults={
            "task": TASK_NAME,
            "interval": every_10min,
            "expire_seconds": 540,
            "description": "Roll raw lag points into hourly ones after 48 h; drop them after "
            "LAG_HISTORY_RETENTION_DAYS (overview/lag.py).",
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=PERIODIC_TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("overview", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
