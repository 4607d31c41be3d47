"""The Schema Registry: its one client, its errors, and the look-ups the portal makes.

Off unless SCHEMA_REGISTRY_URL is set: then `enabled()` is False and nothing here is called.
The client is built on first use. A schema is immutable once it has an id, so schemas are kept
by id for the life of the process: a page of records costs one request per distinct id. An
unreachable registry is remembered for a short while, so a page of records fails fast rather
than waiting once per record.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.common._httpx_compat import httpx
from confluent_kafka.schema_registry.error import OAuthTokenError, SchemaRegistryError
from django.conf import settings

from opsportal.kafka.errors import KafkaClientError

SUBJECT_STRATEGIES = ("topic-name", "record-name", "topic-record-name")
COMPATIBILITY_LEVELS = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)
# After an unreachable registry, calls fail at once for this long instead of waiting again.
UNREACHABLE_FOR_SECONDS = 30.0
# An id the registry did not know may be registered later (another registry's records): asked again after this.
NOT_FOUND_FOR_SECONDS = 60.0
# The registry's "subject has no compatibility of its own" error code.
NO_SUBJECT_COMPATIBILITY = 40408


class RegistryError(KafkaClientError):
    """A Schema Registry request failed; the message is written for an operator."""


class RegistryUnreachable(RegistryError):
    """No answer from the registry: down, wrong URL, network or TLS."""


class RegistryUnauthorized(RegistryError):
    """The registry refused the credentials (SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO)."""


class RegistryNotFound(RegistryError):
    """The registry does not know this subject, version or schema id."""


@dataclass(frozen=True)
class RegistrySettings:
    url: str
    basic_auth_user_info: str | None = None
    ca_location: str | None = None
    subject_strategy: str = "topic-name"
    timeout: float = 10.0

    @classmethod
    def from_django(cls) -> RegistrySettings | None:
        """None when SCHEMA_REGISTRY_URL is unset: the feature is off."""
        if not settings.SCHEMA_REGISTRY_URL:
            return None
        return cls(
            url=settings.SCHEMA_REGISTRY_URL,
            basic_auth_user_info=settings.SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO,
            ca_location=settings.SCHEMA_REGISTRY_CA_LOCATION,
            subject_strategy=settings.SCHEMA_REGISTRY_SUBJECT_STRATEGY,
            timeout=settings.KAFKA_REQUEST_TIMEOUT,
        )

    def client_config(self) -> dict[str, Any]:
        # One retry, quickly: an operator's page must say "unreachable" in seconds, not a minute.
        config: dict[str, Any] = {"url": self.url, "timeout": self.timeout, "max.retries": 1, "retries.wait.ms": 100}
        if self.basic_auth_user_info:
            config["basic.auth.user.info"] = self.basic_auth_user_info
        if self.ca_location:
            config["ssl.ca.location"] = self.ca_location
        return config

    @property
    def shown_url(self) -> str:
        return self.url.split("@", 1)[-1] if "@" in self.url else self.url


@dataclass(frozen=True, order=True)
class SubjectVersion:
    subject: str
    version: int


@dataclass(frozen=True)
class RegistrySchema:
    """A schema as the registry holds it under one id; `schema` is the library's object."""

    schema_id: int
    schema_type: str  # AVRO, JSON or PROTOBUF
    schema: Schema
    versions: tuple[SubjectVersion, ...] = ()

    @property
    def schema_str(self) -> str:
        return self.schema.schema_str or ""


@dataclass
class _Registry:
    """The client and caches of one registry configuration."""

    config: RegistrySettings
    client: SchemaRegistryClient
    schemas: dict[int, RegistrySchema] = field(default_factory=dict)
    missing: dict[int, tuple[float, RegistryNotFound]] = field(default_factory=dict)
    unreachable: tuple[float, RegistryUnreachable] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_CURRENT: _Registry | None = None
_CURRENT_LOCK = threading.Lock()


def registry_settings() -> RegistrySettings | None:
    return RegistrySettings.from_django()


def enabled() -> bool:
    return bool(settings.SCHEMA_REGISTRY_URL)


