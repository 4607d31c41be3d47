"""Settings for the billing Kafka operations portal.

Every value that differs between machines is read from the environment
through django-environ, here and nowhere else. A bad or missing required
value stops start-up with one line naming the variable.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
# var/ holds the generated secret key, the admin password and the SQLite database: kept
# private to the portal's user whatever the caller's umask (left alone if another user owns it).
VAR_DIR.mkdir(mode=0o700, exist_ok=True)
if VAR_DIR.stat().st_uid == os.getuid():
    VAR_DIR.chmod(0o700)

env = environ.Env()

DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"
KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


def _read(name: str, cast: Callable[[str], Any], default: Any) -> Any:
    """Read one variable; any parse failure names the variable and the value."""
    try:
        return env(name, cast=cast, default=default)
    except (ValueError, TypeError, ImproperlyConfigured) as exc:
        raise ImproperlyConfigured(f"{name}={env.str(name, default='')!r} is not valid: {exc}") from None


def _strict_bool(name: str, default: bool) -> bool:
    """django-environ reads any unknown word as False; a typo must not turn DEBUG off silently."""
    raw = env.str(name, default=None)
    if raw is None:
        return default
    if raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if raw.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false)")


def _choice(name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    value = _read(name, str, default)
    if value is not None and value.upper() not in allowed:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(allowed)}")
    return value.upper() if value is not None else None


def _bootstrap_servers(name: str) -> str:
    value = _read(name, str, DEFAULT_BOOTSTRAP_SERVERS).strip()
    for server in value.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
            raise ImproperlyConfigured(
                f"{name}={value!r}: {server.strip()!r} is not host:port "
                "(expected a comma-separated list such as 127.0.0.1:9092,127.0.0.1:9093)"
            )
    return value


DEBUG = _strict_bool("DEBUG", False)
SECRET_KEY = _read("SECRET_KEY", str, "")
# ./dev keeps a generated key here, so plain manage.py commands work in a checkout it prepared.
SECRET_KEY_FILE = Path(_read("SECRET_KEY_FILE", str, str(VAR_DIR / "secret_key")))
if not SECRET_KEY and SECRET_KEY_FILE.is_file():
    SECRET_KEY = SECRET_KEY_FILE.read_text().strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off")
    # A key of this process only (sessions end with it), never a constant anyone could sign with.
    SECRET_KEY = secrets.token_urlsafe(50)
ALLOWED_HOSTS = _read("ALLOWED_HOSTS", list, ["127.0.0.1", "localhost"] if DEBUG else [])
# Behind a TLS-terminating proxy in production: cookies only over HTTPS unless said otherwise.
SECURE_COOKIES = _strict_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_COOKIES
CSRF_TRUSTED_ORIGINS = _read("CSRF_TRUSTED_ORIGINS", list, [])
# HTTPS hardening for production (README: Deployment); off by default so ./dev serves plain HTTP.
SECURE_SSL_REDIRECT = _strict_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = _read("SECURE_HSTS_SECONDS", int, 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _strict_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = _strict_bool("SECURE_HSTS_PRELOAD", False)
# An operator's session: 8 hours (a working day) unless said otherwise.
SESSION_COOKIE_AGE = _read("SESSION_COOKIE_AGE", int, 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = _strict_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", False)
if _strict_bool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

KAFKA_BOOTSTRAP_SERVERS = _bootstrap_servers("KAFKA_BOOTSTRAP_SERVERS")
KAFKA_SECURITY_PROTOCOL = _choice("KAFKA_SECURITY_PROTOCOL", KAFKA_SECURITY_PROTOCOLS, "PLAINTEXT") or "PLAINTEXT"
KAFKA_SASL_MECHANISM = _choice("KAFKA_SASL_MECHANISM", KAFKA_SASL_MECHANISMS, None)
KAFKA_SASL_USERNAME = _read("KAFKA_SASL_USERNAME", str, None)
KAFKA_SASL_PASSWORD = _read("KAFKA_SASL_PASSWORD", str, None)
KAFKA_SSL_CA_LOCATION = _read("KAFKA_SSL_CA_LOCATION", str, None)
if KAFKA_SECURITY_PROTOCOL.startswith("SASL_"):
    for _name in ("KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
        if not globals()[_name]:
            raise ImproperlyConfigured(f"{_name} is required when KAFKA_SECURITY_PROTOCOL={KAFKA_SECURITY_PROTOCOL}")
if KAFKA_SSL_CA_LOCATION and not Path(KAFKA_SSL_CA_LOCATION).is_file():
    raise ImproperlyConfigured(f"KAFKA_SSL_CA_LOCATION={KAFKA_SSL_CA_LOCATION!r} is not a readable file")
# Seconds an admin request may take before the portal reports the cluster unreachable.
KAFKA_REQUEST_TIMEOUT = _read("KAFKA_REQUEST_TIMEOUT", float, 10.0)

# The Schema Registry (issue 22): unset URL, the feature is off and nothing calls a registry.
SCHEMA_REGISTRY_URL = _read("SCHEMA_REGISTRY_URL", str, None) or None
SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO = _read("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", str, None) or None
SCHEMA_REGISTRY_CA_LOCATION = _read("SCHEMA_REGISTRY_CA_LOCATION", str, None) or None
_STRATEGIES = ("TOPIC-NAME", "RECORD-NAME", "TOPIC-RECORD-NAME")
SCHEMA_REGISTRY_SUBJECT_STRATEGY = (
    _choice("SCHEMA_REGISTRY_SUBJECT_STRATEGY", _STRATEGIES, None) or "topic-name"
).lower()
if SCHEMA_REGISTRY_URL and not re.match(r"(https?|mock)://", SCHEMA_REGISTRY_URL):
    raise ImproperlyConfigured(
        f"SCHEMA_REGISTRY_URL={SCHEMA_REGISTRY_URL!r} must start with http://, https:// or mock://"
    )
if SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO and ":" not in SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO:
    raise ImproperlyConfigured("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO must be user:password")
if SCHEMA_REGISTRY_CA_LOCATION and not Path(SCHEMA_REGISTRY_CA_LOCATION).is_file():
    raise ImproperlyConfigured(f"SCHEMA_REGISTRY_CA_LOCATION={SCHEMA_REGISTRY_CA_LOCATION!r} is not a readable file")

# Draining the dead-letter topic.
DEAD_LETTER_TOPIC = _read("DEAD_LETTER_TOPIC", str, "billing.dead-letter")
DEAD_LETTER_DRAIN_GROUP_ID = _read("DEAD_LETTER_DRAIN_GROUP_ID", str, "opsportal-deadletter-drain")
DEAD_LETTER_DRAIN_BATCH_SIZE = _read("DEAD_LETTER_DRAIN_BATCH_SIZE", int, 5000)
DEAD_LETTER_DRAIN_MAX_RECORDS_PER_RUN = _read("DEAD_LETTER_DRAIN_MAX_RECORDS_PER_RUN", int, 100_000)

# Acting on dead letters and offsets.
OPSPORTAL_FOUR_EYES = _strict_bool("OPSPORTAL_FOUR_EYES", False)
OPSPORTAL_FOUR_EYES_TOPICS = _read("OPSPORTAL_FOUR_EYES_TOPICS", list, ["billing.transaction.events"])
REPUBLISH_DEFAULT_RATE_LIMIT = _read("REPUBLISH_DEFAULT_RATE_LIMIT", int, 500)
REPUBLISH_SAFETY_SCAN_LIMIT = _read("REPUBLISH_SAFETY_SCAN_LIMIT", int, 10_000)
REPUBLISH_RECONCILE_MAX_RECORDS = _read("REPUBLISH_RECONCILE_MAX_RECORDS", int, 1_000_000)
# How long librdkafka keeps trying to deliver one republished record.
REPUBLISH_DELIVERY_TIMEOUT = _read("REPUBLISH_DELIVERY_TIMEOUT", float, 30.0)
# A younger replay may still be in flight: reconciling it could mark failed a record that lands later.
REPUBLISH_RECONCILE_MIN_AGE = _read("REPUBLISH_RECONCILE_MIN_AGE", float, 60.0)
if REPUBLISH_RECONCILE_MIN_AGE < REPUBLISH_DELIVERY_TIMEOUT + 10:
    raise ImproperlyConfigured(
        f"REPUBLISH_RECONCILE_MIN_AGE={REPUBLISH_RECONCILE_MIN_AGE:g} must be at least "
        f"REPUBLISH_DELIVERY_TIMEOUT + 10 s ({REPUBLISH_DELIVERY_TIMEOUT + 10:g})"
    )

# A running job that settles nothing for this long lost its worker (killed outright, machine gone):
# it may be stopped, and its rest run. A live job's slowest chunk waits for its acknowledgements
# (up to 6 Kafka request timeouts) after reading metadata and offsets (a request timeout each).
REPUBLISH_JOB_ABANDONED_AFTER = _read("REPUBLISH_JOB_ABANDONED_AFTER", float, 300.0)
_SLOWEST_LIVE_CHUNK = 8 * KAFKA_REQUEST_TIMEOUT + REPUBLISH_DELIVERY_TIMEOUT + 60
if REPUBLISH_JOB_ABANDONED_AFTER < _SLOWEST_LIVE_CHUNK:
    raise ImproperlyConfigured(
        f"REPUBLISH_JOB_ABANDONED_AFTER={REPUBLISH_JOB_ABANDONED_AFTER:g} must be at least "
        f"8 × KAFKA_REQUEST_TIMEOUT + REPUBLISH_DELIVERY_TIMEOUT + 60 s ({_SLOWEST_LIVE_CHUNK:g})"
    )

# Overview, lag history, /metrics and health checks (the overview app).
LAG_HISTORY_RETENTION_DAYS = _read("LAG_HISTORY_RETENTION_DAYS", int, 30)
# Bearer token /metrics requires when set; ./dev up leaves it unset.
METRICS_TOKEN = _read("METRICS_TOKEN", str, "")
# Fingerprints /metrics reports one by one (the rest are summed as "other"): bounds its cardinality.
METRICS_TOP_FINGERPRINTS = _read("METRICS_TOP_FINGERPRINTS", int, 10)
# Seconds each /readyz check may take, and the oldest mirror /readyz accepts.
READYZ_TIMEOUT = _read("READYZ_TIMEOUT", float, 2.0)
READYZ_MIRROR_MAX_AGE = _read("READYZ_MIRROR_MAX_AGE", float, 300.0)

# Message search (the topics app): the most records and seconds one search scans before offering "continue".
BROWSE_SEARCH_MAX_RECORDS = _read("BROWSE_SEARCH_MAX_RECORDS", int, 200_000)
BROWSE_SEARCH_SECONDS = _read("BROWSE_SEARCH_SECONDS", float, 10.0)
if BROWSE_SEARCH_MAX_RECORDS < 1 or BROWSE_SEARCH_SECONDS <= 0:
    raise ImproperlyConfigured("BROWSE_SEARCH_MAX_RECORDS and BROWSE_SEARCH_SECONDS must be positive")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "axes",
    "topics",
    "deadletter",
    "offsets",
    "republish",
    "overview",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves collected static files itself when DEBUG is off (gunicorn has no static handler).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: it reads the login outcome the views above produced.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "opsportal.urls"
WSGI_APPLICATION = "opsportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _without_password(url: str) -> str:
    """The URL as an error message may show it: any password replaced by ***."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


