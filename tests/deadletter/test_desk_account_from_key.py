"""A dead letter whose event has no account shows its key as the account (display only, not stored)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.deadletter import samples
from tests.deadletter.desk_support import CHANGELIST, RECORD_PAGE, store

pytestmark = pytest.mark.django_db


def test_malformed_json_shows_the_key_as_account_on_list_and_record_page(admin_client):
    row = store(1, b"acc_777", b'{"accountId": "acc_777",', samples.spring_kafka_headers())
    assert row.account_id == ""  # nothing stored from the key
    listed = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert 'class="dl-from-key"' in listed and "acc_777" in listed
    page = admin_client.get(reverse(RECORD_PAGE, args=[row.pk])).content.decode()
    assert 'class="dl-from-key"' in page and "(key)" in page