def _registry() -> _Registry:
    """The registry of the current settings, built on first use (and again if the settings change)."""
    global _CURRENT
    config = RegistrySettings.from_django()
    if config is None:
        raise RegistryError("The Schema Registry is off: SCHEMA_REGISTRY_URL is not set", reason="registry off")
    with _CURRENT_LOCK:
        if _CURRENT is None or _CURRENT.config != config:
            try:
                client = SchemaRegistryClient.new_client(config.client_config())
            except (ValueError, TypeError, OSError) as exc:
                raise RegistryError(
                    f"The Schema Registry client could not be built for {config.shown_url}: {exc}. "
                    "Check SCHEMA_REGISTRY_URL, SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO and SCHEMA_REGISTRY_CA_LOCATION",
                    reason="misconfigured",
                ) from exc
            _CURRENT = _Registry(config, client)
        return _CURRENT


def client() -> SchemaRegistryClient:
    """The one registry client (the library's, or its in-memory one for a mock:// URL)."""
    return _registry().client


def reset() -> None:
    """Forget the client and every cached schema (tests; a changed registry)."""
    global _CURRENT
    with _CURRENT_LOCK:
        _CURRENT = None


@contextmanager
def translated(what: str, registry: _Registry | None = None) -> Iterator[None]:
    """Turn the library's failures into RegistryError subclasses that say what to check."""
    registry = registry or _registry()
    if registry.unreachable and time.monotonic() - registry.unreachable[0] < UNREACHABLE_FOR_SECONDS:
        raise registry.unreachable[1]
    try:
        yield
    except SchemaRegistryError as exc:
        raise _from_status(exc, what, registry.config) from exc
    except OAuthTokenError as exc:
        raise _unauthorized(what, registry.config, str(exc)) from exc
    except (httpx.TransportError, OSError) as exc:
        error = RegistryUnreachable(
            f"Schema Registry unreachable: {what} failed on {registry.config.shown_url} ({type(exc).__name__}: "
            f"{exc}). Check that the registry is running and SCHEMA_REGISTRY_URL (and SCHEMA_REGISTRY_CA_LOCATION "
            "for https) point at it",
            code="UNREACHABLE",
            retriable=True,
            reason="registry unreachable",
        )
        registry.unreachable = (time.monotonic(), error)
        raise error from exc
    registry.unreachable = None


def _unauthorized(what: str, config: RegistrySettings, detail: str) -> RegistryUnauthorized:
    user = (config.basic_auth_user_info or "").split(":", 1)[0] or "anonymous"
    return RegistryUnauthorized(
        f"Schema Registry refused {what} for user {user} on {config.shown_url} ({detail}). "
        "Check SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO (user:password) and the user's permissions",
        code="UNAUTHORIZED",
        reason="registry unauthorized",
    )


def _from_status(exc: SchemaRegistryError, what: str, config: RegistrySettings) -> RegistryError:
    status, detail = exc.http_status_code, f"{exc.error_message}, HTTP {exc.http_status_code}"
    if status in (401, 403):
        return _unauthorized(what, config, detail)
    if status == 404:
        return RegistryNotFound(
            f"Schema Registry at {config.shown_url} has no such thing: {what} ({detail})",
            code=str(exc.error_code),
            reason="not found",
        )
    return RegistryError(
        f"Schema Registry failed {what} on {config.shown_url} ({detail})",
        code=str(exc.error_code),
        retriable=status >= 500,
        reason="registry error",
    )


def schema_by_id(schema_id: int) -> RegistrySchema:
    """The schema with this id and the subject-versions that use it: one fetch per id per process."""
    registry = _registry()
    with registry.lock:  # one fetch per id even when several threads decode the same page
        if (cached := registry.schemas.get(schema_id)) is not None:
            return cached
        missing = registry.missing.get(schema_id)
        if missing and time.monotonic() - missing[0] < NOT_FOUND_FOR_SECONDS:
            raise missing[1]
        try:
            found = _fetch_schema(registry, schema_id)
        except RegistryNotFound as exc:
            error = RegistryNotFound(
                f"Schema id {schema_id} is unknown to the Schema Registry at {registry.config.shown_url}: the "
                "record was written against another registry, or its schema was deleted",
                code=exc.code,
                reason="unknown schema id",
            )
            registry.missing[schema_id] = (time.monotonic(), error)
            raise error from exc
        registry.schemas[schema_id] = found
        return found


