"""The summary says what it counts, and says so when it drops a filter it cannot apply."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from deadletter.models import Review
from tests.deadletter import samples
from tests.deadletter.desk_support import store

pytestmark = pytest.mark.django_db
SUMMARY = "admin:deadletter_summary"


@pytest.fixture
def rows():
    made = [store(n, b"acc_1", samples.billing_event(), samples.billing_headers(offset=n)) for n in range(1, 4)]
    Review.objects.filter(pk=made[0].pk).update(status="republished")
    return made


def test_the_by_status_table_says_it_counts_every_status(admin_client, rows):
    response = admin_client.get(reverse(SUMMARY))
    page = response.content.decode()
    labels = {row["label"]: row["n"] for row in response.context["statuses"]}
    assert labels == {"New": 2, "Republished": 1}  # every status, closed ones too
    assert "By status (all records, open or not)" in page
    assert "The tables below count the records still open" in page


@pytest.mark.parametrize("query", [{"convention": "spring-kafka"}, {"no_such_filter": "1"}, {"since": "not-a-time"}])
def test_a_filter_the_summary_cannot_apply_is_named_in_a_message(admin_client, rows, query):
    response = admin_client.get(reverse(SUMMARY), query)
    assert response.status_code == 302
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert len(shown) == 1 and next(iter(query)) in shown[0], shown


def test_the_message_is_shown_on_the_unfiltered_summary(admin_client, rows):
    page = admin_client.get(reverse(SUMMARY), {"convention": "spring-kafka"}, follow=True).content.decode()
    assert "The summary cannot be filtered by convention" in page
