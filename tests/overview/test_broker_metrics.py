"""Each local broker serves its JMX exporter's metrics, with the names the alerts and the dashboard use."""

from __future__ import annotations

import urllib.request

import pytest

from devtools.local_kafka import JMX_EXPORTER_PORTS

NEEDED = (
    "kafka_server_brokertopicmetrics_messagesin_total",
    "kafka_server_brokertopicmetrics_bytesin_total",
    "kafka_server_brokertopicmetrics_bytesout_total",
    "kafka_server_replicamanager_underreplicatedpartitions",
    "kafka_controller_kafkacontroller_offlinepartitionscount",
    "kafka_controller_kafkacontroller_activecontrollercount",
    'kafka_network_requestmetrics_totaltimems{quantile="0.99",request="Produce"}',
)


@pytest.mark.parametrize("port", JMX_EXPORTER_PORTS)
def test_each_broker_exports_its_metrics(cluster, port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        names = {line.split(" ")[0] for line in response.read().decode().splitlines() if not line.startswith("#")}
    assert [name for name in NEEDED if name not in names] == []


def test_exactly_one_broker_is_the_active_controller(cluster):
    active = 0
    for port in JMX_EXPORTER_PORTS:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("kafka_controller_kafkacontroller_activecontrollercount "):
                    active += int(float(line.split()[1]))
    assert active == 1
