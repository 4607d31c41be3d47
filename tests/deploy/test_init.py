"""The entrypoint's init (compose's one-shot service): run again on the same database and cluster,
it changes nothing: one set of Ops groups, one admin, the topics as topics/spec.py says."""

from __future__ import annotations

import json
import subprocess
import sys

from opsportal import kafka
from topics.spec import TOPICS

from .conftest import ADMIN_USER, ROOT, base_environment, entrypoint

SNAPSHOT = """
import json
from django.contrib.auth.models import Group, User
print(json.dumps({
    "groups": sorted([g.name, sorted(g.permissions.values_list("codename", flat=True))] for g in Group.objects.all()),
    "users": sorted([u.username, u.is_superuser, u.password] for u in User.objects.all()),
}))
"""


def snapshot(database_url: str) -> dict:
    env = base_environment(DATABASE_URL=database_url)
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", SNAPSHOT],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_init_twice_leaves_one_set_of_groups_and_the_topics_as_specified(initialized, cluster):
    database_url, first = initialized
    assert f"init: admin login '{ADMIN_USER}' created" in first.stdout
    before = snapshot(database_url)
    assert [name for name, _ in before["groups"]] == ["Ops operator", "Ops viewer"]
    assert all(permissions for _, permissions in before["groups"])

    env = base_environment(
        DATABASE_URL=database_url, OPSPORTAL_ADMIN_USER=ADMIN_USER, OPSPORTAL_ADMIN_PASSWORD="a-changed-password"
    )
    second = entrypoint("init", env=env)

    assert second.returncode == 0, second.stdout + second.stderr
    assert "No migrations to apply." in second.stdout
    assert f"init: admin login '{ADMIN_USER}' already exists" in second.stdout
    assert snapshot(database_url) == before  # same groups and permissions; the admin's password kept
    drift = subprocess.run(
        [sys.executable, "manage.py", "ensure_topics", "--dry-run"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert drift.returncode == 0, drift.stdout + drift.stderr
    topics = kafka.list_topics(cluster)
    for spec in TOPICS:
        partitions = topics[spec.name].partitions
        assert len(partitions) == spec.partitions and {len(p.replicas) for p in partitions} == {3}


def test_init_without_an_admin_password_makes_no_login(fresh_database, initialized):
    env = base_environment(DATABASE_URL=fresh_database)
    env.pop("OPSPORTAL_ADMIN_PASSWORD", None)
    done = entrypoint("init", env=env)
    assert done.returncode == 0, done.stderr
    assert "OPSPORTAL_ADMIN_PASSWORD unset, no admin login made" in done.stdout
    assert [name for name, *_ in snapshot(fresh_database)["users"]] == [ADMIN_USER]
