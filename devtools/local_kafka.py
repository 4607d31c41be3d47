"""A local Apache Kafka cluster from Maven Central jars, without Docker.

`./dev kafka up|down|status [--brokers 1|3]` runs this module. Brokers run in
KRaft combined mode (each node is broker and controller), listen on
127.0.0.1:9092/9093/9094 like the billing cluster, and keep data and logs in
var/kafka/<brokers>/, so a 1-broker and a 3-broker cluster never share state.
It needs only the standard library, Java 17+ and Maven; whether a broker is
in the cluster metadata is asked through the portal's Kafka client module.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KAFKA_DIR = ROOT / "kafka"
LIBS_DIR = KAFKA_DIR / "libs"
# The Prometheus JMX exporter agent lives apart from libs/, off the broker's classpath.
AGENT_DIR = KAFKA_DIR / "agent"
JMX_EXPORTER_CONFIG = KAFKA_DIR / "jmx-exporter.yml"
JMX_EXPORTER_PORTS = (7071, 7072, 7073)
STATE_ROOT = Path(os.environ.get("OPSPORTAL_STATE_DIR", ROOT / "var")) / "kafka"
BROKER_PORTS = (9092, 9093, 9094)
JVM_HEAP = os.environ.get("KAFKA_HEAP", "512m")
START_TIMEOUT = 120.0

LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <RollingFile name="server" fileName="${sys:kafka.logs.dir}/server.log"
                 filePattern="${sys:kafka.logs.dir}/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="20 MB"/>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="info"><AppenderRef ref="server"/></Root>
    <Logger name="state.change.logger" level="warn"/>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="org.apache.kafka.controller" level="warn"/>
  </Loggers>
</Configuration>
"""


class ClusterError(Exception):
    """A problem the operator must fix; printed as one line, exit code 1."""


@dataclass(frozen=True)
class Node:
    node_id: int
    state_dir: Path
    brokers: int

    @property
    def broker_port(self) -> int:
        return BROKER_PORTS[self.node_id - 1]

    @property
    def controller_port(self) -> int:
        return self.node_id * 10000 + 9093

    @property
    def metrics_port(self) -> int:
        return JMX_EXPORTER_PORTS[self.node_id - 1]

    @property
    def data_dir(self) -> Path:
        return self.state_dir / f"node-{self.node_id}" / "data"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / f"node-{self.node_id}" / "logs"

    @property
    def config_file(self) -> Path:
        return self.state_dir / f"node-{self.node_id}" / "server.properties"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"node-{self.node_id}" / "kafka.pid"

    def properties(self) -> str:
        voters = ",".join(f"{n}@127.0.0.1:{n * 10000 + 9093}" for n in range(1, self.brokers + 1))
        replication = min(3, self.brokers)
        min_isr = 2 if self.brokers >= 3 else 1
        return "\n".join(
            [
                "process.roles=broker,controller",
                f"node.id={self.node_id}",
                f"controller.quorum.voters={voters}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.broker_port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.broker_port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={self.data_dir}",
                f"default.replication.factor={replication}",
                f"min.insync.replicas={min_isr}",
                f"offsets.topic.replication.factor={replication}",
                f"transaction.state.log.replication.factor={replication}",
                f"transaction.state.log.min.isr={min_isr}",
                f"share.coordinator.state.topic.replication.factor={replication}",
                f"share.coordinator.state.topic.min.isr={min_isr}",
                "unclean.leader.election.enable=false",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "num.partitions=1",
                "log.retention.hours=-1",
                "",
            ]
        )

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def answers(self) -> bool:
        return _port_open(self.broker_port)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (when the caller started it) is not a running broker.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def nodes(brokers: int) -> list[Node]:
    if brokers not in (1, 3):
        raise ClusterError(f"--brokers must be 1 or 3, not {brokers}")
    state_dir = STATE_ROOT / str(brokers)
    return [Node(n, state_dir, brokers) for n in range(1, brokers + 1)]


