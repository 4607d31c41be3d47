"""Who may preview and who may apply: viewer, operator and superuser through the real admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from offsets.models import OffsetReset

from .conftest import committed

NEW_RESET = "admin:offsets_offsetreset_new"


def _preview(client, scenario):
    return client.post(reverse(NEW_RESET), {"group_id": scenario.group, "topics": scenario.topic,
                                            "reset_type": "to-earliest"})  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "can_apply"), [("viewer", False), ("operator", True), ("superuser", True)])
def test_everyone_with_view_access_previews_but_only_reset_permission_applies(
    request, client, scenario, cluster, who, can_apply
):
    user: User = request.getfixturevalue(who)
    client.force_login(user)

    preview = _preview(client, scenario)
    assert preview.status_code == 200
    assert [p.new for p in preview.context["plan"].partitions] == [0, 0, 0]
    assert ("Yes, reset these offsets" in preview.content.decode()) is can_apply

    confirm = client.post(reverse(NEW_RESET), {"post": "yes", "plan": preview.context["token"]})

    expected = {(scenario.topic, p): 0 for p in range(3)} if can_apply else scenario.initial_offsets
    assert committed(scenario.group, cluster) == expected
    assert confirm.status_code == (302 if can_apply else 403)
    assert OffsetReset.objects.filter(requested_by=user, status="applied").count() == int(can_apply)


@pytest.mark.django_db
def test_staff_without_offset_permissions_cannot_even_preview(client, scenario):
    client.force_login(User.objects.create_user("nobody", is_staff=True))

    assert client.get(reverse(NEW_RESET)).status_code == 403
    assert _preview(client, scenario).status_code == 403


@pytest.mark.django_db
def test_a_preview_token_cannot_be_confirmed_by_another_user(client, scenario, cluster, operator, second_operator):
    client.force_login(operator)
    token = _preview(client, scenario).context["token"]

    client.force_login(second_operator)
    response = client.post(reverse(NEW_RESET), {"post": "yes", "plan": token}, follow=True)

    assert "expired or was altered" in response.content.decode()
    assert committed(scenario.group, cluster) == scenario.initial_offsets


@pytest.mark.django_db
def test_an_applied_reset_is_audited_and_listed_for_a_viewer(client, scenario, cluster, operator, viewer):
    client.force_login(operator)
    client.post(reverse(NEW_RESET), {"post": "yes", "plan": _preview(client, scenario).context["token"]})
    row = OffsetReset.objects.get()

    assert (row.group_id, row.reset_type, row.requested_by, row.status) == (scenario.group, "to-earliest", operator,
                                                                           "applied")  # fmt: skip
    assert row.applied_at is not None
    assert [(p["partition"], p["before"], p["after"], p["error"]) for p in row.partitions] == [
        (0, 4, 0, ""), (1, 10, 0, ""), (2, None, 0, ""),
    ]  # fmt: skip
    client.force_login(viewer)
    listing = client.get(reverse("admin:offsets_offsetreset_changelist"))
    detail = client.get(reverse("admin:offsets_offsetreset_change", args=[row.pk]))
    assert listing.status_code == 200 and scenario.group in listing.content.decode()
    assert detail.status_code == 200 and "operator" in detail.content.decode()
    assert client.get(reverse("admin:index")).content.decode().count("offsetreset") >= 1
