"""The local cluster tool: starting twice is harmless, a taken port or a clash is one clear message."""

from __future__ import annotations

import socket

import pytest

from devtools import local_kafka

pytestmark = pytest.mark.cluster_changes


def test_starting_the_running_cluster_again_is_harmless(cluster, capsys):
    pids = [node.pid() for node in local_kafka.nodes(3)]

    local_kafka.up(3)

    assert [node.pid() for node in local_kafka.nodes(3)] == pids
    assert capsys.readouterr().out.count(" up (pid") == 3


def test_a_one_broker_cluster_is_refused_while_three_run(cluster):
    with pytest.raises(local_kafka.ClusterError, match=r"3-broker cluster (\(sasl_ssl\) )?is running"):
        local_kafka.up(1)


def test_a_taken_port_is_named_in_one_clear_message(tmp_path, monkeypatch):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        monkeypatch.setattr(local_kafka, "BROKER_PORTS", (port, port + 1, port + 2))
        monkeypatch.setattr(local_kafka, "STATE_ROOT", tmp_path)
        node = local_kafka.nodes(1)[0]
        node.logs_dir.mkdir(parents=True)

        with pytest.raises(local_kafka.ClusterError) as refused:
            local_kafka.start_node(node)

    assert f"port {port} (node 1) is already taken" in str(refused.value)
    assert node.pid() is None


def test_the_configs_follow_the_billing_cluster():
    three = local_kafka.nodes(3, "none")[1].properties()
    one = local_kafka.nodes(1, "none")[0].properties()

    assert "listeners=PLAINTEXT://127.0.0.1:9093,CONTROLLER://127.0.0.1:29093" in three
    assert "controller.quorum.voters=1@127.0.0.1:19093,2@127.0.0.1:29093,3@127.0.0.1:39093" in three
    for line in ("min.insync.replicas=2", "offsets.topic.replication.factor=3", "unclean.leader.election.enable=false"):
        assert line in three
    assert "min.insync.replicas=1" in one and "default.replication.factor=1" in one


def test_the_secured_cluster_adds_sasl_ssl_listeners_with_authorization_in_its_own_folder():
    node = local_kafka.nodes(3, "sasl_ssl")[1]
    secured = node.properties()

    assert node.state_dir.name == "3-sasl_ssl"
    assert "listeners=PLAINTEXT://127.0.0.1:9093,SASL_SSL://127.0.0.1:9193,CONTROLLER://127.0.0.1:29093" in secured
    for line in (
        "inter.broker.listener.name=PLAINTEXT",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users=User:ANONYMOUS;User:admin",
        "ssl.keystore.type=PEM",
    ):
        assert line in secured