def _fetch_schema(registry: _Registry, schema_id: int) -> RegistrySchema:
    with translated(f"fetching schema id {schema_id}", registry):
        schema = registry.client.get_schema(schema_id)
    versions = _versions_of(registry, schema_id)
    schema_type = (schema.schema_type or "AVRO").upper()
    if schema_type == "PROTOBUF" and not _is_serialized_descriptor(schema.schema_str or ""):
        # A real registry answers with .proto text; the descriptor the decoder needs is format=serialized.
        subject = versions[0].subject if versions else ""
        with translated(f"fetching schema id {schema_id} as a descriptor", registry):
            schema = registry.client.get_schema(schema_id, subject_name=subject, fmt="serialized")
    return RegistrySchema(schema_id, schema_type, schema, versions)


def _versions_of(registry: _Registry, schema_id: int) -> tuple[SubjectVersion, ...]:
    """Which subject-versions use this id; none when the registry cannot say (shown without them)."""
    try:
        pairs = registry.client.get_schema_versions(schema_id)
    except Exception:  # an older registry, the library's in-memory one: the schema is shown without them
        return ()
    return tuple(sorted(SubjectVersion(p.subject, p.version) for p in pairs if p.subject and p.version is not None))


def _is_serialized_descriptor(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return bool(text)


# Subjects: what the topic pages, the Schemas list and ensure_schemas show.


@dataclass(frozen=True)
class SubjectInfo:
    subject: str
    versions: tuple[int, ...]
    latest: RegistrySchema | None
    latest_version: int | None
    compatibility: str | None  # the subject's own level; None when it follows the global one
    global_compatibility: str | None

    @property
    def effective_compatibility(self) -> str | None:
        return self.compatibility or self.global_compatibility


def subject_names(topic: str, *, strategy: str | None = None) -> tuple[str, str] | None:
    """The key and value subjects of a topic, when the strategy derives them from the topic name alone."""
    strategy = strategy or _registry().config.subject_strategy
    if strategy != "topic-name":
        return None
    return f"{topic}-key", f"{topic}-value"


def list_subjects() -> list[str]:
    registry = _registry()
    with translated("listing subjects", registry):
        return sorted(registry.client.get_subjects())


def topic_subjects(topic: str) -> list[SubjectInfo]:
    """The registered subjects of one topic under the configured strategy, with their schemas and levels."""
    strategy = _registry().config.subject_strategy
    subjects = list_subjects()
    if strategy == "topic-name":
        wanted = [s for s in (f"{topic}-key", f"{topic}-value") if s in subjects]
    elif strategy == "topic-record-name":
        wanted = [s for s in subjects if s.startswith(f"{topic}-")]
    else:  # record-name: subjects are named after records, not topics
        wanted = []
    return [subject_info(subject) for subject in wanted]


def subject_info(subject: str, *, global_level: str | None = None) -> SubjectInfo:
    registry = _registry()
    with translated(f"reading subject {subject}", registry):
        versions = tuple(sorted(registry.client.get_versions(subject)))
        latest = registry.client.get_latest_version(subject)
    schema = schema_by_id(latest.schema_id) if latest.schema_id is not None else None
    level = subject_compatibility(subject)
    if global_level is None:
        global_level = global_compatibility()
    return SubjectInfo(subject, versions, schema, latest.version, level, global_level)


def subject_compatibility(subject: str) -> str | None:
    """The subject's own compatibility level; None when it has none and follows the global level."""
    registry = _registry()
    try:
        with translated(f"reading the compatibility of {subject}", registry):
            return registry.client.get_compatibility(subject)
    except RegistryError as exc:
        if exc.code in (str(NO_SUBJECT_COMPATIBILITY), "40401"):
            return None
        raise


def global_compatibility() -> str | None:
    registry = _registry()
    with translated("reading the global compatibility", registry):
        return registry.client.get_compatibility()


def set_subject_compatibility(subject: str, level: str) -> str:
    if level not in COMPATIBILITY_LEVELS:
        raise ValueError(f"{level!r} is not a compatibility level ({', '.join(COMPATIBILITY_LEVELS)})")
    registry = _registry()
    with translated(f"setting the compatibility of {subject} to {level}", registry):
        return registry.client.set_compatibility(subject, level)


def latest_schema(subject: str) -> RegistrySchema:
    """The subject's latest schema (asked each time: a new version may have been registered)."""
    registry = _registry()
    with translated(f"reading the latest schema of {subject}", registry):
        latest = registry.client.get_latest_version(subject)
    if latest.schema_id is None:
        raise RegistryNotFound(f"Subject {subject} has no schema id", reason="not found")
    return schema_by_id(latest.schema_id)
