"""Readiness checks: each answers (ok, detail) within READYZ_TIMEOUT and never raises.

Details name what failed in general terms only: no URL, host or password reaches the body.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import redis
from django.conf import settings
from django.db import DatabaseError, connections

from opsportal import kafka
from topics.models import SyncRun

Check = Callable[[], tuple[bool, str]]


def database() -> tuple[bool, str]:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return False, f"unreachable ({type(exc).__name__})"
    return True, "ok"


def redis_broker() -> tuple[bool, str]:
    timeout = settings.READYZ_TIMEOUT
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        return False, f"unreachable ({type(exc).__name__})"
    finally:
        client.close()
    return True, "ok"


def kafka_cluster() -> tuple[bool, str]:
    cluster = dataclasses.replace(kafka.ClusterSettings.from_django(), request_timeout=settings.READYZ_TIMEOUT)
    try:
        brokers = kafka.describe_brokers(cluster)
    except kafka.KafkaClientError as exc:
        # The reason without hosts: "unreachable", "authentication failed", "TLS handshake failed"...
        return False, exc.reason
    return True, f"{len(brokers)} brokers"


def mirror() -> tuple[bool, str]:
    run = SyncRun.latest_run()
    if run is None:
        return False, "never synced"
    age = run.age.total_seconds()
    if age > settings.READYZ_MIRROR_MAX_AGE:
        return False, f"stale: last sync {age:.0f} s ago"
    return True, f"last sync {age:.0f} s ago"


# Checks with a client-side timeout of their own run in threads, side by side; the database
# ones run in the request's thread, on its connection.
THREADED: dict[str, Check] = {"redis": redis_broker, "kafka": kafka_cluster}
INLINE: dict[str, Check] = {"database": database, "mirror": mirror}


def run_checks() -> dict[str, dict[str, object]]:
    """Every check's outcome; a threaded one that overruns READYZ_TIMEOUT counts as failed."""
    pool = ThreadPoolExecutor(len(THREADED), thread_name_prefix="readyz")
    try:
        futures = {name: pool.submit(_timed, check) for name, check in THREADED.items()}
        results = {name: _timed(check) for name, check in INLINE.items()}
        deadline = time.monotonic() + settings.READYZ_TIMEOUT + 0.5
        for name, future in futures.items():
            try:
                results[name] = future.result(timeout=max(deadline - time.monotonic(), 0.01))
            except FutureTimeout:
                results[name] = {"ok": False, "detail": "timed out", "seconds": settings.READYZ_TIMEOUT}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return {name: results[name] for name in ("database", "redis", "kafka", "mirror")}


def _timed(check: Check) -> dict[str, object]:
    started = time.monotonic()
    try:
        ok, detail = check()
    except Exception as exc:  # a readiness probe reports, it never crashes
        ok, detail = False, f"error ({type(exc).__name__})"
    return {"ok": ok, "detail": detail, "seconds": round(time.monotonic() - started, 3)}
