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
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
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


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    unset = {"SECRET_KEY_FILE": "/nonexistent/secret_key"}
    environment = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")} | unset | env
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_a_database_url_with_an_unsupported_scheme_is_named_without_its_password():
    result = start(DEBUG="1", DATABASE_URL="mysql://ops:s3cret-pw@db.example:3306/billing")

    assert result.returncode != 0
    assert "DATABASE_URL='mysql://ops:***@db.example:3306/billing'" in result.stderr
    assert "s3cret-pw" not in result.stderr


def test_the_documented_production_settings_pass_the_deployment_check(tmp_path):
    production = {
        "DEBUG": "false",
        "SECRET_KEY": "k7-" + "x9Qz" * 15,
        "ALLOWED_HOSTS": "ops.billing.example",
        "USE_X_FORWARDED_PROTO": "true",
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
    }

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **production)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_a_key_debug_gets_a_new_random_one_each_start():
    show_key = ("shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)")

    first, second = run_manage(*show_key, DEBUG="true"), run_manage(*show_key, DEBUG="true")

    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert len(first.stdout.strip()) >= 50
    assert first.stdout != second.stdout


def test_cluster_settings_never_show_the_sasl_password():
    from opsportal.kafka import ClusterSettings

    cluster = ClusterSettings("broker:9093", "SASL_SSL", "SCRAM-SHA-512", "ops", "s3cret-pw")

    assert "s3cret-pw" not in repr(cluster) and "s3cret-pw" not in str(cluster)
    assert cluster.librdkafka_config()["sasl.password"] == "s3cret-pw"


def test_the_sqlite_database_and_var_are_private_whatever_the_umask(tmp_path):
    database = tmp_path / "private" / "db.sqlite3"
    database.parent.mkdir()

    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
        | {"DEBUG": "true", "SECRET_KEY": "x" * 50, "DATABASE_URL": f"sqlite:///{database}"},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )

    assert result.returncode == 0, result.stderr
    for path in database.parent.glob("db.sqlite3*"):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert (ROOT / "var").stat().st_mode & 0o777 == 0o700


SQLITE_WRITER_RACE = """
import threading, django
django.setup()
from django.db import connection, transaction
from django.utils import timezone
from topics.models import SyncRun

def write():
    SyncRun.objects.create(finished_at=timezone.now(), duration=0, created=0, updated=0, vanished=0, errors=0)

def write_beside():  # the drain, committing while the sync's transaction is open
    write()
    connection.close()

with transaction.atomic():
    list(SyncRun.objects.all())  # the sync reads first...
    other = threading.Thread(target=write_beside)
    other.start()
    other.join(1.0)  # IMMEDIATE: it waits for this transaction; before, it committed in between
    write()  # ...then writes
other.join()
print("both written:", SyncRun.objects.count())
"""


def test_on_sqlite_a_transaction_that_reads_then_writes_beside_another_writer_is_not_refused(tmp_path):
    # The first sync after ./dev up failed "database is locked" while the drain wrote: a transaction
    # that began by reading could not take the write lock once another had written, whatever the timeout.
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"} | {
        "DEBUG": "true",
        "SECRET_KEY": "x" * 50,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "opsportal.settings",
    }
    migrated = run_manage("migrate", "--noinput", "-v", "0", **env)
    assert migrated.returncode == 0, migrated.stderr

    result = subprocess.run(
        [sys.executable, "-c", SQLITE_WRITER_RACE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert "both written: 2" in result.stdout
