"""End to end in headless Chromium: an operator finds a dead letter and republishes it; a viewer cannot act."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from deadletter.drain import drain_dead_letter
from deadletter.models import DeadLetterRecord, Status
from opsportal import kafka
from opsportal.kafka.testing import produce_records
from republish.models import Replay
from tests.conftest import ensure_ops_groups
from tests.republish.conftest import billing_event, billing_headers


@pytest.fixture
def ops_groups(transactional_db):
    ensure_ops_groups()


def make_user(name: str, group: str) -> User:
    user = User.objects.create_user(name, password=f"{name}-password", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def drained(ops_groups, make_topic, group_names, cluster):
    """Two dead letters with different error types, produced, dead-lettered and drained for real."""
    original = make_topic(partitions=10, prefix="test.e2e-billing")
    dlq = make_topic(partitions=1, prefix="test.e2e-dlq")
    producer = kafka.producer(cluster)
    events = [(b"acc_e2e_1", billing_event("acc_e2e_1")), (b"acc_e2e_2", billing_event("acc_e2e_2"))]
    positions = produce_records(producer, original, [(k, v, ()) for k, v in events], cluster=cluster)
    errors = ["InsufficientFundsError", "CurrencyMismatchError"]
    produce_records(
        producer,
        dlq,
        [
            (k, v, billing_headers(original, p, o, error))
            for (k, v), (p, o), error in zip(events, positions, errors, strict=True)
        ],
        cluster=cluster,
    )
    drain_dead_letter(topic=dlq, group_id=group_names("e2e"), until_empty=True, timeout=1.0)
    return DeadLetterRecord.objects.get(error_type="CurrencyMismatchError")


def test_an_operator_filters_opens_and_republishes_a_dead_letter(drained, live_server, page, log_in):
    make_user("olga", "Ops operator")
    log_in("olga", "olga-password")

    page.goto(f"{live_server.url}/admin/deadletter/deadletterrecord/")
    page.locator("#changelist-filter").get_by_role("link", name="CurrencyMismatchError").first.click()
    page.wait_for_url("**error_type=CurrencyMismatchError**")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)  # waits for the filtered page, however slow the database
    rows.first.locator("th a, td a").first.click()
    page.click("#republish-button")
    page.click("input[type=submit][value='Yes, republish']")

    assert "1 republished" in page.inner_text(".messagelist")
    assert "Republished" in page.inner_text("#replays")
    drained.refresh_from_db()
    assert drained.status == Status.REPUBLISHED
    assert Replay.objects.get(record=drained).state == Replay.State.REPUBLISHED


def test_a_viewer_finds_no_way_to_act(drained, live_server, page, log_in):
    make_user("vic", "Ops viewer")
    log_in("vic", "vic-password")

    page.goto(f"{live_server.url}/admin/deadletter/deadletterrecord/{drained.pk}/change/")
    # The record itself is shown (so the absences below are of the acts, not of a page that failed) ...
    expect(page.locator("#content")).to_contain_text("CurrencyMismatchError")
    expect(page.locator("#content")).to_contain_text("acc_e2e_2")
    assert page.locator("#republish-button, #edit-republish-button, #discard-button").count() == 0
    page.goto(f"{live_server.url}/admin/deadletter/deadletterrecord/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    assert page.locator("select[name=action] option[value=republish_selected]").count() == 0
    assert page.locator("select[name=action] option[value=discard_selected]").count() == 0
    forbidden = page.goto(f"{live_server.url}/admin/deadletter/deadletterrecord/{drained.pk}/republish/")
    assert forbidden.status == 403
    drained.refresh_from_db()
    assert drained.status == Status.NEW and not Replay.objects.exists()
