"""The Schema Registry's wire format: a zero byte, a 4-byte schema id, then the encoded payload.

`decode` reads a key or value written by the registry's Avro, JSON Schema or Protobuf serializers
into a JSON-able value and never raises: what it cannot decode comes back raw, with the reason.
`encode` checks an operator's edited value against a subject's latest schema (and the record's
own schema) and writes it back in the wire format, or refuses it naming the field.
Avro logical types show as text (decimal "12.30", timestamps in ISO 8601, bytes as Latin-1 text,
Avro's JSON convention) and are read back from it.
"""

from __future__ import annotations

import datetime
import decimal
import io
import json
import struct
import uuid
from dataclasses import dataclass
from typing import Any, cast

import fastavro
import jsonschema
from confluent_kafka.schema_registry._sync.avro import _resolve_named_schema as _avro_references
from confluent_kafka.schema_registry._sync.protobuf import _resolve_named_schema as _protobuf_references
from confluent_kafka.schema_registry.common.protobuf import _init_pool, _str_to_proto
from google.protobuf import descriptor_pb2, json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass

from opsportal.kafka import registry
from opsportal.kafka.registry import RegistryError, RegistrySchema, SubjectVersion

MAGIC = 0
HEADER = struct.Struct(">bI")


@dataclass(frozen=True)
class Decoded:
    """A key or value in the wire format: decoded (`reason` empty) or raw with the reason."""

    raw: bytes
    schema_id: int | None = None
    schema_type: str | None = None  # AVRO, JSON or PROTOBUF
    subjects: tuple[SubjectVersion, ...] = ()
    record_name: str | None = None  # Avro record or Protobuf message full name
    value: Any = None  # JSON-able when decoded
    reason: str = ""  # a few words: "unknown schema id", "truncated payload", "registry unreachable", ...
    detail: str = ""  # the whole explanation, for an operator

    @property
    def decoded(self) -> bool:
        return not self.reason

    def pretty(self) -> str:
        return json.dumps(self.value, indent=2, ensure_ascii=False, sort_keys=False)


@dataclass(frozen=True)
class Encoded:
    data: bytes
    schema_id: int
    subject: str
    version: int | None


@dataclass(frozen=True)
class Refused:
    """An edit the schema does not accept (or could not be checked): `path` names the field."""

    message: str
    path: str = ""
    schema_id: int | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def is_wire_format(data: bytes | None) -> bool:
    """Bytes that claim the wire format: a zero magic byte (JSON and text never start with one)."""
    return bool(data) and data[0] == MAGIC  # type: ignore[index]


def decode(data: bytes | None) -> Decoded | None:
    """The decoded key or value; None when the feature is off or the bytes are not in the wire format."""
    if data is None or not registry.enabled() or not is_wire_format(data):
        return None
    if len(data) < HEADER.size:
        return Decoded(data, reason="truncated payload", detail=f"{len(data)} bytes: the header alone needs 5")
    schema_id = HEADER.unpack_from(data)[1]
    try:
        schema = registry.schema_by_id(schema_id)
    except RegistryError as exc:
        return Decoded(data, schema_id=schema_id, reason=exc.reason, detail=str(exc))
    known = Decoded(data, schema_id=schema_id, schema_type=schema.schema_type, subjects=schema.versions)
    try:
        name, value = _DECODERS[schema.schema_type](schema, data[HEADER.size :])
    except KeyError:
        return _raw(known, "unsupported schema type", f"schema type {schema.schema_type} is not decoded here")
    except (EOFError, IndexError) as exc:
        return _raw(known, "truncated payload", f"the payload ends early: {exc}".rstrip(": "))
    except RegistryError as exc:
        return _raw(known, exc.reason, str(exc))
    except Exception as exc:  # whatever the bytes are, the page shows them: never an error page
        return _raw(known, "does not decode with its schema", f"{type(exc).__name__}: {exc}")
    return Decoded(data, schema_id, schema.schema_type, schema.versions, name, value)


def _raw(known: Decoded, reason: str, detail: str) -> Decoded:
    return Decoded(known.raw, known.schema_id, known.schema_type, known.subjects, reason=reason, detail=detail)


# Parsed schemas, kept with the RegistrySchema they came from (so a reset registry re-parses).
_PARSED: dict[tuple[str, int], tuple[RegistrySchema, Any]] = {}


