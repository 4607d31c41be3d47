"""Walkthrough items on the mirror pages: a quiet "No" for a broker that is not the controller,
"Sync now" wherever the mirror's age is shown, and message times written as the portal writes times."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from opsportal.admin_mixins import show_time
from topics.models import Broker
from topics.views import _timestamp

pytestmark = pytest.mark.django_db
SYNC_NOW = reverse("admin:topics_topic_sync_now")


def test_a_broker_that_is_not_the_controller_is_a_quiet_no(admin_client, sync):
    sync()
    brokers = Broker.objects.filter(is_up=True)
    assert brokers.count() > 1 and brokers.filter(is_controller=True).count() == 1

    page = admin_client.get(reverse("admin:topics_broker_changelist")).content.decode()

    column = re.findall(r'<td class="field-is_controller_shown">(.*?)</td>', page)
    assert column.count("<strong>Yes</strong>") == 1
    assert column.count('<span style="color: var(--body-quiet-color)">No</span>') == brokers.count() - 1
    assert "icon-no.svg" not in page  # every broker is up: no red ✖ anywhere


@pytest.fixture
def queued(monkeypatch):
    """The one point where "Sync now" reaches Celery and Redis, replaced: these tests are about the button."""
    calls: list[bool] = []
    monkeypatch.setattr("topics.admin.queue_sync", lambda: calls.append(True) or True)
    return calls


def sync_form(page: str) -> tuple[str, str]:
    """The "Sync now" form's (CSRF token, next page); it posts to the topics list's sync view."""
    form = re.search(rf'<form method="post" action="{SYNC_NOW}"[^>]*>(.*?)</form>', page, re.S)
    assert form, "no Sync now form"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(1)).group(1)
    back = re.search(r'name="next" value="([^"]*)"', form.group(1)).group(1)
    assert 'id="sync-now"' in form.group(1)
    return token, html.unescape(back)


@pytest.mark.parametrize(
    "page", ["admin:topics_groupoffset_changelist", "admin:topics_syncrun_changelist", "admin:index"]
)
def test_sync_now_is_offered_where_the_mirrors_age_is_shown_and_comes_back_there(admin_user, queued, page):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    url = reverse(page)

    token, back = sync_form(client.get(url).content.decode())
    response = client.post(SYNC_NOW, {"csrfmiddlewaretoken": token, "next": back})

    assert back == url
    assert response.status_code == 302 and response["Location"] == url
    assert queued == [True]
    assert "Sync queued" in client.get(url).content.decode()


def test_sync_now_without_the_token_is_refused(admin_user, queued):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(SYNC_NOW, {"next": reverse("admin:index")}).status_code == 403
    assert queued == []


def test_the_overview_offers_sync_now_only_to_who_may_sync(client, queued):
    nobody = User.objects.create_user("no-topics", password="x", is_staff=True)
    client.force_login(nobody)

    page = client.get(reverse("admin:index")).content.decode()

    assert 'id="overview"' in page and 'id="sync-now"' not in page
    assert client.post(SYNC_NOW).status_code == 403
    assert queued == []


def test_a_mirror_list_offers_sync_now_only_to_who_may_sync(client, queued):
    offsets_only = User.objects.create_user("offsets-only", password="x", is_staff=True)
    offsets_only.user_permissions.add(Permission.objects.get(codename="view_groupoffset"))
    client.force_login(offsets_only)

    page = client.get(reverse("admin:topics_groupoffset_changelist"))

    assert page.status_code == 200 and 'id="sync-now"' not in page.content.decode()


def test_a_message_time_is_the_portals_time_with_kafkas_milliseconds(settings):
    ms = 1764957960683
    second = datetime.fromtimestamp(ms // 1000, UTC)

    assert _timestamp(ms) == "2025-12-05 18:06:00.683 UTC"
    assert _timestamp(ms).replace(".683", "") == show_time(second)
    assert _timestamp(5) == "1970-01-01 00:00:00.005 UTC"
    assert _timestamp(None) == "–"
    settings.TIME_ZONE = "Europe/Berlin"
    assert _timestamp(ms) == "2025-12-05 19:06:00.683 CET" and show_time(second) == "2025-12-05 19:06:00 CET"
