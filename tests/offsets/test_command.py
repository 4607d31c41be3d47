"""manage.py reset_offsets: a dry run by default printing the preview table; --execute applies and audits."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from offsets import service
from offsets.models import OffsetReset
from offsets.reset import ResetError

from .conftest import committed


@pytest.mark.django_db
def test_the_command_is_a_dry_run_by_default_and_prints_the_table(scenario, cluster):
    out = StringIO()

    call_command("reset_offsets", scenario.group, "--topic", f"{scenario.topic}:0,1", "--shift-by", "-2", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["TOPIC", "PARTITION", "CURRENT", "NEW", "DELTA", "WARNING"]
    assert lines[1].split() == [scenario.topic, "0", "4", "2", "+2", "read", "again"]
    assert lines[2].split() == [scenario.topic, "1", "10", "8", "+2", "read", "again"]
    assert "Dry run: nothing changed" in out.getvalue()
    assert committed(scenario.group, cluster) == scenario.initial_offsets
    assert not OffsetReset.objects.exists()


@pytest.mark.django_db
def test_execute_applies_and_audits_with_the_command_as_requester(scenario, cluster):
    out = StringIO()

    call_command("reset_offsets", scenario.group, "--all-topics", "--to-offset", "3", "--execute", stdout=out)

    assert committed(scenario.group, cluster) == {(scenario.topic, 0): 3, (scenario.topic, 1): 3}
    row = OffsetReset.objects.get()
    assert row.status == "applied" and row.requested_by_name.startswith("manage.py")
    assert f"Applied (audit #{row.pk})" in out.getvalue()


@pytest.mark.django_db
def test_execute_with_four_eyes_only_files_a_request_its_requester_cannot_approve(
    settings, scenario, cluster, operator
):
    settings.OPSPORTAL_FOUR_EYES = True
    out = StringIO()

    call_command(
        "reset_offsets",
        scenario.group,
        "--all-topics",
        "--to-latest",
        "--execute",
        "--as",
        operator.username,
        stdout=out,
    )

    assert "waits for approval" in out.getvalue()
    row = OffsetReset.objects.get()
    assert (row.status, row.requested_by, row.requested_by_name) == (
        "pending_approval",
        operator,
        f"manage.py ({operator.username})",
    )
    assert committed(scenario.group, cluster) == scenario.initial_offsets
    with pytest.raises(ResetError, match="someone else has to approve"):
        service.approve(row, operator)
    assert committed(scenario.group, cluster) == scenario.initial_offsets


@pytest.mark.django_db
def test_execute_with_four_eyes_needs_the_requester_named(settings, scenario, cluster):
    settings.OPSPORTAL_FOUR_EYES = True

    with pytest.raises(CommandError, match="--as USER"):
        call_command("reset_offsets", scenario.group, "--all-topics", "--to-latest", "--execute")
    with pytest.raises(CommandError, match="--as nobody-here: no active portal user"):
        call_command("reset_offsets", scenario.group, "--all-topics", "--to-latest", "--execute", "--as", "nobody-here")

    assert not OffsetReset.objects.exists()
