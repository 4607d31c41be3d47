"""docker-compose.yml, checked without a Docker engine: the Compose specification's schema, and
its consistency with the portal, the local cluster, topics/spec.py and the monitoring files."""

from __future__ import annotations

import ast
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml

from devtools import local_kafka
from topics.spec import BILLING_CONFIGS, TOPICS

from ..test_readme import EnvironmentReads
from .conftest import ENTRYPOINT, ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
PORTAL_SERVICES = ("init", "web", "worker", "beat")
# What each portal service needs set: the defaults of settings.py are for a laptop, not a container
# (SQLite, 127.0.0.1 brokers and Redis), and DEBUG off needs a key; /metrics needs its token.
REQUIRED = {
    "DEBUG",
    "SECRET_KEY",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "ALLOWED_HOSTS",
    "METRICS_TOKEN",
}
# Read by the entrypoint, not by settings.py.
ENTRYPOINT_VARIABLES = {"GUNICORN_WORKERS", "GUNICORN_THREADS", "OPSPORTAL_ADMIN_USER", "OPSPORTAL_ADMIN_PASSWORD"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    return dict(item.split("=", 1) for item in env) if isinstance(env, list) else {k: str(v) for k, v in env.items()}


def check_jsonschema(path: Path) -> subprocess.CompletedProcess:
    command = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert command, "check-jsonschema is missing: pip install -r requirements.txt"
    return subprocess.run(
        [command, "--builtin-schema", "vendor.compose-spec", str(path)], capture_output=True, text=True, timeout=60
    )


def test_it_validates_against_the_compose_specification(tmp_path):
    valid = check_jsonschema(COMPOSE_FILE)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    # The validator does reject a broken file: a service with a misspelt key.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("    healthcheck:\n", "    healthchek:\n", 1))
    assert check_jsonschema(broken).returncode != 0


def test_the_seeds_stack_is_there_on_its_ports(compose):
    services = compose["services"]
    published = {name: {str(p).split(":")[0] for p in s.get("ports", [])} for name, s in services.items()}
    expected = {
        "kafka-1": {"9092"}, "kafka-2": {"9093"}, "kafka-3": {"9094"}, "schema-registry": {"8081"},
        "kafka-ui": {"8080"}, "prometheus": {"9090"}, "grafana": {"3000"}, "web": {"8000"},
    }  # fmt: skip
    assert {name: published[name] for name in expected} == expected
    assert {"redis", "postgres", "init", "worker", "beat"} <= set(services)
    assert environment(services["schema-registry"])["SCHEMA_REGISTRY_SCHEMA_COMPATIBILITY_LEVEL"] == "FORWARD"
    assert "postgres" in compose["volumes"] and "postgres:/var/lib/postgresql/data" in services["postgres"]["volumes"]


def test_the_brokers_run_the_kafka_version_the_local_cluster_runs(compose):
    pinned = re.search(r"<kafka.version>(.+)</kafka.version>", (ROOT / "kafka" / "pom.xml").read_text()).group(1)
    for name in ("kafka-1", "kafka-2", "kafka-3"):
        assert compose["services"][name]["image"] == f"apache/kafka:{pinned}"


# KAFKA_* variables the apache/kafka image does not turn into properties (its kafka-propertiesSpec.json).
NOT_PROPERTIES = {"KAFKA_VERSION", "KAFKA_HEAP_OPTS", "KAFKA_LOG4J_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS"}


def broker_settings(service: dict) -> dict[str, str]:
    """A broker's server.properties as the apache/kafka image builds them from KAFKA_* variables."""
    return {
        key[len("KAFKA_") :].lower().replace("_", "."): value
        for key, value in environment(service).items()
        if key.startswith("KAFKA_") and key not in NOT_PROPERTIES
    }


def test_the_brokers_are_configured_as_the_local_cluster_and_the_topic_spec(compose):
    local = dict(line.split("=", 1) for line in local_kafka.nodes(3)[0].properties().splitlines() if line)
    shared = (
        "process.roles", "default.replication.factor", "min.insync.replicas", "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor", "share.coordinator.state.topic.min.isr",
        "unclean.leader.election.enable", "group.initial.rebalance.delay.ms", "auto.create.topics.enable",
        "num.partitions", "log.retention.hours",
    )  # fmt: skip
    host_ports = []
    for number, name in enumerate(("kafka-1", "kafka-2", "kafka-3"), start=1):
        broker = broker_settings(compose["services"][name])
        assert {key: broker.get(key) for key in shared} == {key: local[key] for key in shared}, name
        assert broker["node.id"] == str(number)
        host_ports += [int(str(port).split(":")[0]) for port in compose["services"][name]["ports"]]
        assert f"EXTERNAL://localhost:{host_ports[-1]}" in broker["advertised.listeners"]
    assert tuple(host_ports) == local_kafka.BROKER_PORTS
    # The billing topics' own settings are what the brokers enforce by default too.
    assert broker["min.insync.replicas"] == BILLING_CONFIGS["min.insync.replicas"]
    assert broker["unclean.leader.election.enable"] == BILLING_CONFIGS["unclean.leader.election.enable"]
    assert BILLING_CONFIGS["retention.ms"] == "-1" and broker["log.retention.hours"] == "-1"
    assert {topic.replication_factor for topic in TOPICS} == {int(broker["default.replication.factor"])}


def test_every_portal_service_gets_what_the_portal_requires(compose):
    read = EnvironmentReads((ROOT / "opsportal" / "settings.py").read_text()).names
    for name in PORTAL_SERVICES:
        env = environment(compose["services"][name])
        assert REQUIRED <= set(env), f"{name} lacks {sorted(REQUIRED - set(env))}"
        assert env["DEBUG"] == "false", name
        # A misspelt variable would be ignored silently: each one must be read by someone.
        unknown = set(env) - read - ENTRYPOINT_VARIABLES
        assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"
        assert "127.0.0.1" not in env["KAFKA_BOOTSTRAP_SERVERS"] + env["DATABASE_URL"] + env["CELERY_BROKER_URL"]
    assert "OPSPORTAL_ADMIN_PASSWORD" in environment(compose["services"]["init"])


def test_secrets_come_from_the_env_file_and_are_required(compose):
    text = COMPOSE_FILE.read_text()
    secrets = ("SECRET_KEY", "POSTGRES_PASSWORD", "OPSPORTAL_ADMIN_PASSWORD", "METRICS_TOKEN", "GRAFANA_ADMIN_PASSWORD")
    for secret in secrets:
        assert re.search(rf"\$\{{{secret}:\?[^}}]+\}}", text), f"{secret} must be ${{{secret}:?...}} (required)"
        assert re.search(rf"^{secret}=$", (ROOT / ".env.example").read_text(), re.M), f".env.example lacks {secret}="
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_portal_services_run_the_entrypoints_commands(compose):
    case = re.search(r'case "\$command" in\n(.*?)\nesac', ENTRYPOINT.read_text(), re.S).group(1)
    commands = set(re.findall(r"\b(web|worker|beat|init)\b", case))
    assert commands == {"web", "worker", "beat", "init"}
    services = compose["services"]
    for name in PORTAL_SERVICES:
        assert services[name]["build"] == "." and services[name]["command"] == [name], name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["deploy/entrypoint.sh"]' in dockerfile


def test_start_up_waits_for_what_each_service_needs(compose):
    services = compose["services"]
    long_running = [name for name, s in services.items() if s.get("restart") != "no"]
    for name in long_running:
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            wanted = "service_healthy" if dependency in long_running else "service_completed_successfully"
            assert condition == {"condition": wanted}, f"{name} -> {dependency}: {condition}"
    for name in ("web", "worker", "beat"):
        assert "init" in services[name]["depends_on"]
    assert {"kafka-1", "kafka-2", "kafka-3", "postgres"} <= set(services["init"]["depends_on"])
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_beat_runs_once(compose):
    services = compose["services"]
    assert services["beat"]["deploy"]["replicas"] == 1
    runs_beat = [name for name, s in services.items() if "beat" in s.get("command", []) or "-B" in s.get("command", [])]
    assert runs_beat == ["beat"]


def mounted_files(compose) -> list[Path]:
    files = []
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("."):
                files.append((ROOT / source).resolve())
    return files


def test_every_file_it_mounts_is_in_the_repository(compose):
    mounted = mounted_files(compose)
    assert mounted, "the monitoring configuration is mounted from the repository"
    missing = [str(path.relative_to(ROOT)) for path in mounted if not path.exists()]
    assert not missing, f"mounted but missing: {missing}"
    empty = [str(p.relative_to(ROOT)) for p in mounted if p.is_dir() and not any(p.iterdir())]
    assert not empty, f"mounted folders with nothing in them: {empty}"


def mounted_at(service: dict, target: str) -> Path:
    """The repository file a service mounts at `target`."""
    for volume in service.get("volumes", []):
        source, mounted = volume.split(":")[:2]
        if mounted == target:
            return (ROOT / source).resolve()
    raise AssertionError(f"nothing is mounted at {target}")


def scrape_targets(config: dict) -> dict[str, list[str]]:
    return {
        job["job_name"]: [target for static in job.get("static_configs", []) for target in static.get("targets", [])]
        for job in config.get("scrape_configs", [])
    }


def javaagent(broker: dict) -> tuple[str, int, str]:
    """(jar, port, rules file) of the JMX exporter agent a compose broker loads through KAFKA_OPTS."""
    agent = re.search(r"-javaagent:(\S+?\.jar)=(?:[^:\s]+:)?(\d+):(\S+)", environment(broker).get("KAFKA_OPTS", ""))
    assert agent, "the broker loads no JMX exporter agent"
    return agent.group(1), int(agent.group(2)), agent.group(3)


def test_prometheus_scrapes_services_that_exist(compose):
    services = compose["services"]
    prometheus = services["prometheus"]
    config_file = prometheus["command"][0].split("=", 1)[1]
    mounted = mounted_at(prometheus, config_file)
    assert mounted == ROOT / "monitoring" / "prometheus" / "prometheus.compose.yml"
    config = yaml.safe_load(mounted.read_text())
    targets = scrape_targets(config)
    assert all(targets.values()) and targets, "the compose Prometheus scrapes nothing"
    hosts = {target.rsplit(":", 1)[0] for job in targets.values() for target in job}
    unknown = sorted(hosts - set(services))
    assert not unknown, f"scrape targets that are no service of the compose file: {unknown}"
    # On the ports those services listen on: each broker's agent, the portal's gunicorn.
    brokers = [f"{name}:{javaagent(services[name])[1]}" for name in ("kafka-1", "kafka-2", "kafka-3")]
    assert targets["kafka"] == brokers
    assert targets["opsportal"] == ["web:8000"] and "8000:8000" in services["web"]["ports"]
    # The rules beside the config, as rule_files names them.
    for rule in config.get("rule_files", []):
        assert mounted_at(prometheus, str(PurePosixPath(config_file).parent / rule)) == (mounted.parent / rule)
    assert any(Path(rule).name == "alerts.yml" for rule in config["rule_files"]), config["rule_files"]


def test_prometheus_sends_the_portals_metrics_token(compose):
    """One token: METRICS_TOKEN in .env, set on the portal and given to Prometheus as the compose
    secret the opsportal scrape job reads."""
    services = compose["services"]
    prometheus = services["prometheus"]
    config = yaml.safe_load(mounted_at(prometheus, "/etc/prometheus/prometheus.yml").read_text())
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "opsportal")
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "/run/secrets/metrics_token"}
    assert prometheus["secrets"] == ["metrics_token"]  # short syntax: mounted at /run/secrets/metrics_token
    assert compose["secrets"]["metrics_token"] == {"environment": "METRICS_TOKEN"}
    for name in PORTAL_SERVICES:
        assert environment(services[name])["METRICS_TOKEN"] == "${METRICS_TOKEN:?set METRICS_TOKEN in .env}"
    # Nothing else names the token's file another way.
    for path in [COMPOSE_FILE, ENTRYPOINT, *(ROOT / "monitoring").rglob("*.yml")]:
        assert "metrics-token" not in path.read_text(), path


