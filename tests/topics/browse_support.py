"""Helpers for the message browser tests: producing known records and reading the pages back."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from opsportal import kafka
from opsportal.kafka.testing import produce_records

ROW = re.compile(r'<tr class="message" data-partition="(\d+)" data-offset="(\d+)"')


def browse_url(**params: object) -> str:
    return f"{reverse('admin:topics_topic_messages')}?{urlencode(params)}"


def search_url(**params: object) -> str:
    return f"{reverse('admin:topics_topic_search')}?{urlencode(params)}"


def shown(page: str) -> list[tuple[int, int]]:
    """(partition, offset) of each message row, in page order."""
    return [(int(p), int(o)) for p, o in ROW.findall(page)]


def link(page: str, element_id: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" id="{element_id}"', page)
    return html.unescape(found.group(1)) if found else None


def error(page: str) -> str:
    found = re.search(r'<p class="errornote" id="browse-error">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def get(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def operator(browse: bool = True) -> Client:
    """A logged-in staff user with only the topic view permission, and browse_messages if asked."""
    user = User.objects.create_user(f"op-{User.objects.count()}", password="x", is_staff=True)
    codenames = ["view_topic", "view_consumergroup"] + (["browse_messages"] if browse else [])
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="topics", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def produce_one_by_one(cluster: kafka.ClusterSettings, topic: str, partitions: list[int]) -> list[kafka.Record]:
    """One record at a time, each acknowledged before the next: timestamps follow the production order."""
    producer = kafka.producer(cluster)
    made = []
    for i, partition in enumerate(partitions):
        [(p, offset)] = produce_records(producer, topic, [(f"k{i}".encode(), f"v{i}".encode(), ())], partition, cluster)
        made.append((p, offset))
    return [kafka.Record(topic, p, o, None, None, None, ()) for p, o in made]


# Replication 2 with min.insync.replicas 1: the tests still run while another test stops a broker.
SPARE = {"min.insync.replicas": "1"}
