"""With SCHEMA_REGISTRY_URL unset nothing calls a registry: decoding leaves bytes to the other decoders."""

from __future__ import annotations

import struct

import pytest

from opsportal.kafka import Refused, registry, wire
from opsportal.kafka.registry_testing import SchemaRegistryClient


@pytest.fixture
def no_registry(settings, monkeypatch):
    settings.SCHEMA_REGISTRY_URL = None
    registry.reset()

    def refuse(conf: dict) -> None:
        raise AssertionError(f"a registry client was built with SCHEMA_REGISTRY_URL unset: {conf}")

    monkeypatch.setattr(SchemaRegistryClient, "new_client", staticmethod(refuse))


def test_nothing_calls_the_registry(no_registry):
    assert not registry.enabled()
    assert wire.decode(struct.pack(">bI", 0, 1) + b"\x02x") is None
    refused = wire.encode({"a": 1}, subject="billing.account.events-value")
    assert isinstance(refused, Refused) and "SCHEMA_REGISTRY_URL" in refused.message
