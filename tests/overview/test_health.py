"""/healthz answers alone; /readyz asks the database, Redis, Kafka and the mirror's age."""

from __future__ import annotations

import socket
import time

import pytest
from django.db import connection
from django.utils import timezone

from topics.models import SyncRun


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def fresh_mirror(db) -> SyncRun:
    return SyncRun.objects.create(finished_at=timezone.now(), duration=0.1, created=0, updated=0, vanished=0, errors=0)


def test_healthz_answers_without_login_or_dependencies(client, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{closed_port()}"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_when_everything_answers(client, fresh_mirror):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True, "redis": True, "kafka": True, "mirror": True,
    }  # fmt: skip


def test_readyz_names_kafka_when_no_broker_answers(client, settings, fresh_mirror):
    port = closed_port()
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{port}"
    settings.READYZ_TIMEOUT = 1.0
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 5, "readyz must answer within its timeout"
    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["kafka"]
    assert str(port) not in response.content.decode(), "the body must not name hosts or ports"


def test_readyz_names_redis_when_it_is_unreachable(client, settings, fresh_mirror):
    settings.CELERY_BROKER_URL = f"redis://:hunter2@127.0.0.1:{closed_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]
    assert "hunter2" not in response.content.decode()


def test_readyz_names_a_stale_mirror(client, settings, fresh_mirror):
    SyncRun.objects.update(finished_at=timezone.now() - timezone.timedelta(seconds=settings.READYZ_MIRROR_MAX_AGE + 60))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["mirror"]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="closing SQLite's in-memory test database would drop it for every later test",
)
@pytest.mark.django_db(transaction=True)
def test_readyz_names_the_database_when_it_is_down(client):
    SyncRun.objects.create(finished_at=timezone.now(), duration=0.1, created=0, updated=0, vanished=0, errors=0)
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()), NAME="nowhere")
    try:
        response = client.get("/readyz")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    body = response.json()
    assert response.status_code == 503
    assert "database" in body["failing"]
    assert "nowhere" not in response.content.decode()


@pytest.mark.cluster_changes
def test_readyz_stays_ready_with_one_broker_stopped(client, fresh_mirror, cluster):
    """Two brokers still serve: the portal is ready (the overview shows the broker down instead)."""
    from devtools import local_kafka

    node = local_kafka.nodes(3)[2]
    local_kafka.stop_node(node)
    try:
        response = client.get("/readyz")
        assert response.status_code == 200, response.json()
    finally:
        local_kafka.start_node(node)
        local_kafka.wait_for_metadata(3)
