"""A local Apache Kafka cluster from Maven Central jars, without Docker.

`./dev kafka up|down|status|env [--brokers 1|3] [--security sasl_ssl]` runs this
module. Brokers run in KRaft combined mode (each node is broker and controller),
listen on 127.0.0.1:9092/9093/9094 like the billing cluster, and keep data and
logs in var/kafka/<brokers>/, so a 1-broker and a 3-broker cluster never share
state. `--security sasl_ssl` adds SASL_SSL/SCRAM-SHA-512 listeners on
127.0.0.1:9192/9193/9194 with StandardAuthorizer; SCRAM users only exist from
format time, so that cluster lives in var/kafka/<brokers>-sasl_ssl/ (certificates
and passwords under its security/). It needs only the standard library, Java 17+,
Maven and openssl; whether a broker is in the cluster metadata is asked through
the portal's Kafka client module.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KAFKA_DIR = ROOT / "kafka"
LIBS_DIR = KAFKA_DIR / "libs"
# The Prometheus JMX exporter agent lives apart from libs/, off the broker's classpath.
AGENT_DIR = KAFKA_DIR / "agent"
JMX_EXPORTER_CONFIG = KAFKA_DIR / "jmx-exporter.yml"
JMX_EXPORTER_PORTS = (7071, 7072, 7073)
STATE_ROOT = Path(os.environ.get("OPSPORTAL_STATE_DIR", ROOT / "var")) / "kafka"
BROKER_PORTS = (9092, 9093, 9094)
SECURED_PORTS = (9192, 9193, 9194)  # SASL_SSL, with --security sasl_ssl
CONTROLLER_PORTS = (19093, 29093, 39093)
SECURITY_CHOICES = ("none", "sasl_ssl")
SCRAM_MECHANISM = "SCRAM-SHA-512"
ADMIN_USER = "admin"  # super user, for the tools
PORTAL_USER = "opsportal"  # only the ACLs below
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


# What the portal's user may do, and no more (the README's "Pointing the portal at an existing
# cluster" lists the same): (resource type, name, pattern type, operations).
PORTAL_ACLS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    # The mirror and /readyz: brokers, and listing consumer groups.
    ("CLUSTER", "kafka-cluster", "LITERAL", ("DESCRIBE",)),
    # The mirror: every topic, its configs and partition offsets.
    ("TOPIC", "*", "LITERAL", ("DESCRIBE", "DESCRIBE_CONFIGS")),
    # The drain, the browser and the republish scan read the billing topics; republish writes them.
    ("TOPIC", "billing.", "PREFIXED", ("READ", "WRITE")),
    # The mirror: every group's members and committed offsets.
    ("GROUP", "*", "LITERAL", ("DESCRIBE",)),
    # The drain's group commits; the browser's and the scan's are named but never commit.
    ("GROUP", "opsportal-", "PREFIXED", ("READ",)),
    # Offset resets commit new offsets for the billing services' groups.
    ("GROUP", "billing-", "PREFIXED", ("READ",)),
)


@dataclass(frozen=True)
class Node:
    node_id: int
    state_dir: Path
    brokers: int
    security: str = "none"

    @property
    def broker_port(self) -> int:
        return BROKER_PORTS[self.node_id - 1]

    @property
    def secured_port(self) -> int | None:
        return SECURED_PORTS[self.node_id - 1] if self.security == "sasl_ssl" else None

    @property
    def controller_port(self) -> int:
        return CONTROLLER_PORTS[self.node_id - 1]

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
        voters = ",".join(f"{n}@127.0.0.1:{CONTROLLER_PORTS[n - 1]}" for n in range(1, self.brokers + 1))
        replication = min(3, self.brokers)
        min_isr = 2 if self.brokers >= 3 else 1
        advertised = f"PLAINTEXT://127.0.0.1:{self.broker_port}"
        if self.secured_port:
            advertised += f",SASL_SSL://127.0.0.1:{self.secured_port}"
        return "\n".join(
            [
                "process.roles=broker,controller",
                f"node.id={self.node_id}",
                f"controller.quorum.voters={voters}",
                f"listeners={advertised},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners={advertised}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL",
                *self._security_properties(),
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

    def _security_properties(self) -> list[str]:
        if self.security != "sasl_ssl":
            return []
        keys = Security(self.state_dir)
        return [
            f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            # The broker reads the PEM itself: the unencrypted PKCS#8 key, then the chain.
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={keys.keystore}",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # ANONYMOUS is whoever uses a PLAINTEXT listener: the controllers, the brokers
            # between themselves, the tools and the tests' setup on 9092-9094.
            f"super.users=User:ANONYMOUS;User:{ADMIN_USER}",
        ]

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


class Security:
    """The secured cluster's CA, broker certificate and SCRAM passwords, under its state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "security"
        self.ca = self.dir / "ca.pem"
        self.keystore = self.dir / "broker-keystore.pem"

    def password_file(self, user: str) -> Path:
        return self.dir / f"{user}.password"

    def password(self, user: str) -> str:
        try:
            return self.password_file(user).read_text().strip()
        except OSError as exc:
            raise ClusterError(f"no password for {user}: `./dev kafka up --security sasl_ssl` makes it") from exc

    def create(self) -> None:
        """Passwords and certificates, once: the users are formatted into the cluster with them."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for user in (ADMIN_USER, PORTAL_USER):
            if not self.password_file(user).exists():
                _write_private(self.password_file(user), secrets.token_urlsafe(24))
        if not (self.ca.exists() and self.keystore.exists()):
            _make_certificates(self.dir)

    def scram_arguments(self) -> list[str]:
        return [
            arg
            for user in (ADMIN_USER, PORTAL_USER)
            for arg in ("--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={self.password(user)}]")
        ]


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text + "\n")


def _make_certificates(folder: Path) -> None:
    """A CA and one broker certificate for 127.0.0.1 and localhost, shared by the brokers."""
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        work = Path(scratch)
        (work / "ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        steps = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", "/CN=opsportal local Kafka CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-keyout", "ca.key", "-out", "ca.pem"],
            # genpkey writes unencrypted PKCS#8, which a JDK 17 broker reads from a PEM keystore.
            ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "broker.key"],
            ["req", "-new", "-key", "broker.key", "-subj", "/CN=localhost", "-out", "broker.csr"],
            ["x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "3650", "-extfile", "ext", "-out", "broker.crt"],
        ]  # fmt: skip
        for step in steps:
            result = subprocess.run(["openssl", *step], cwd=work, capture_output=True, text=True)
            if result.returncode != 0:
                raise ClusterError(f"openssl {step[0]} failed: {result.stderr.strip()}")
        keystore = "".join((work / name).read_text() for name in ("broker.key", "broker.crt", "ca.pem"))
        _write_private(folder / "broker-keystore.pem", keystore.strip())
        (work / "ca.pem").replace(folder / "ca.pem")


def nodes(brokers: int, security: str | None = None) -> list[Node]:
    """The nodes of a cluster; security None: the running one of that size (secured or not), else plain."""
    if brokers not in (1, 3):
        raise ClusterError(f"--brokers must be 1 or 3, not {brokers}")
    if security is None:
        running = running_cluster()
        security = running[1] if running and running[0] == brokers else "none"
    if security not in SECURITY_CHOICES:
        raise ClusterError(f"--security must be one of {', '.join(SECURITY_CHOICES)}, not {security}")
    state_dir = STATE_ROOT / (str(brokers) if security == "none" else f"{brokers}-{security}")
    return [Node(n, state_dir, brokers, security) for n in range(1, brokers + 1)]


def running_cluster() -> tuple[int, str] | None:
    """(broker count, security) of the cluster of ours that runs now, if any."""
    for brokers in (3, 1):
        for security in SECURITY_CHOICES:
            if any(node.pid() for node in nodes(brokers, security)):
                return brokers, security
    return None


def _describe(brokers: int, security: str) -> str:
    return f"{brokers}-broker cluster" + ("" if security == "none" else f" ({security})")


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


def java(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["java", "-cp", f"{LIBS_DIR}/*", *args], capture_output=True, text=True, **kwargs)


def _java_private(args: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    """Run a Java tool whose arguments hold passwords: they go in a 0600 @argfile, never in argv,
    so no process listing shows them."""
    argfile = folder / f"args-{os.getpid()}"
    _write_private(argfile, "\n".join(f'"{arg}"' for arg in args))
    try:
        return java(f"@{argfile}")
    finally:
        argfile.unlink(missing_ok=True)


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
    security = Security(state_dir)
    if cluster_nodes[0].security == "sasl_ssl":
        security.create()
    for node in cluster_nodes:
        node.logs_dir.mkdir(parents=True, exist_ok=True)
        node.config_file.write_text(node.properties())
        if (node.data_dir / "meta.properties").exists():
            continue
        args = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(node.config_file)]
        if node.security == "sasl_ssl":
            result = _java_private([*args, *security.scram_arguments()], security.dir)
        else:
            result = java(*args)
        if result.returncode != 0:
            raise ClusterError(f"formatting node {node.node_id} failed: {result.stdout}{result.stderr}".strip())


def _check_ports_free(node: Node) -> None:
    for port in (node.broker_port, node.secured_port, node.controller_port):
        if port is None:
            continue
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


def _plaintext_settings(brokers: int) -> Any:
    """The tools' connection: PLAINTEXT, whose ANONYMOUS user is a super user on a secured cluster."""
    sys.path.insert(0, str(ROOT))
    from opsportal import kafka

    return kafka.ClusterSettings(",".join(f"127.0.0.1:{port}" for port in BROKER_PORTS[:brokers]), request_timeout=3.0)