try:
    DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'opsportal.sqlite3'}")}
except (ValueError, KeyError, ImproperlyConfigured) as exc:
    raise ImproperlyConfigured(
        f"DATABASE_URL={_without_password(env.str('DATABASE_URL', default=''))!r} is not a valid database URL "
        f"({type(exc).__name__}); use postgres://user:password@host:port/name or sqlite:///path"
    ) from None
if DATABASES["default"]["ENGINE"] not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
    raise ImproperlyConfigured(
        f"DATABASE_URL={_without_password(env.str('DATABASE_URL'))!r}: "
        "use postgres://user:password@host:port/name or sqlite:///path"
    )
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The database holds billing data: the portal's user only, whatever the caller's umask.
    # SQLite gives its -wal and -shm files the database file's mode.
    _sqlite_file = Path(DATABASES["default"]["NAME"])
    if _sqlite_file.parent.is_dir():
        _sqlite_file.touch(mode=0o600)
        _sqlite_file.chmod(0o600)
    # WAL lets the drain write while the admin reads; the timeout rides out
    # the short write locks of the Celery workers. A transaction takes the write lock when it
    # begins (IMMEDIATE): one that began reading and then wrote failed at once with "database is
    # locked" when another had written meanwhile (the first sync beside the drain), timeout or not.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "MinimumLengthValidator",
        "UserAttributeSimilarityValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

# Failed logins are throttled per user name and per address (django-axes): after
# LOGIN_FAILURE_LIMIT failures in a row, that name or address waits LOGIN_LOCKOUT_MINUTES.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = _read("LOGIN_FAILURE_LIMIT", int, 5)
AXES_COOLOFF_TIME = timedelta(minutes=_read("LOGIN_LOCKOUT_MINUTES", int, 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# Times say their zone everywhere (opsportal/formats/en/formats.py).
FORMAT_MODULE_PATH = ["opsportal.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(_read("STATIC_ROOT", str, str(VAR_DIR / "static")))
# Compressed copies made by collectstatic; no manifest, so pages render before it has run (tests, ./dev).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

CELERY_BROKER_URL = _read("CELERY_BROKER_URL", str, "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    # librdkafka logs each refused connection; KafkaClientError already says it once.
    "loggers": {
        "librdkafka": {"level": env.str("LIBRDKAFKA_LOG_LEVEL", default="CRITICAL")},
        # django-axes logs every sign-in at INFO; lockouts (WARNING) are what an operator needs.
        "axes": {"level": "WARNING"},
    },
}
