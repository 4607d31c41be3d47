"""Bad list input and nonsense command arguments: a clear message, nothing changed, never a 500."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.urls import reverse

from deadletter.models import Review
from tests.deadletter import samples
from tests.deadletter.desk_support import CHANGELIST, store

pytestmark = pytest.mark.django_db
PORTAL_APPS = ("deadletter", "topics", "offsets", "republish")


@pytest.fixture
def row():
    return store(1, b"acc_1", samples.billing_event(), samples.billing_headers())


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("selected", ["abc", "1" * 30, "-1", "１"])
def test_a_selection_that_is_not_an_id_changes_nothing(admin_client, row, selected):
    response = admin_client.post(
        reverse(CHANGELIST), {"action": "discard_selected", "_selected_action": [str(row.pk), selected], "index": "0"}
    )
    assert response.status_code == 302
    assert messages_of(response) == ["The selection is not a list of records: nothing was done."]
    assert Review.objects.get(pk=row.pk).status == "new"


def test_a_regex_in_the_url_is_refused_before_any_query(admin_client, row):
    response = admin_client.get(reverse(CHANGELIST), {"error_message__regex": "(", "status": "new"})
    assert response.status_code == 302
    assert response.url == reverse(CHANGELIST) + "?status=new"
    assert messages_of(response) == ["This list cannot be filtered by error_message__regex: showing it without."]


@pytest.mark.parametrize(
    "query",
    [
        {"status": "new"},
        {"original_topic": "billing.transaction.events"},
        {"convention__exact": "billing"},
        {"failed_again__exact": "1"},
        {"timestamp__year": "2025", "timestamp__month": "11"},
        {"timestamp__gte": "2025-11-24T00:00:00+00:00"},
        {"assignee": "me"},
        {"fingerprint": "abc"},
        {"q": "acc_1"},
    ],
)
def test_what_the_page_offers_is_accepted(admin_client, row, query):
    assert admin_client.get(reverse(CHANGELIST), query).status_code == 200


def portal_admins() -> list[str]:
    return sorted(
        f"{model._meta.app_label}_{model._meta.model_name}"
        for model in admin.site._registry
        if model._meta.app_label in PORTAL_APPS
    )


@pytest.mark.parametrize("name", portal_admins())
def test_every_portal_list_refuses_a_lookup_it_does_not_offer(admin_client, name):
    url = reverse(f"admin:{name}_changelist")
    response = admin_client.get(url, {"pk__regex": "^(a|a){1,22}X"})
    assert response.status_code == 302, name
    assert "cannot be filtered by pk__regex" in messages_of(response)[0]


@pytest.mark.parametrize(
    "argument, value", [("--max-records", "-5"), ("--batch-size", "0"), ("--timeout", "-1"), ("--timeout", "nan")]
)
def test_the_drain_command_refuses_nonsense_numbers_naming_the_argument(argument, value):
    with pytest.raises(CommandError, match=f"argument {argument}: must be above zero"):
        call_command("drain_dead_letter", f"{argument}={value}")
