"""The replays list tells a job's replays apart: their ids are time-ordered (UUIDv7), so all of
one job share their first digits; the list shows the last 12, the full id on hover and on the
replay's page."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from republish.models import Replay
from republish.publish import new_replay_ids
from tests.deadletter import samples
from tests.deadletter.desk_support import store


@pytest.fixture
def one_jobs_replays(db):
    user = User.objects.create_superuser("desk", password="desk-password")
    record = store(1, b"acc_1", samples.billing_event("acc_1"), samples.billing_headers())
    ids = [uuid.UUID(text) for text in new_replay_ids(3)]
    assert len({str(i)[:8] for i in ids}) == 1  # what the first 8 digits could not tell apart
    return user, [
        Replay.objects.create(
            replay_id=replay_id,
            record=record,
            state="republished",
            target_topic="billing.account.events",
            target_partition=5,
            start_offset=367,
            offset=367,
            requested_by=user,
        )  # fmt: skip
        for replay_id in ids
    ]


def test_the_replays_list_shows_the_part_of_each_id_that_differs(client, one_jobs_replays):
    user, replays = one_jobs_replays
    client.force_login(user)
    page = client.get(reverse("admin:republish_replay_changelist")).content.decode()

    for replay in replays:
        full = str(replay.replay_id)
        assert f'<code title="{full}">…{full[-12:]}</code>' in page
    assert len({str(r.replay_id)[-12:] for r in replays}) == 3


def test_the_replay_page_shows_the_whole_id(client, one_jobs_replays):
    user, replays = one_jobs_replays
    client.force_login(user)
    page = client.get(reverse("admin:republish_replay_change", args=[replays[0].pk])).content.decode()

    assert str(replays[0].replay_id) in page
