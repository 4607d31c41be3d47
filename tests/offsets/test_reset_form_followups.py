"""The reset form keeps what was entered when the operator steps back from the preview, and
ticking All topics over the topics filled in from a group means all topics, while topics the
operator typed with it stay refused."""

from __future__ import annotations

import html as html_lib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from tests.pages import signed_in

NEW_RESET = "admin:offsets_offsetreset_new"
BOTH = "choose either all topics or one or more topics"
pytestmark = pytest.mark.django_db


def back_link(page: str) -> str:
    match = re.search(r'<a href="([^"]*)"[^>]*>No, take me back</a>', page)
    assert match is not None
    return html_lib.unescape(match[1])


def test_take_me_back_returns_to_the_form_with_what_was_entered(scenario, operator):
    client = signed_in(operator)
    entered = {"group_id": scenario.group, "topics": f"{scenario.topic}:0,1", "reset_type": "shift-by", "value": "-2"}

    url = back_link(client.post(reverse(NEW_RESET), entered).content.decode())

    assert urlsplit(url).path == reverse(NEW_RESET)
    assert {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()} == entered
    form = client.get(url).context["form"]
    assert {name: form[name].value() for name in entered} == entered
    assert not form["all_topics"].value()


def test_take_me_back_keeps_all_topics(scenario, operator):
    client = signed_in(operator)
    entered = {"group_id": scenario.group, "all_topics": "on", "reset_type": "to-earliest"}

    form = client.get(back_link(client.post(reverse(NEW_RESET), entered).content.decode())).context["form"]

    assert form["all_topics"].value() and form["group_id"].value() == scenario.group
    assert not form["topics"].value() and form["reset_type"].value() == "to-earliest"


def test_all_topics_ticked_over_the_topics_filled_in_from_the_group_resets_all_topics(scenario, operator):
    client = signed_in(operator)
    form = client.get(reverse(NEW_RESET), {"group_id": scenario.group}).context["form"]
    posted = {name: form[name].value() or "" for name in ("group_id", "topics", "prefilled_topics")}
    assert posted["topics"] == posted["prefilled_topics"] == scenario.topic

    response = client.post(reverse(NEW_RESET), {**posted, "all_topics": "on", "reset_type": "to-earliest"})

    page = response.content.decode()
    assert BOTH not in page
    assert response.context["plan"].spec.scope.all_topics
    assert 'id="prefill-ignored"' in page


def test_topics_typed_with_all_topics_ticked_are_still_refused(scenario, operator):
    client = signed_in(operator)
    typed = {"group_id": scenario.group, "topics": scenario.topic, "all_topics": "on", "reset_type": "to-earliest"}

    assert BOTH in client.post(reverse(NEW_RESET), typed).content.decode()
    # Edited after the prefill: the operator chose these topics.
    edited = {**typed, "topics": f"{scenario.topic}:0", "prefilled_topics": scenario.topic}
    assert BOTH in client.post(reverse(NEW_RESET), edited).content.decode()
