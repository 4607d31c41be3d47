"""The Prometheus config, the alert rules and the Grafana dashboard, checked by Prometheus itself:
promtool validates the config (the local one and the compose stack's, which differ in targets and
the portal's token only) and runs the rules' unit tests, and every PromQL expression of the
rules and of the dashboard is evaluated by a Prometheus this module starts (so a typo fails here
even though Grafana cannot run on these machines)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "monitoring" / "prometheus"
# prometheus.yml: `./dev up`'s, targets on 127.0.0.1; prometheus.compose.yml: docker-compose.yml's.
COMPOSE_CONFIG = PROMETHEUS_DIR / "prometheus.compose.yml"
COMPOSE_TOKEN_FILE = "/run/secrets/metrics_token"  # the compose secret metrics_token
DASHBOARDS = sorted((ROOT / "monitoring" / "grafana" / "dashboards").glob("*.json"))
# Grafana's variables, as Grafana would substitute them.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h", "$group": ".*"}


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess:
    if not shutil.which("promtool"):
        pytest.fail("promtool is missing (apt-get install --no-install-recommends prometheus; ./dev test does it)")
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_config_and_its_rules():
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr


def test_promtool_accepts_the_compose_config_and_its_rules(tmp_path):
    # As it is: promtool would stat the token file, which only the container has.
    result = promtool("check", "config", "--syntax-only", COMPOSE_CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr
    # Fully, rules included, with the secret's path pointing at a token file of this test.
    token = tmp_path / "metrics_token"
    token.write_text("a-token\n")
    text = COMPOSE_CONFIG.read_text()
    assert text.count(COMPOSE_TOKEN_FILE) == 1
    (tmp_path / "prometheus.yml").write_text(text.replace(COMPOSE_TOKEN_FILE, str(token)))
    shutil.copy(PROMETHEUS_DIR / "alerts.yml", tmp_path / "alerts.yml")
    result = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr


def without_targets(config: dict) -> tuple[dict, dict[str, list[str]], dict[str, dict]]:
    """(the config with no targets and no authorization, targets by job, authorization by job)."""
    rest = copy.deepcopy(config)
    targets, authorization = {}, {}
    for job in rest["scrape_configs"]:
        targets[job["job_name"]] = [t for static in job.pop("static_configs") for t in static.pop("targets")]
        if "authorization" in job:
            authorization[job["job_name"]] = job.pop("authorization")
    return rest, targets, authorization


def test_the_compose_config_differs_from_the_local_one_in_targets_and_token_only():
    local, local_targets, local_authorization = without_targets(
        yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    )
    stack, stack_targets, stack_authorization = without_targets(yaml.safe_load(COMPOSE_CONFIG.read_text()))
    # Same jobs, rule files, intervals, paths and relabelling.
    assert stack == local
    assert stack_targets.keys() == local_targets.keys()
    for job, targets in local_targets.items():
        assert len(stack_targets[job]) == len(targets), job
        assert all(target.startswith("127.0.0.1:") for target in targets), job
        assert not any(target.startswith(("127.0.0.1:", "localhost:")) for target in stack_targets[job]), job
    # The same ports where the relabelling reads the broker from the port.
    assert [t.rsplit(":", 1)[1] for t in stack_targets["kafka"]] == [
        t.rsplit(":", 1)[1] for t in local_targets["kafka"]
    ]
    # The local portal leaves METRICS_TOKEN unset; the stack's Prometheus reads it from the compose secret.
    assert local_authorization == {}
    assert stack_authorization == {"opsportal": {"type": "Bearer", "credentials_file": COMPOSE_TOKEN_FILE}}


def test_every_alert_rule_has_a_unit_test_and_they_pass():
    tested = set(re.findall(r"alertname:\s*(\S+)", (PROMETHEUS_DIR / "tests" / "alerts_test.yml").read_text()))
    assert tested == set(alert_names()), "each alert needs a firing and a quiet case in tests/alerts_test.yml"
    result = promtool("test", "rules", "tests/alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def alert_names() -> list[str]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return [rule["alert"] for group in rules["groups"] for rule in group["rules"]]


def rule_expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return [(rule["alert"], rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                found.append((f"{path.name}: {panel['title']}", expr))
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory) -> Iterator[str]:
    """A Prometheus of its own (free port, empty storage) with the project's config and rules."""
    if not shutil.which("prometheus"):
        pytest.fail("prometheus is missing (apt-get install --no-install-recommends prometheus)")
    work = tmp_path_factory.mktemp("prometheus")
    shutil.copy(PROMETHEUS_DIR / "prometheus.yml", work / "prometheus.yml")
    shutil.copy(PROMETHEUS_DIR / "alerts.yml", work / "alerts.yml")
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        ["prometheus", f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address={address}"],
        stdout=subprocess.DEVNULL, stderr=(work / "prometheus.log").open("wb"),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{address}/-/ready", timeout=1)
                break
            except OSError:
                assert process.poll() is None, (work / "prometheus.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "Prometheus was not ready in 30 s"
                time.sleep(0.2)
        yield f"http://{address}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def query(base: str, expr: str) -> dict:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        return json.load(error)


@pytest.mark.parametrize(("where", "expr"), rule_expressions() + dashboard_expressions())
def test_every_promql_expression_evaluates(prometheus, where, expr):
    answer = query(prometheus, expr)
    assert answer["status"] == "success", f"{where}: {expr}: {answer.get('error')}"


def test_prometheus_loaded_every_alert_rule(prometheus):
    with urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=10) as response:
        groups = json.load(response)["data"]["groups"]
    loaded = [rule["name"] for group in groups for rule in group["rules"]]
    assert sorted(loaded) == sorted(alert_names())


def test_the_grafana_provisioning_points_at_the_dashboards_and_prometheus():
    datasources = yaml.safe_load(next((ROOT / "monitoring/grafana/provisioning/datasources").glob("*.yml")).read_text())
    assert [d["type"] for d in datasources["datasources"]] == ["prometheus"]
    uid = datasources["datasources"][0]["uid"]
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == uid, f"{path.name}: {panel['title']}"
    providers = yaml.safe_load(next((ROOT / "monitoring/grafana/provisioning/dashboards").glob("*.yml")).read_text())
    assert providers["providers"][0]["type"] == "file"