def _parsed(kind: str, schema: RegistrySchema, parse: Any) -> Any:
    cached = _PARSED.get((kind, schema.schema_id))
    if cached is not None and cached[0] is schema:
        return cached[1]
    result = parse(schema)
    _PARSED[(kind, schema.schema_id)] = (schema, result)
    return result


# Avro.


def _avro_schema(schema: RegistrySchema) -> Any:
    with registry.translated(f"resolving the references of schema id {schema.schema_id}"):
        named = _avro_references(schema.schema, registry.client())
    return fastavro.parse_schema(json.loads(schema.schema_str), named_schemas=cast("dict[str, dict[str, Any]]", named))


def _decode_avro(schema: RegistrySchema, payload: bytes) -> tuple[str | None, Any]:
    parsed = _parsed("avro", schema, _avro_schema)
    buffer = io.BytesIO(payload)
    value = fastavro.schemaless_reader(buffer, parsed, None)
    if buffer.tell() != len(payload):
        raise ValueError(f"{len(payload) - buffer.tell()} bytes left after the record")
    return (parsed.get("name") if isinstance(parsed, dict) else None), _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return value


# JSON Schema.


def _json_validator(schema: RegistrySchema) -> Any:
    document = json.loads(schema.schema_str)
    validator_class = jsonschema.validators.validator_for(document)
    return validator_class(document, format_checker=validator_class.FORMAT_CHECKER)


def _decode_json(schema: RegistrySchema, payload: bytes) -> tuple[str | None, Any]:
    value = json.loads(payload)
    error = jsonschema.exceptions.best_match(_parsed("json", schema, _json_validator).iter_errors(value))
    if error is not None:
        raise ValueError(f"{_json_error(error)}")
    document = _parsed("json", schema, _json_validator).schema
    return (document.get("title") if isinstance(document, dict) else None), value


def _json_error(error: jsonschema.ValidationError) -> Refused:
    path = error.json_path
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        path = f"{path}.{missing[0]}" if missing else path
    return Refused(error.message, path)


# Protobuf.


def _protobuf_file(schema: RegistrySchema) -> tuple[descriptor_pb2.FileDescriptorProto, DescriptorPool]:
    pool = DescriptorPool()
    _init_pool(pool)
    with registry.translated(f"resolving the references of schema id {schema.schema_id}"):
        _protobuf_references(schema.schema, registry.client(), pool)
    file_proto = _str_to_proto("default", schema.schema_str)
    pool.Add(file_proto)
    return file_proto, pool


def _message_descriptor(schema: RegistrySchema, indexes: list[int]) -> Descriptor:
    file_proto, pool = _parsed("protobuf", schema, _protobuf_file)
    messages, path = file_proto.message_type, []
    for index in indexes:
        if not 0 <= index < len(messages):
            raise ValueError(f"message index {index} is not in the schema")
        path.append(messages[index].name)
        messages = messages[index].nested_type
    full_name = ".".join(([file_proto.package] if file_proto.package else []) + path)
    return pool.FindMessageTypeByName(full_name)


def _read_varint(buffer: io.BytesIO) -> int:
    value = shift = 0
    while True:
        byte = buffer.read(1)
        if not byte:
            raise EOFError("the message indexes end early")
        value |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            return (value >> 1) ^ -(value & 1)  # zigzag


def _decode_protobuf(schema: RegistrySchema, payload: bytes) -> tuple[str | None, Any]:
    buffer = io.BytesIO(payload)
    count = _read_varint(buffer)
    indexes = [_read_varint(buffer) for _ in range(count)] or [0]
    descriptor = _message_descriptor(schema, indexes)
    message = GetMessageClass(descriptor)()
    try:
        message.ParseFromString(buffer.read())
    except DecodeError as exc:
        raise EOFError(str(exc)) if "truncated" in str(exc).lower() else ValueError(str(exc)) from exc
    return descriptor.full_name, json_format.MessageToDict(message, preserving_proto_field_name=True)


_DECODERS = {"AVRO": _decode_avro, "JSON": _decode_json, "PROTOBUF": _decode_protobuf}


# Encoding an edit.