def running_cluster() -> int | None:
    """The broker count of the cluster of ours that runs now, if any."""
    for brokers in (3, 1):
        if any(node.pid() for node in nodes(brokers)):
            return brokers
    return None


def ensure_jars() -> None:
    """Resolve the pinned Kafka with Maven once; re-resolve when pom.xml changes."""
    stamp = LIBS_DIR / ".resolved"
    pom = KAFKA_DIR / "pom.xml"
    if stamp.exists() and stamp.stat().st_mtime >= pom.stat().st_mtime:
        return
    print("Resolving Apache Kafka jars from Maven Central (kafka/pom.xml)...", flush=True)
    result = subprocess.run(
        ["mvn", "-q", "-B", "dependency:copy-dependencies", f"-DoutputDirectory={LIBS_DIR}"],
        cwd=KAFKA_DIR,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise ClusterError(f"Maven could not resolve kafka/pom.xml:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    AGENT_DIR.mkdir(exist_ok=True)
    for agent in LIBS_DIR.glob("jmx_prometheus_javaagent-*.jar"):
        agent.replace(AGENT_DIR / "jmx_prometheus_javaagent.jar")
    stamp.touch()


def java(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["java", "-cp", f"{LIBS_DIR}/*", *args], capture_output=True, text=True, **kwargs)


def _format_storage(cluster_nodes: list[Node]) -> None:
    state_dir = cluster_nodes[0].state_dir
    id_file = state_dir / "cluster-id"
    if not id_file.exists():
        result = java("kafka.tools.StorageTool", "random-uuid")
        if result.returncode != 0:
            raise ClusterError(f"StorageTool random-uuid failed: {result.stderr.strip()}")
        state_dir.mkdir(parents=True, exist_ok=True)
        id_file.write_text(result.stdout.strip())
    cluster_id = id_file.read_text().strip()
    for node in cluster_nodes:
        node.logs_dir.mkdir(parents=True, exist_ok=True)
        node.config_file.write_text(node.properties())
        if (node.data_dir / "meta.properties").exists():
            continue
        result = java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(node.config_file))
        if result.returncode != 0:
            raise ClusterError(f"formatting node {node.node_id} failed: {result.stdout}{result.stderr}".strip())


def _check_ports_free(node: Node) -> None:
    for port in (node.broker_port, node.controller_port):
        if _port_open(port):
            raise ClusterError(
                f"port {port} (node {node.node_id}) is already taken by a process that is not this "
                f"cluster; stop it (`ss -ltnp 'sport = :{port}'` shows which) or the other cluster "
                "(`./dev kafka down`)"
            )


def start_node(node: Node) -> None:
    if node.pid():
        return
    _check_ports_free(node)
    log4j = node.state_dir / "log4j2.xml"
    log4j.write_text(LOG4J2_XML)
    command = [
        "java",
        f"-Xmx{JVM_HEAP}",
        f"-Xms{JVM_HEAP}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={node.logs_dir}",
        *_metrics_agent(node),
        "-cp",
        f"{LIBS_DIR}/*",
        "kafka.Kafka",
        str(node.config_file),
    ]
    with open(node.logs_dir / "stdout.log", "ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    node.pid_file.write_text(str(process.pid))


def _metrics_agent(node: Node) -> list[str]:
    """The JMX exporter agent serving the broker's metrics on 127.0.0.1:<metrics_port>/metrics."""
    agent = AGENT_DIR / "jmx_prometheus_javaagent.jar"
    if not agent.exists():
        return []
    return [f"-javaagent:{agent}=127.0.0.1:{node.metrics_port}:{JMX_EXPORTER_CONFIG}"]


def stop_node(node: Node, timeout: float = 60.0) -> None:
    pid = node.pid()
    if pid is None:
        node.pid_file.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    node.pid_file.unlink(missing_ok=True)


def wait_for_metadata(brokers: int, timeout: float = START_TIMEOUT) -> None:
    """Wait until each broker answers and the metadata lists all of them."""
    sys.path.insert(0, str(ROOT))
    from opsportal import kafka

    bootstrap = ",".join(f"127.0.0.1:{port}" for port in BROKER_PORTS[:brokers])
    cluster = kafka.ClusterSettings(bootstrap, request_timeout=3.0)
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        for node in nodes(brokers):
            if node.pid() is None:
                log = node.logs_dir / "server.log"
                raise ClusterError(f"broker {node.node_id} exited during start-up; see {log}")
        try:
            seen = len(kafka.describe_brokers(cluster))
        except kafka.KafkaClientError:
            seen = 0
        if seen == brokers:
            return
        time.sleep(0.5)
    raise ClusterError(f"only {seen} of {brokers} brokers joined the cluster metadata in {timeout:.0f}s")


def ensure_offsets_topic(brokers: int, timeout: float = START_TIMEOUT) -> None:
    """Have the group coordinator create __consumer_offsets before any client of ours asks.

    On a brand-new cluster the first group request finds no offsets topic; librdkafka
    2.16 has been seen to crash (SIGSEGV in rd_kafka_cgrp_op) in exactly that window.
    A cluster in use always has the topic, so the local one gets it at start-up, from
    Kafka's own tool: describing any group makes the coordinator create it.
    """
    sys.path.insert(0, str(ROOT))
    from opsportal import kafka

    bootstrap = ",".join(f"127.0.0.1:{port}" for port in BROKER_PORTS[:brokers])
    cluster = kafka.ClusterSettings(bootstrap, request_timeout=3.0)
    if "__consumer_offsets" not in kafka.list_topics(cluster):
        java(
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "--bootstrap-server", bootstrap, "--describe", "--group", "opsportal-start-up",
            timeout=120,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topic = kafka.list_topics(cluster).get("__consumer_offsets")
        if topic and all(p.leader >= 0 and len(p.isr) == len(p.replicas) for p in topic.partitions):
            return
        time.sleep(0.5)
    raise ClusterError(f"__consumer_offsets was not ready in {timeout:.0f}s")


def up(brokers: int) -> None:
    other = running_cluster()
    if other is not None and other != brokers:
        raise ClusterError(f"a {other}-broker cluster is running; `./dev kafka down` it first")
    ensure_jars()
    cluster_nodes = nodes(brokers)
    _format_storage(cluster_nodes)
    started = [node for node in cluster_nodes if node.pid() is None]
    try:
        for node in cluster_nodes:
            start_node(node)
        wait_for_metadata(brokers)
        ensure_offsets_topic(brokers)
    except (ClusterError, KeyboardInterrupt):
        # A half-started cluster is worse than none: stop what this call started.
        for node in started:
            stop_node(node)
        raise
    status(brokers)


def down() -> None:
    for brokers in (1, 3):
        for node in nodes(brokers):
            stop_node(node)
    print("Kafka: stopped")


def status(brokers: int | None = None) -> bool:
    brokers = brokers or running_cluster() or 3
    all_up = True
    for node in nodes(brokers):
        pid = node.pid()
        answers = node.answers()
        all_up &= bool(pid and answers)
        state = "up" if pid and answers else ("starting" if pid else "down")
        metrics = f", metrics on 127.0.0.1:{node.metrics_port}" if pid and _port_open(node.metrics_port) else ""
        print(
            f"Kafka broker {node.node_id}: 127.0.0.1:{node.broker_port} {state}"
            + (f" (pid {pid}{metrics})" if pid else "")
        )
    return all_up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev kafka", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "stop-broker", "start-broker"])
    parser.add_argument("--brokers", type=int, default=None, help="1 or 3 (default 3)")
    parser.add_argument("--node", type=int, default=None, help="node id for stop-broker/start-broker")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up(args.brokers or 3)
        elif args.command == "down":
            down()
        elif args.command == "status":
            return 0 if status(args.brokers) else 1
        else:
            brokers = running_cluster() or args.brokers or 3
            node = nodes(brokers)[(args.node or 1) - 1]
            stop_node(node) if args.command == "stop-broker" else start_node(node)
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
