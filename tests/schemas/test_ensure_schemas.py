"""ensure_schemas pins the billing subjects' compatibility to topics/spec.py and reports drift."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from opsportal.kafka.registry_testing import Schema
from topics import spec

from .conftest import PAYMENT_AVRO

VALUE_SUBJECTS = [f"{t.name}-value" for t in spec.TOPICS if t.schema_compatibility]


def run(*args: str) -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("ensure_schemas", *args, stdout=out, stderr=StringIO())
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def test_it_sets_forward_on_the_billing_subjects(registry):
    assert VALUE_SUBJECTS == [
        "billing.account.events-value", "billing.transaction.events-value", "billing.saga.events-value",
    ]  # fmt: skip
    output, error = run()
    assert error is None, output
    assert {subject: registry.levels.get(subject) for subject in VALUE_SUBJECTS} == dict.fromkeys(
        VALUE_SUBJECTS, "FORWARD"
    )
    assert "billing.dead-letter-value" not in registry.levels
    output, error = run()
    assert error is None and output.count(" ok ") == 3, output


def test_a_registered_key_subject_is_managed_too(registry):
    registry.register_schema("billing.account.events-key", Schema('"string"', "AVRO"))
    run()
    assert registry.levels["billing.account.events-key"] == "FORWARD"


def test_dry_run_reports_and_changes_nothing(registry):
    output, error = run("--dry-run")
    assert isinstance(error, CommandError)
    assert output.count("would set") == 3 and set(registry.levels) == {None}


def test_drift_is_reported_until_applied(registry):
    registry.register_schema("billing.saga.events-value", Schema(PAYMENT_AVRO, "AVRO"))
    run()
    registry.levels["billing.saga.events-value"] = "BACKWARD"
    output, error = run()
    assert isinstance(error, CommandError) and "--apply" in str(error)
    assert re.search(r"^billing\.saga\.events-value +drift +BACKWARD -> FORWARD$", output, re.M), output
    assert registry.levels["billing.saga.events-value"] == "BACKWARD"
    output, error = run("--apply")
    assert error is None and registry.levels["billing.saga.events-value"] == "FORWARD"


def test_it_refuses_without_a_registry(settings):
    settings.SCHEMA_REGISTRY_URL = None
    with pytest.raises(CommandError, match="SCHEMA_REGISTRY_URL"):
        call_command("ensure_schemas")