def encode(
    value: Any, *, subject: str, schema_id: int | None = None, record_name: str | None = None
) -> Encoded | Refused:
    """The edit in the wire format with the subject's latest schema id, or why it is refused.

    It must fit the latest schema (what the topic's consumers read, under FORWARD compatibility)
    and, with `schema_id` (the record's own), that schema too. `record_name` picks the Protobuf
    message when the schema holds several. Never raises: an unreachable registry is a refusal too.
    """
    if not registry.enabled():
        return Refused("The Schema Registry is off: SCHEMA_REGISTRY_URL is not set")
    try:
        latest = registry.latest_schema(subject)
        own = registry.schema_by_id(schema_id) if schema_id is not None and schema_id != latest.schema_id else None
    except RegistryError as exc:
        return Refused(str(exc), schema_id=schema_id)
    for schema in (own, latest):
        if schema is not None and isinstance(refused := _check(schema, value, record_name), Refused):
            return refused
    payload = _ENCODERS[latest.schema_type](latest, value, record_name)
    version = next((v.version for v in latest.versions if v.subject == subject), None)
    return Encoded(HEADER.pack(MAGIC, latest.schema_id) + payload, latest.schema_id, subject, version)


def _check(schema: RegistrySchema, value: Any, record_name: str | None) -> Refused | None:
    """None when `value` encodes with this schema, else the refusal naming the field."""
    if schema.schema_type not in _ENCODERS:
        return Refused(f"schema type {schema.schema_type} cannot be edited here", schema_id=schema.schema_id)
    try:
        _ENCODERS[schema.schema_type](schema, value, record_name)
    except _Refusal as exc:
        return Refused(exc.message, exc.path, schema.schema_id)
    except RegistryError as exc:
        return Refused(str(exc), schema_id=schema.schema_id)
    except Exception as exc:
        return Refused(f"does not fit schema id {schema.schema_id}: {exc}", schema_id=schema.schema_id)
    return None


class _Refusal(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


def _encode_avro(schema: RegistrySchema, value: Any, record_name: str | None) -> bytes:
    parsed = _parsed("avro", schema, _avro_schema)
    named = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
    datum = _to_avro(json.loads(schema.schema_str), value, "$", dict(named))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, datum)
    return buffer.getvalue()


AVRO_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "null": (type(None),), "boolean": (bool,), "int": (int,), "long": (int,), "float": (int, float),
    "double": (int, float), "string": (str,), "bytes": (str,),
}  # fmt: skip


def _to_avro(schema: Any, value: Any, path: str, named: dict[str, Any]) -> Any:
    """The edited JSON value as fastavro writes it, checked field by field so a refusal names the path."""
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        return _to_avro_union(schema, value, path, named)
    kind = schema if isinstance(schema, str) else schema["type"]
    if isinstance(schema, dict) and "name" in schema and kind in ("record", "enum", "fixed"):
        named.setdefault(schema["name"], schema)
    if isinstance(schema, dict) and schema.get("logicalType") and not isinstance(kind, dict | list):
        return _to_avro_logical(schema, value, path)
    if kind == "record":
        return _to_avro_record(schema, value, path, named)
    if kind == "array":
        _expect(isinstance(value, list), path, "must be a list")
        return [_to_avro(schema["items"], item, f"{path}[{i}]", named) for i, item in enumerate(value)]
    if kind == "map":
        _expect(isinstance(value, dict), path, "must be an object")
        return {key: _to_avro(schema["values"], item, f"{path}.{key}", named) for key, item in value.items()}
    if kind == "enum":
        _expect(value in schema["symbols"], path, f"must be one of {', '.join(schema['symbols'])}")
        return value
    if kind == "fixed":
        _expect(isinstance(value, str) and len(value.encode("latin-1", "replace")) == schema["size"], path,
                f"must be {schema['size']} bytes as Latin-1 text")  # fmt: skip
        return value.encode("latin-1")
    if isinstance(kind, dict | list):
        return _to_avro(kind, value, path, named)
    _expect(kind in AVRO_PRIMITIVES, path, f"unknown Avro type {kind}")
    ok = isinstance(value, AVRO_PRIMITIVES[kind]) and (kind == "boolean" or not isinstance(value, bool))
    _expect(ok, path, f"must be {'null' if kind == 'null' else 'a ' + kind}")
    return value.encode("latin-1") if kind == "bytes" else value


