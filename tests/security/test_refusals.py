"""What an operator reads when the brokers refuse: login, TLS, protocol, ACL. Nothing changes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deadletter.drain import drain_dead_letter
from deadletter.models import DeadLetterRecord
from opsportal import kafka
from opsportal.kafka.testing import produce_records
from overview import health
from tests.conftest import database_url_for_children
from topics.models import Topic
from topics.sync import sync_cluster

ROOT = Path(__file__).resolve().parents[2]
SECURED = "127.0.0.1:9192,127.0.0.1:9193,127.0.0.1:9194"
PLAIN = "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"


def refusal_of_sync() -> str:
    """The sync's error; the mirror stays empty."""
    with pytest.raises(kafka.KafkaUnavailable) as refused:
        sync_cluster()
    assert not Topic.objects.exists()
    return str(refused.value)


@pytest.mark.django_db
def test_a_wrong_password_says_authentication_failed_for_the_user_and_mechanism(misconfigured):
    misconfigured(sasl_password="not-the-password")

    message = refusal_of_sync()

    assert "authentication failed for user opsportal with mechanism SCRAM-SHA-512 on 127.0.0.1:919" in message
    assert "not-the-password" not in message
    assert health.kafka_cluster() == (False, "authentication failed")


@pytest.mark.django_db
def test_a_wrong_ca_says_the_tls_handshake_failed_and_names_the_ca_file(misconfigured, tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
         "-keyout", str(tmp_path / "other.key"), "-out", str(other_ca)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    misconfigured(ssl_ca_location=str(other_ca))

    message = refusal_of_sync()

    assert "TLS handshake with 127.0.0.1:919" in message and "failed" in message
    assert f"the CA file {other_ca} (KAFKA_SSL_CA_LOCATION)" in message
    assert health.kafka_cluster() == (False, "TLS handshake failed")


@pytest.mark.django_db
def test_a_missing_ca_says_the_tls_handshake_failed_without_a_ca_file(misconfigured):
    misconfigured(ssl_ca_location=None)

    message = refusal_of_sync()

    assert "TLS handshake with 127.0.0.1:919" in message
    assert "KAFKA_SSL_CA_LOCATION is not set" in message


@pytest.mark.django_db
def test_sasl_ssl_against_a_plaintext_listener_says_protocol_mismatch(misconfigured):
    misconfigured(bootstrap_servers=PLAIN)

    message = refusal_of_sync()

    assert message.startswith("Protocol mismatch: KAFKA_SECURITY_PROTOCOL=SASL_SSL")
    assert "it looks like a PLAINTEXT listener" in message and "127.0.0.1:909" in message


@pytest.mark.django_db
def test_plaintext_against_the_sasl_ssl_listener_says_protocol_mismatch(misconfigured):
    misconfigured(security_protocol="PLAINTEXT", bootstrap_servers=SECURED)

    message = refusal_of_sync()

    assert message.startswith("Protocol mismatch: KAFKA_SECURITY_PROTOCOL=PLAINTEXT")
    assert "it looks like an SSL or SASL_SSL listener" in message and "127.0.0.1:919" in message
    assert health.kafka_cluster() == (False, "protocol mismatch")


@pytest.mark.django_db
def test_a_topic_without_an_acl_names_the_refused_topic_and_drains_nothing(secured, make_topic, group_names, cluster):
    dlq, group = make_topic(partitions=1, prefix="sectest.no-acl"), group_names("opsportal-sectest")
    produce_records(kafka.producer(cluster), dlq, [(b"k", b"{}", None)] * 3, cluster=cluster)

    with pytest.raises(kafka.KafkaClientError) as refused:
        drain_dead_letter(topic=dlq, group_id=group, until_empty=True, timeout=1.0)

    message = str(refused.value)
    assert "topic authorization failed for user opsportal (TOPIC_AUTHORIZATION_FAILED)" in message
    assert dlq in message
    assert not DeadLetterRecord.objects.filter(dlq_topic=dlq).exists()
    assert kafka.committed_offsets([group], cluster)[0].get(group, {}) == {}


@pytest.mark.django_db
def test_an_offset_reset_of_a_group_without_an_acl_names_the_refused_group_and_changes_nothing(
    secured, billing_topic, group_names, cluster
):
    topic, group = billing_topic(partitions=1), group_names("sectest-no-acl")
    produce_records(kafka.producer(cluster), topic, [(b"k", b"v", None)] * 4, cluster=cluster)
    assert kafka.alter_committed_offsets(group, {(topic, 0): 4}, cluster) == {(topic, 0): None}

    outcome = kafka.alter_committed_offsets(group, {(topic, 0): 1})

    message = str(outcome[(topic, 0)])
    assert "group authorization failed for user opsportal (GROUP_AUTHORIZATION_FAILED)" in message
    assert f"resetting {group} on {topic}[0] was refused" in message
    assert kafka.committed_offsets([group], cluster)[0][group] == {(topic, 0): 4}


@pytest.mark.django_db
def test_check_kafka_lists_a_missing_acl_and_exits_non_zero(secured, make_topic, password):
    dlq = make_topic(partitions=1, prefix="sectest.unreadable")
    env = os.environ | {"DATABASE_URL": database_url_for_children(), "DEBUG": "1", "DEAD_LETTER_TOPIC": dlq}

    run = subprocess.run(
        [sys.executable, "manage.py", "check_kafka"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    lines = run.stdout.splitlines()
    assert run.returncode != 0, run.stdout
    assert "ok       DESCRIBE cluster kafka-cluster (brokers, consumer group list, /readyz)" in lines
    assert f"ok       DESCRIBE topic {dlq} (mirror: partitions and offsets)" in lines
    assert (
        f"REFUSED  READ topic {dlq} (drain): TOPIC_AUTHORIZATION_FAILED: no ACL allows user opsportal READ "
        f"on topic {dlq}"
    ) in lines
    assert "operations refused" in run.stderr
    assert password not in run.stdout + run.stderr


@pytest.mark.django_db
def test_the_password_is_absent_from_librdkafka_logs_and_errors(secured, password, caplog):
    caplog.set_level(logging.DEBUG, logger="librdkafka")
    verbose = kafka.ClusterSettings.from_django()
    verbose = kafka.ClusterSettings(**{**verbose.__dict__, "extra": {"debug": "security,broker,conf"}})
    wrong = kafka.ClusterSettings(**{**verbose.__dict__, "sasl_password": "Wrong-Password-42", "request_timeout": 3.0})

    assert kafka.describe_brokers(verbose)
    with pytest.raises(kafka.KafkaUnavailable) as refused:
        kafka.describe_brokers(wrong)

    assert "SASL" in caplog.text  # librdkafka did speak about the login
    for secret in (password, "Wrong-Password-42"):
        assert secret not in caplog.text
        assert secret not in str(refused.value)
        assert secret not in repr(verbose) + repr(wrong) + repr(wrong.librdkafka_config())
