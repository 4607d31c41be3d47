"""The offset-reset pages: arriving from a group prefills its topics, the preview shows each
partition's lag now and after the reset, the final submit is marked dangerous, and the crumbs
lead up without repeating the page's headings."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from offsets import reset
from offsets.models import OffsetReset
from tests.pages import crumbs_and_headings, signed_in

NEW_RESET = "admin:offsets_offsetreset_new"
pytestmark = pytest.mark.django_db


def cells(html: str, css_class: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(rf'<td class="{css_class}">(.*?)</td>', html, re.S)]


def test_arriving_with_a_group_prefills_the_topics_it_has_committed_offsets_for(scenario, operator):
    response = signed_in(operator).get(reverse(NEW_RESET), {"group_id": scenario.group})

    assert response.context["form"].initial["topics"] == scenario.topic
    assert re.search(
        rf'<textarea name="topics"[^>]*>\s*{re.escape(scenario.topic)}</textarea>', response.content.decode()
    )


def test_topics_given_in_the_link_are_kept(scenario, operator):
    response = signed_in(operator).get(reverse(NEW_RESET), {"group_id": scenario.group, "topics": "other:0"})

    assert response.context["form"].initial["topics"] == "other:0"


def test_a_group_without_committed_offsets_leaves_the_topics_empty(operator, group_names):
    response = signed_in(operator).get(reverse(NEW_RESET), {"group_id": group_names()})

    assert not response.context["form"].initial.get("topics")


def test_the_preview_shows_each_partitions_lag_now_and_after_the_reset(scenario, operator):
    form = {"group_id": scenario.group, "topics": scenario.topic, "reset_type": "to-offset", "value": "7"}

    html = signed_in(operator).post(reverse(NEW_RESET), form).content.decode()

    # p0 and p1 end at 10, committed 4 and 10; p2 ends at 4, nothing committed; all go to 7 (p2 clamped to 4).
    assert cells(html, "lag-now") == ["6", "0", "-"]
    assert cells(html, "lag-after") == ["3", "3", "0"]
    totals = re.search(r'<tr class="plan-totals">(.*?)</tr>', html, re.S)
    assert totals is not None
    footer = [" ".join(re.sub(r"<[^>]+>", "", th).split()) for th in re.findall(r"<th[^>]*>(.*?)</th>", totals[1])]
    assert footer == ["3 partitions", "+3 read again, &minus;3 skipped", "6", "6", ""]


def test_a_stored_plan_from_before_the_lag_was_read_still_shows(scenario):
    spec = reset.ResetSpec.build(scenario.group, reset.Scope.parse([scenario.topic]), "to-latest")
    data = reset.plan_reset(spec).to_json()
    for partition in data["partitions"]:
        del partition["end"]

    plan = reset.ResetPlan.from_json(data)

    assert [(p.lag_now, p.lag_after) for p in plan.partitions] == [(None, None)] * 3


def test_the_final_submit_is_marked_dangerous_like_djangos_delete(scenario, operator, second_operator, settings):
    settings.OPSPORTAL_FOUR_EYES = True
    form = {"group_id": scenario.group, "topics": scenario.topic, "reset_type": "to-earliest", "value": ""}
    preview = signed_in(operator).post(reverse(NEW_RESET), form)
    signed_in(operator).post(reverse(NEW_RESET), {"post": "yes", "plan": preview.context["token"]})
    approve = signed_in(second_operator).get(
        reverse("admin:offsets_offsetreset_approve", args=[OffsetReset.objects.get().pk])
    )
    form_page = signed_in(operator).get(reverse(NEW_RESET))

    for page in (preview, approve):
        assert re.search(r'<body class="[^"]*\bdelete-confirmation\b', page.content.decode())
    assert "delete-confirmation" not in form_page.content.decode()  # "Preview" changes nothing


def test_the_reset_pages_show_each_crumb_once(scenario, operator):
    client = signed_in(operator)
    form = {"group_id": scenario.group, "topics": scenario.topic, "reset_type": "to-latest", "value": ""}

    for response in (client.get(reverse(NEW_RESET)), client.post(reverse(NEW_RESET), form)):
        crumbs, headings = crumbs_and_headings(response.content.decode())
        assert crumbs == ["Home", "Consumer offsets", "Offset resets"]
        assert not set(crumbs) & set(headings), (crumbs, headings)
