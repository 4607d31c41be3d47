"""Catch the dead-letter tallies up every minute in django-celery-beat's database scheduler."""

from django.db import migrations

TASK_NAME = "overview.tasks.tally_dead_letters"
PERIODIC_TASK_NAME = "Tally dead letters"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=PERIODIC_TASK_NAME,
        defaults={
            "task": TASK_NAME,
            "interval": every_minute,
            "expire_seconds": 50,
            "description": "Add the dead letters drained since the last run to the overview's and /metrics' "
            "running tallies (overview/tally.py); the figures stay exact without it, only slower.",
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=PERIODIC_TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("overview", "0005_status_trigger"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