def _to_avro_record(schema: dict[str, Any], value: Any, path: str, named: dict[str, Any]) -> dict[str, Any]:
    _expect(isinstance(value, dict), path, f"must be an object ({schema['name']})")
    known = {f["name"] for f in schema["fields"]}
    for extra in value:
        _expect(extra in known, f"{path}.{extra}", f"is not a field of {schema['name']}")
    datum = {}
    for field_schema in schema["fields"]:
        name = field_schema["name"]
        if name not in value:
            _expect("default" in field_schema, f"{path}.{name}", "is required (no default) and missing")
            continue
        datum[name] = _to_avro(field_schema["type"], value[name], f"{path}.{name}", named)
    return datum


def _to_avro_union(branches: list[Any], value: Any, path: str, named: dict[str, Any]) -> Any:
    if value is None and "null" in branches:
        return None
    problems = []
    for branch in (b for b in branches if b != "null"):
        try:
            return _to_avro(branch, value, path, named)
        except _Refusal as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    raise _Refusal(path, "fits none of the union's types")


def _to_avro_logical(schema: dict[str, Any], value: Any, path: str) -> Any:
    logical = schema["logicalType"]
    try:
        if logical == "decimal" and isinstance(value, str | int | float) and not isinstance(value, bool):
            return decimal.Decimal(str(value))
        if logical.startswith(("timestamp-", "local-timestamp-")) and isinstance(value, str):
            return datetime.datetime.fromisoformat(value)
        if logical == "date" and isinstance(value, str):
            return datetime.date.fromisoformat(value)
        if logical.startswith("time-") and isinstance(value, str):
            return datetime.time.fromisoformat(value)
    except (ValueError, decimal.InvalidOperation) as exc:
        raise _Refusal(path, f"is not a valid {logical}: {exc}") from exc
    return _to_avro({k: v for k, v in schema.items() if k != "logicalType"}, value, path, {})


def _expect(condition: bool, path: str, message: str) -> None:
    if not condition:
        raise _Refusal(path, message)


def _encode_json(schema: RegistrySchema, value: Any, record_name: str | None) -> bytes:
    error = jsonschema.exceptions.best_match(_parsed("json", schema, _json_validator).iter_errors(value))
    if error is not None:
        refused = _json_error(error)
        raise _Refusal(refused.path, refused.message)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _encode_protobuf(schema: RegistrySchema, value: Any, record_name: str | None) -> bytes:
    file_proto, _ = _parsed("protobuf", schema, _protobuf_file)
    indexes = _message_indexes(file_proto, record_name)
    message = GetMessageClass(_message_descriptor(schema, indexes))()
    try:
        json_format.ParseDict(value, message)
    except json_format.ParseError as exc:
        raise _Refusal(_protobuf_path(str(exc)), str(exc)) from exc
    prefix = b"\x00" if indexes == [0] else bytes(_varints([len(indexes), *indexes]))
    return prefix + message.SerializeToString()


def _message_indexes(file_proto: descriptor_pb2.FileDescriptorProto, record_name: str | None) -> list[int]:
    """The index path of the named message (top-level or nested); the first message without a name."""
    prefix = f"{file_proto.package}." if file_proto.package else ""

    def find(messages: Any, parent: str) -> list[int] | None:
        for index, message in enumerate(messages):
            name = f"{parent}{message.name}"
            if name == record_name:
                return [index]
            if (inner := find(message.nested_type, f"{name}.")) is not None:
                return [index, *inner]
        return None

    return (find(file_proto.message_type, prefix) if record_name else None) or [0]


def _varints(values: list[int]) -> list[int]:
    out = []
    for value in values:
        value = (value << 1) ^ (value >> 63)  # zigzag
        while value > 0x7F:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return out


def _protobuf_path(message: str) -> str:
    # json_format says 'Failed to parse amount field: ...' or 'Message type "x.Y" has no field named "z" at "Y"'.
    if message.startswith("Failed to parse ") and " field" in message:
        return "$." + message[len("Failed to parse ") : message.index(" field")]
    if 'has no field named "' in message:
        return "$." + message.split('has no field named "', 1)[1].split('"', 1)[0]
    return "$"


_ENCODERS = {"AVRO": _encode_avro, "JSON": _encode_json, "PROTOBUF": _encode_protobuf}
