"""With OPSPORTAL_FOUR_EYES on, a reset waits until a different operator approves it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from offsets.models import OffsetReset

from .conftest import active_consumer, committed


def _request_reset(client, scenario) -> OffsetReset:
    form = {"group_id": scenario.group, "topics": scenario.topic, "reset_type": "to-latest"}
    preview = client.post(reverse("admin:offsets_offsetreset_new"), form)
    client.post(reverse("admin:offsets_offsetreset_new"), {"post": "yes", "plan": preview.context["token"]})
    return OffsetReset.objects.get()


@pytest.mark.django_db
def test_a_second_operator_approves_and_only_then_offsets_change(
    settings, client, scenario, cluster, operator, second_operator
):
    settings.OPSPORTAL_FOUR_EYES = True
    client.force_login(operator)
    row = _request_reset(client, scenario)
    approve = reverse("admin:offsets_offsetreset_approve", args=[row.pk])
    assert row.status == OffsetReset.Status.PENDING
    assert committed(scenario.group, cluster) == scenario.initial_offsets

    own = client.post(approve, {"post": "yes"}, follow=True)
    row.refresh_from_db()
    assert "someone else has to approve" in own.content.decode()
    assert row.status == OffsetReset.Status.PENDING
    assert committed(scenario.group, cluster) == scenario.initial_offsets

    client.force_login(second_operator)
    assert "Approve and apply" in client.get(approve).content.decode()
    client.post(approve, {"post": "yes"})
    row.refresh_from_db()
    assert (row.status, row.approved_by, row.requested_by) == ("applied", second_operator, operator)
    assert committed(scenario.group, cluster) == {(scenario.topic, 0): 10, (scenario.topic, 1): 10,
                                                  (scenario.topic, 2): 4}  # fmt: skip


@pytest.mark.django_db
def test_a_viewer_cannot_approve(settings, client, scenario, cluster, operator, viewer):
    settings.OPSPORTAL_FOUR_EYES = True
    client.force_login(operator)
    row = _request_reset(client, scenario)

    client.force_login(viewer)
    response = client.post(reverse("admin:offsets_offsetreset_approve", args=[row.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert committed(scenario.group, cluster) == scenario.initial_offsets


@pytest.mark.django_db
def test_approval_refuses_when_the_group_gained_a_consumer_since_the_request(
    settings, client, scenario, cluster, operator, second_operator
):
    settings.OPSPORTAL_FOUR_EYES = True
    client.force_login(operator)
    row = _request_reset(client, scenario)

    client.force_login(second_operator)
    with active_consumer(scenario.group, scenario.topic):
        client.post(reverse("admin:offsets_offsetreset_approve", args=[row.pk]), {"post": "yes"})
    row.refresh_from_db()

    assert row.status == OffsetReset.Status.REFUSED and "member(s)" in row.detail
    assert committed(scenario.group, cluster) == scenario.initial_offsets


@pytest.mark.django_db
def test_approval_refuses_a_to_latest_reset_whose_end_moved_since_the_request(
    settings, client, scenario, cluster, operator, second_operator
):
    from .conftest import produce_stamped

    settings.OPSPORTAL_FOUR_EYES = True
    client.force_login(operator)
    row = _request_reset(client, scenario)
    produce_stamped(scenario.topic, 0, [scenario.now_ms])  # partition 0's end moves from 10 to 11

    client.force_login(second_operator)
    client.post(reverse("admin:offsets_offsetreset_approve", args=[row.pk]), {"post": "yes"})

    row.refresh_from_db()
    assert row.status == OffsetReset.Status.REFUSED
    assert "now gives other offsets" in row.detail and "[0] 10 -> 11" in row.detail
    assert committed(scenario.group, cluster) == scenario.initial_offsets
