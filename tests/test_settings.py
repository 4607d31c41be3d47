"""Bad settings stop start-up with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def start(**env: str) -> subprocess.CompletedProcess:
    unset = {"SECRET_KEY_FILE": "/nonexistent/secret_key"}  # not the key ./dev generated
    environment = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")} | unset | env
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DEBUG": "false"}, "SECRET_KEY is required"),
        ({"DEBUG": "maybe"}, "DEBUG="),
        ({"DEBUG": "1", "KAFKA_BOOTSTRAP_SERVERS": "localhost"}, "KAFKA_BOOTSTRAP_SERVERS="),
        ({"DEBUG": "1", "KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL="),
        ({"DEBUG": "1", "KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_MECHANISM is required"),
        ({"DEBUG": "1", "KAFKA_SSL_CA_LOCATION": "/nonexistent/ca.pem"}, "KAFKA_SSL_CA_LOCATION="),
        ({"DEBUG": "1", "DATABASE_URL": "nosuchdb://x"}, "DATABASE_URL"),
        ({"DEBUG": "1", "KAFKA_REQUEST_TIMEOUT": "soon"}, "KAFKA_REQUEST_TIMEOUT="),
        ({"DEBUG": "1", "REPUBLISH_RECONCILE_MIN_AGE": "5"}, "REPUBLISH_RECONCILE_MIN_AGE=5 must be at least"),
        ({"DEBUG": "1", "REPUBLISH_JOB_ABANDONED_AFTER": "60"}, "REPUBLISH_JOB_ABANDONED_AFTER=60 must be at least"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_clear_line(env, named):
    result = start(**env)

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]


def test_the_key_file_dev_generates_is_used_when_secret_key_is_unset(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text("k" * 50 + "\n")

    result = start(DEBUG="false", SECRET_KEY_FILE=str(key_file), DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")

    assert result.returncode == 0, result.stderr


def test_good_settings_start(tmp_path):
    result = start(DEBUG="false", SECRET_KEY="x" * 50, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")

    assert result.returncode == 0, result.stderr
