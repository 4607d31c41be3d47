"""Schedule the mirror sync every 30 s in django-celery-beat's database scheduler (editable in the admin)."""

from django.db import migrations

TASK_NAME = "topics.tasks.sync_cluster_task"
PERIODIC_TASK_NAME = "Sync the cluster mirror"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_30s, _ = IntervalSchedule.objects.get_or_create(every=30, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=PERIODIC_TASK_NAME,
        defaults={
            "task": TASK_NAME,
            "interval": every_30s,
            # A run still queued after 25 s is dropped: the next beat brings a fresher one.
            "expire_seconds": 25,
            "description": "Mirror brokers, topics, partitions, configs, consumer groups and lag (topics/sync.py).",
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=PERIODIC_TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("topics", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
