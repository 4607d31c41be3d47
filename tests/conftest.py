"""Shared fixtures. Everything Kafka here is the real local cluster (./dev test starts it)."""

from __future__ import annotations

import os
import time
import uuid
import warnings

import pytest

from opsportal import kafka
from tests.pages import signed_in


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """A test database of this run's own on PostgreSQL, so two runs on one server never drop each other's."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.postgresql":
        database.setdefault("TEST", {})["NAME"] = f"test_{database['NAME']}_{os.getpid()}"


@pytest.fixture(scope="session")
def cluster() -> kafka.ClusterSettings:
    settings = kafka.ClusterSettings.from_django()
    try:
        kafka.describe_brokers(settings)
    except kafka.KafkaUnavailable as exc:
        pytest.fail(f"the test suite needs the local Kafka cluster (./dev kafka up): {exc}")
    return settings


@pytest.fixture
def topic_names(cluster):
    """Hands out unique topic names and deletes those topics after the test."""
    created: list[str] = []

    def make(prefix: str = "test") -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:10]}"
        created.append(name)
        return name

    yield make
    report_leftovers("topics", kafka.delete_topics(created, cluster))


@pytest.fixture
def group_names(cluster):
    """Hands out unique consumer group ids and deletes those groups after the test."""
    created: list[str] = []

    def make(prefix: str = "test-group") -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:10]}"
        created.append(name)
        return name

    yield make
    report_leftovers("consumer groups", kafka.delete_groups(created, cluster))


# A name handed out but never used: nothing to delete, nothing left behind.
NEVER_CREATED = {"UNKNOWN_TOPIC_OR_PART", "GROUP_ID_NOT_FOUND"}


def report_leftovers(kind: str, failures: dict[str, kafka.KafkaClientError]) -> None:
    """Say which of a test's topics or groups stayed on the shared cluster, and why."""
    left = {name: error for name, error in failures.items() if error.code not in NEVER_CREATED}
    if left:
        warnings.warn(
            f"{kind} left on the cluster: " + "; ".join(f"{name} ({error})" for name, error in left.items()),
            stacklevel=1,
        )


def wait_for_topic(cluster, name: str, partitions: int, timeout: float = 60.0) -> None:
    """A new topic reaches every broker's metadata a moment after the controller creates it."""
    deadline = time.monotonic() + timeout
    while True:
        topic = kafka.list_topics(cluster).get(name)
        if topic and len(topic.partitions) == partitions and all(p.leader >= 0 for p in topic.partitions):
            return
        assert time.monotonic() < deadline, f"topic {name} did not appear in the metadata in {timeout:.0f}s"
        time.sleep(0.2)


@pytest.fixture
def make_topic(cluster, topic_names):
    def make(partitions: int = 1, replication_factor: int = 3, configs: dict | None = None, prefix="test") -> str:
        name = topic_names(prefix)
        spec = kafka.NewTopicSpec(name, partitions, replication_factor, configs or {})
        assert kafka.create_topics([spec], cluster) == {}
        wait_for_topic(cluster, name, partitions)
        return name

    return make


def pytest_collection_modifyitems(config, items):
    """Tests that stop brokers run last, so a slow recovery cannot disturb the others."""
    items.sort(key=lambda item: item.get_closest_marker("cluster_changes") is not None)


def database_url_for_children() -> str:
    """The test database as a DATABASE_URL, for a child process (a worker, a manage.py command):
    it sees what a transactional test commits, and the test sees what it writes."""
    from urllib.parse import quote

    from django.db import connection

    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    password = quote(settings["PASSWORD"] or "")
    credentials = quote(settings["USER"] or "") + (f":{password}" if password else "")
    return f"postgres://{credentials}@{settings['HOST'] or 'localhost'}:{settings['PORT'] or 5432}/{settings['NAME']}"


def ensure_ops_groups() -> None:
    """Grant the Ops groups as the data migrations do: tests that flush the database
    (live server, transactional) remove the rows the migrations wrote."""
    import importlib

    from django.apps import apps

    for migration in ("offsets.migrations.0002_ops_groups", "republish.migrations.0002_ops_groups"):
        importlib.import_module(migration).grant(apps, None)


@pytest.fixture
def operator_client(operator):
    """A client signed in as the `operator` of the test's own folder (each folder's conftest defines one)."""
    return signed_in(operator)
