"""Runs deploy/entrypoint.sh as the containers would, against the local stack.

Every process a test starts runs in a session of its own and is stopped (its whole
group) by the fixture that started it; every wait has a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
# Celery's broker for these tests: a Redis database of their own, so no other worker takes their tasks.
TEST_REDIS_URL = "redis://127.0.0.1:6379/13"


def base_environment(**extra: str) -> dict[str, str]:
    """What the compose file gives the portal's services, with this machine's addresses."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    environment.pop("SECRET_KEY_FILE", None)
    return (
        environment
        | {
            "PYTHON": sys.executable,
            "DEBUG": "false",
            "SECRET_KEY": "deploy-test-" + uuid.uuid4().hex,
            "SECRET_KEY_FILE": "/nonexistent/secret_key",  # the checkout's var/secret_key must not count
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094",
            "CELERY_BROKER_URL": TEST_REDIS_URL,
        }
        | extra
    )


def entrypoint(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(ENTRYPOINT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Started:
    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.process.poll() is None, f"{self.name} exited ({self.process.returncode}):\n{self.output()}"
            assert time.monotonic() < deadline, f"{self.name}: no {text!r} in {timeout:.0f}s:\n{self.output()}"
            time.sleep(0.2)

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture
def start(tmp_path) -> Iterator:
    """start(name, *entrypoint_args, env=...) -> Started; all are stopped after the test."""
    started: list[Started] = []

    def run(name: str, *args: str, env: dict[str, str]) -> Started:
        log = tmp_path / f"{name}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(ENTRYPOINT), *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        started.append(Started(name, process, log))
        return started[-1]

    yield run
    for each in started:
        each.stop()


def database_url_for_children() -> str:
    """The test database, for a child process (it sees what a transactional test commits)."""
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    password = quote(settings["PASSWORD"] or "")
    credentials = quote(settings["USER"] or "") + (f":{password}" if password else "")
    return f"postgres://{credentials}@{settings['HOST'] or 'localhost'}:{settings['PORT'] or 5432}/{settings['NAME']}"


@pytest.fixture(scope="session")
def fresh_database(tmp_path_factory) -> Iterator[str]:
    """A database nothing has touched, on the server DATABASE_URL names (or a SQLite file): what
    the compose stack's init meets on its first run. Dropped at the end."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp_path_factory.mktemp('deploy') / 'portal.sqlite3'}"
        return
    import psycopg

    name = f"opsportal_deploy_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


ADMIN_USER, ADMIN_PASSWORD = "deploy-admin", "deploy-admin-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def initialized(fresh_database) -> tuple[str, subprocess.CompletedProcess]:
    """The fresh database after the entrypoint's init ran once, as compose's init service runs it."""
    env = base_environment(
        DATABASE_URL=fresh_database, OPSPORTAL_ADMIN_USER=ADMIN_USER, OPSPORTAL_ADMIN_PASSWORD=ADMIN_PASSWORD
    )
    first = entrypoint("init", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    return fresh_database, first
