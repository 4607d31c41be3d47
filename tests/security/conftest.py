"""The secured tests: the portal over the local cluster's SASL_SSL listeners as user opsportal.

Only the KAFKA_* settings change (to what `./dev kafka env --security sasl_ssl` exports); the
tests' own set-up (topics, records) goes through the PLAINTEXT listener, as the tools do.
Topics are named billing.* and groups billing-* or opsportal-*: what the portal's ACLs cover.
"""

from __future__ import annotations

import dataclasses

import pytest
from django.contrib.auth.models import Group, User

from devtools import local_kafka
from opsportal import kafka
from tests.conftest import ensure_ops_groups, wait_for_topic


@pytest.fixture(scope="session")
def secured_env(cluster: kafka.ClusterSettings) -> dict[str, str]:
    if local_kafka.running_cluster() != (3, "sasl_ssl"):
        pytest.fail(
            "tests/security need the secured cluster (./dev test starts it): "
            "`./dev kafka down && ./dev kafka up --security sasl_ssl`"
        )
    return local_kafka.portal_environment(3, "sasl_ssl")


@pytest.fixture
def secured(settings, secured_env: dict[str, str], monkeypatch) -> kafka.ClusterSettings:
    """Django settings and the environment (for child processes) pointed at SASL_SSL as opsportal."""
    for name, value in secured_env.items():
        setattr(settings, name, value)
        monkeypatch.setenv(name, value)
    return kafka.ClusterSettings.from_django()


@pytest.fixture
def password(secured_env: dict[str, str]) -> str:
    return secured_env["KAFKA_SASL_PASSWORD"]


@pytest.fixture
def misconfigured(settings, secured: kafka.ClusterSettings):
    """misconfigured(**changes): the portal's settings with some of the Kafka values wrong."""

    def change(**values: str | None) -> kafka.ClusterSettings:
        for name, value in values.items():
            setattr(settings, f"KAFKA_{name.upper()}", value)
        return dataclasses.replace(kafka.ClusterSettings.from_django(), request_timeout=3.0)

    return change


@pytest.fixture
def billing_topic(make_topic, cluster):
    """A new topic under billing. (read/write for opsportal), made over PLAINTEXT."""

    def make(partitions: int = 3) -> str:
        name = make_topic(partitions=partitions, prefix="billing.sectest")
        wait_for_topic(cluster, name, partitions)
        return name

    return make


@pytest.fixture
def operator(db) -> User:
    ensure_ops_groups()
    user = User.objects.create_user("sam-secured", password="pw-operator-123", is_staff=True)
    user.groups.add(Group.objects.get(name="Ops operator"))
    return user
