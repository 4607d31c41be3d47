"""Bad input is a clear error from the command and the admin form, and nothing changes."""

from __future__ import annotations

import html

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from offsets.models import OffsetReset

from .conftest import committed

NEW_RESET = "admin:offsets_offsetreset_new"


def _bad_inputs(scenario) -> list[tuple[str, list[str], str]]:
    """(group, extra command arguments, a phrase the error must contain)."""
    t = scenario.topic
    return [
        ("no-such-group." + scenario.group, ["--topic", t, "--to-earliest"], "does not exist"),
        (scenario.group, ["--topic", f"{t}:0,7", "--to-earliest"], "7 does not exist"),
        (scenario.group, ["--topic", "no-such-topic-xyz", "--to-earliest"], "topic 'no-such-topic-xyz' does not exist"),
        (scenario.group, ["--topic", t, "--to-offset", "-1"], "negative"),
        (scenario.group, ["--topic", t, "--to-datetime", "2026-01-31T08:00:00.000"], "no time zone"),
        (scenario.group, ["--topic", t, "--by-duration", "6 hours"], "not a duration"),
        (scenario.group, ["--topic", t, "--by-duration", "PT"], "not a duration"),
        (scenario.group, ["--topic", t, "--by-duration", "P800000D"], "before 1970"),
        (scenario.group, ["--topic", t, "--by-duration", "P99999999999D"], "before 1970"),
        (scenario.group, ["--topic", t, "--to-datetime", "1969-12-31T23:59:59.999Z"], "before 1970"),
        (scenario.group, ["--topic", f"{t}:2", "--shift-by", "1"], "no committed offset"),
    ]


@pytest.mark.django_db
def test_the_command_rejects_bad_input_clearly_and_changes_nothing(scenario, cluster):
    for group, arguments, phrase in _bad_inputs(scenario):
        with pytest.raises(CommandError, match=phrase):
            call_command("reset_offsets", group, *arguments, "--execute")

    assert committed(scenario.group, cluster) == scenario.initial_offsets
    assert committed("no-such-group." + scenario.group, cluster) == {}
    assert not OffsetReset.objects.exists()


def _form_data(group: str, arguments: list[str]) -> dict:
    scope, flag, *value = arguments
    return {"group_id": group, "topics": flag if scope == "--topic" else "", "reset_type": value[0].lstrip("-"),
            "value": value[1] if len(value) > 1 else ""}  # fmt: skip


@pytest.mark.django_db
def test_the_admin_form_rejects_bad_input_clearly_and_changes_nothing(scenario, cluster, client, operator):
    client.force_login(operator)
    for group, arguments, phrase in _bad_inputs(scenario):
        response = client.post(reverse(NEW_RESET), _form_data(group, arguments))
        assert response.status_code == 200
        page = html.unescape(response.content.decode())
        assert phrase in page, arguments
        assert "token" not in response.context

    assert committed(scenario.group, cluster) == scenario.initial_offsets
    assert not OffsetReset.objects.exists()


def test_the_command_needs_exactly_one_scope_and_one_reset_type(scenario):
    with pytest.raises(CommandError, match="one of the arguments --topic --all-topics is required"):
        call_command("reset_offsets", scenario.group, "--to-earliest")
    with pytest.raises(CommandError, match="argument --to-latest: not allowed with argument --to-earliest"):
        call_command("reset_offsets", scenario.group, "--all-topics", "--to-earliest", "--to-latest")


@pytest.mark.django_db
def test_a_form_error_is_shown_once(client, operator):
    client.force_login(operator)

    page = client.post(reverse(NEW_RESET), {"group_id": "g", "topics": "", "reset_type": "to-earliest", "value": ""})

    assert page.content.decode().count("choose either all topics or one or more topics") == 1
