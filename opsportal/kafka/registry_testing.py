"""The Schema Registry as the tests use it: the library's in-memory registry and its own serializers.

Tests write records exactly as a billing service that serializes through the registry would, so
they need the library's Avro, JSON Schema and Protobuf serializers and deserializers; they reach
them here, so that the Kafka package stays the only importer of confluent_kafka. Never used by
the portal itself.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import MockSchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.common.schema_registry_client import SchemaVersion
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

__all__ = [
    "AvroDeserializer",
    "AvroSerializer",
    "InMemoryRegistry",
    "JSONDeserializer",
    "JSONSerializer",
    "ProtobufDeserializer",
    "ProtobufSerializer",
    "Schema",
    "SchemaRegistryClient",
    "SchemaRegistryError",
    "value_context",
]


class InMemoryRegistry(MockSchemaRegistryClient):
    """The library's mock, plus what it leaves to a real registry: compatibility levels and an id's
    subject-versions. Counts every request so a test can see which ones were made."""

    def __init__(self, conf: dict[str, Any]) -> None:
        super().__init__(conf)
        self.levels: dict[str | None, str] = {None: "BACKWARD"}
        self.calls: Counter[str] = Counter()

    def get_schema(self, schema_id: int, *args: Any, **kwargs: Any) -> Any:
        self.calls["get_schema"] += 1
        return super().get_schema(schema_id, *args, **kwargs)

    def get_schema_versions(self, schema_id: int, *args: Any, **kwargs: Any) -> list[SchemaVersion]:
        self.calls["get_schema_versions"] += 1
        found = self._store.schema_id_index.get(schema_id)
        if found is None:
            raise SchemaRegistryError(404, 40403, "Schema not found")
        return [SchemaVersion(subject=found.subject, version=found.version)]

    def get_compatibility(self, subject_name: str | None = None) -> str:
        self.calls["get_compatibility"] += 1
        if subject_name not in self.levels:
            raise SchemaRegistryError(404, 40408, "Subject does not have subject-level compatibility configured")
        return self.levels[subject_name]

    def set_compatibility(self, subject_name: str | None = None, level: str | None = None) -> str:
        self.calls["set_compatibility"] += 1
        self.levels[subject_name] = level or ""
        return level or ""


def value_context(topic: str) -> SerializationContext:
    """What a serializer is told about a record value of this topic (its subject follows from it)."""
    return SerializationContext(topic, MessageField.VALUE)
