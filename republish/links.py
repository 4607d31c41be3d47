"""Links between what the portal knows of a republish: a replay's written copy in the message
browser, its dead letter, the dead letter it came back as. URLs by name (never an import of a
higher app), as the layers ask."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .models import Replay


def message_url(topic: str, partition: int, offset: int) -> str:
    """The message browser opened at one message of a topic."""
    query = {"topic": topic, "partition": partition, "start": "offset", "offset": offset}
    return f"{reverse('admin:topics_topic_messages')}?{urlencode(query)}"


def written_copy_url(replay: Replay) -> str:
    """Where the copy a replay wrote is, or "" while it is not known (publishing, failed)."""
    if replay.offset is None:
        return ""
    return message_url(replay.target_topic, replay.target_partition, replay.offset)


def replay_url(replay_pk: int) -> str:
    return reverse("admin:republish_replay_change", args=[replay_pk])


def record_url(record_pk: int) -> str:
    return reverse("admin:deadletter_deadletterrecord_change", args=[record_pk])


def job_replays_url(job_pk: int) -> str:
    return f"{reverse('admin:republish_replay_changelist')}?job={job_pk}"


def job_records_url(job_pk: int) -> str:
    """The dead-letter list filtered to a job's records still to republish (what it did not send,
    and what failed): what "Run the rest" would send."""
    return f"{reverse('admin:deadletter_deadletterrecord_changelist')}?republish_job={job_pk}"


def job_link(job_pk: int | None) -> SafeString | str:
    """The job's number linking to its page; a dash for a record republished on its own."""
    if job_pk is None:
        return "–"
    return format_html('<a href="{}">{}</a>', reverse("admin:republish_replayjob_change", args=[job_pk]), job_pk)