def test_the_brokers_load_the_jmx_exporter_the_local_cluster_loads(compose):
    services = compose["services"]
    pinned = re.search(r"<jmx.exporter.version>(.+)</jmx.exporter.version>", (ROOT / "kafka" / "pom.xml").read_text())
    fetcher = services["jmx-exporter"]
    assert fetcher["restart"] == "no", "a one-shot service"
    assert environment(fetcher)["JMX_EXPORTER_VERSION"] == pinned.group(1)
    assert re.fullmatch(r"[0-9a-f]{40}", environment(fetcher)["JMX_EXPORTER_SHA1"])
    script = fetcher["command"][0]
    assert "repo1.maven.org/maven2/io/prometheus/jmx/jmx_prometheus_javaagent/" in script
    assert ".sha1" in script and "sha1sum" in script
    # A jar the local cluster uses (kafka/agent, fetched by Maven) has the pinned sha1.
    local = local_kafka.AGENT_DIR / "jmx_prometheus_javaagent.jar"
    if local.exists():
        assert hashlib.sha1(local.read_bytes()).hexdigest() == environment(fetcher)["JMX_EXPORTER_SHA1"]
    (volume,) = fetcher["volumes"]
    name, directory = volume.split(":")[:2]
    assert name in compose["volumes"]
    ports = []
    for broker in ("kafka-1", "kafka-2", "kafka-3"):
        service = services[broker]
        assert service["depends_on"]["jmx-exporter"] == {"condition": "service_completed_successfully"}
        assert f"{name}:{directory}:ro" in service["volumes"]
        jar, port, rules = javaagent(service)
        assert PurePosixPath(jar).parent == PurePosixPath(directory) and jar in script, broker
        assert mounted_at(service, rules) == local_kafka.JMX_EXPORTER_CONFIG, broker
        ports.append(port)
        # The healthcheck's JVM (kafka-run-class.sh reads KAFKA_OPTS too) must not load the agent.
        assert service["healthcheck"]["test"][1].startswith("KAFKA_OPTS= "), broker
    assert tuple(ports) == local_kafka.JMX_EXPORTER_PORTS


def test_the_compose_files_python_healthchecks_are_valid_python(compose):
    for service in compose["services"].values():
        test = service.get("healthcheck", {}).get("test", [])
        if test[:2] == ["CMD", "python"]:
            ast.parse(test[test.index("-c") + 1])
