from __future__ import annotations

import socket

import pytest
from django.core.management import CommandError, call_command

from topics.models import Broker, ConsumerGroup, GroupOffset, Partition, SyncRun, Topic

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mirror_rows() -> dict[str, list[dict]]:
    models = (Broker, Topic, Partition, ConsumerGroup, GroupOffset, SyncRun)
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models}


def test_an_unreachable_cluster_fails_with_one_clear_line_and_leaves_the_mirror_unchanged(ready_topic, sync, settings):
    ready_topic()
    sync()
    before = mirror_rows()
    nowhere = f"127.0.0.1:{closed_port()}"
    settings.KAFKA_BOOTSTRAP_SERVERS = nowhere
    settings.KAFKA_REQUEST_TIMEOUT = 2.0

    with pytest.raises(CommandError) as raised:
        call_command("sync_topics")

    message = str(raised.value)
    assert "\n" not in message
    assert "Kafka unreachable" in message and nowhere in message
    assert "mirror was left unchanged" in message
    assert before["Topic"], "the first sync mirrored nothing"
    assert mirror_rows() == before