def wait_for_metadata(brokers: int, timeout: float = START_TIMEOUT) -> None:
    """Wait until each broker answers and the metadata lists all of them."""
    sys.path.insert(0, str(ROOT))
    from opsportal import kafka

    cluster_nodes = nodes(brokers)
    cluster = _plaintext_settings(brokers)
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        for node in cluster_nodes:
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

    cluster = _plaintext_settings(brokers)
    if "__consumer_offsets" not in kafka.list_topics(cluster):
        java(
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "--bootstrap-server", cluster.bootstrap_servers, "--describe", "--group", "opsportal-start-up",
            timeout=120,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topic = kafka.list_topics(cluster).get("__consumer_offsets")
        if topic and all(p.leader >= 0 and len(p.isr) == len(p.replicas) for p in topic.partitions):
            return
        time.sleep(0.5)
    raise ClusterError(f"__consumer_offsets was not ready in {timeout:.0f}s")


def grant_portal_acls(brokers: int) -> None:
    """The portal user's ACLs (PORTAL_ACLS); creating one that exists changes nothing."""
    sys.path.insert(0, str(ROOT))
    from opsportal import kafka

    grants = [
        kafka.AclGrant(f"User:{PORTAL_USER}", resource, name, pattern, operation)
        for resource, name, pattern, operations in PORTAL_ACLS
        for operation in operations
    ]
    failures = kafka.create_acls(grants, _plaintext_settings(brokers))
    if failures:
        raise ClusterError("creating ACLs failed: " + "; ".join(str(error) for error in failures.values()))


def up(brokers: int, security: str = "none") -> None:
    cluster_nodes = nodes(brokers, security)
    running = running_cluster()
    if running == (brokers, "sasl_ssl") and security == "none":
        # The secured cluster has the PLAINTEXT listeners too: it serves a plain client as well.
        security, cluster_nodes = "sasl_ssl", nodes(brokers, "sasl_ssl")
    elif running is not None and running != (brokers, security):
        raise ClusterError(f"a {_describe(*running)} is running; `./dev kafka down` it first")
    ensure_jars()
    _format_storage(cluster_nodes)
    started = [node for node in cluster_nodes if node.pid() is None]
    try:
        for node in cluster_nodes:
            start_node(node)
        wait_for_metadata(brokers)
        ensure_offsets_topic(brokers)
        if security == "sasl_ssl":
            grant_portal_acls(brokers)
    except (ClusterError, KeyboardInterrupt):
        # A half-started cluster is worse than none: stop what this call started.
        for node in started:
            stop_node(node)
        raise
    status(brokers, security)
    state_dir = cluster_nodes[0].state_dir
    print(f"Kafka state: {state_dir.relative_to(ROOT) if state_dir.is_relative_to(ROOT) else state_dir}")


def down() -> None:
    for brokers in (1, 3):
        for security in SECURITY_CHOICES:
            for node in nodes(brokers, security):
                stop_node(node)
    print("Kafka: stopped")


def status(brokers: int | None = None, security: str | None = None) -> bool:
    running = running_cluster()
    brokers = brokers or (running[0] if running else 3)
    if security is None:
        security = running[1] if running and running[0] == brokers else "none"
    all_up = True
    for node in nodes(brokers, security):
        pid = node.pid()
        answers = node.answers() and (node.secured_port is None or _port_open(node.secured_port))
        all_up &= bool(pid and answers)
        state = "up" if pid and answers else ("starting" if pid else "down")
        metrics = f", metrics on 127.0.0.1:{node.metrics_port}" if pid and _port_open(node.metrics_port) else ""
        secured = f", SASL_SSL on 127.0.0.1:{node.secured_port}" if node.secured_port else ""
        print(
            f"Kafka broker {node.node_id}: 127.0.0.1:{node.broker_port} {state}"
            + (f" (pid {pid}{metrics}){secured}" if pid else "")
        )
    return all_up


def portal_environment(brokers: int, security: str, user: str = PORTAL_USER) -> dict[str, str]:
    """The portal's KAFKA_* variables for this cluster, with the real password (tests, ./dev up)."""
    if security == "none":
        return {
            "KAFKA_BOOTSTRAP_SERVERS": ",".join(f"127.0.0.1:{port}" for port in BROKER_PORTS[:brokers]),
            "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        }
    keys = Security(nodes(brokers, security)[0].state_dir)
    return {
        "KAFKA_BOOTSTRAP_SERVERS": ",".join(f"127.0.0.1:{port}" for port in SECURED_PORTS[:brokers]),
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": SCRAM_MECHANISM,
        "KAFKA_SASL_USERNAME": user,
        "KAFKA_SASL_PASSWORD": keys.password(user),
        "KAFKA_SSL_CA_LOCATION": str(keys.ca),
    }


def print_environment(brokers: int, security: str) -> None:
    """`export` lines; the password is read from its file by the shell, so it is never printed."""
    for name, value in portal_environment(brokers, security).items():
        if name == "KAFKA_SASL_PASSWORD":
            password_file = Security(nodes(brokers, security)[0].state_dir).password_file(PORTAL_USER)
            print(f'export {name}="$(cat {shlex.quote(str(password_file))})"')
        else:
            print(f"export {name}={shlex.quote(value)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev kafka", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "env", "stop-broker", "start-broker"])
    parser.add_argument("--brokers", type=int, default=None, help="1 or 3 (default 3)")
    parser.add_argument("--security", choices=SECURITY_CHOICES, default=None, help="sasl_ssl adds SASL_SSL listeners")
    parser.add_argument("--node", type=int, default=None, help="node id for stop-broker/start-broker")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up(args.brokers or 3, args.security or "none")
        elif args.command == "down":
            down()
        elif args.command == "status":
            return 0 if status(args.brokers, args.security) else 1
        elif args.command == "env":
            print_environment(args.brokers or 3, args.security or "none")
        else:
            brokers, security = running_cluster() or (args.brokers or 3, args.security or "none")
            node = nodes(brokers, security)[(args.node or 1) - 1]
            stop_node(node) if args.command == "stop-broker" else start_node(node)
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
