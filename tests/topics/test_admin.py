from __future__ import annotations

import uuid

import pytest
import redis
from django.conf import settings
from django.contrib.admin import site
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from opsportal import kafka
from opsportal.celery import app as celery_app
from tests.conftest import ensure_ops_groups
from topics.models import ConsumerGroup, SyncRun, Topic
from topics.tasks import QUEUED_LOCK, QUEUED_SECONDS, queue_sync, release_queued, sync_cluster_task

from .conftest import topic_ready, wait_for

pytestmark = pytest.mark.django_db

TOPIC_LIST = reverse("admin:topics_topic_changelist")


@pytest.fixture
def many_topics(topic_names, cluster):
    """Create n one-partition topics under one prefix in one request (RF 1 spares the shared cluster)."""

    def make(prefix: str, count: int) -> list[str]:
        names = [topic_names(prefix) for _ in range(count)]
        specs = [kafka.NewTopicSpec(name, 1, 1, {}) for name in names]
        assert kafka.create_topics(specs, cluster) == {}
        wait_for(lambda: all(topic_ready(name, 1, cluster) for name in names[-1:]), what="topics ready")
        # Each call asks a random broker; all of them must know the new topics before a sync.
        wait_for(
            lambda: all(set(names) <= set(kafka.list_topics(cluster)) for _ in range(3)),
            what="all topics listed",
        )
        return names

    return make


def topic_list_queries(admin_client, search: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(TOPIC_LIST, {"q": search})
    assert response.status_code == 200
    return len(queries), response.content.decode().replace("<wbr>", "")  # names may break after their dots


def test_the_topic_list_query_count_does_not_grow_with_the_topics(admin_client, many_topics, sync):
    prefix = f"mirror-qc-{id(admin_client)}"
    first = many_topics(prefix, 5)
    sync()
    small, page = topic_list_queries(admin_client, prefix)
    assert all(name in page for name in first)

    later = many_topics(prefix, 45)
    sync()
    large, page = topic_list_queries(admin_client, prefix)

    assert all(name in page for name in later)
    assert large == small


def test_every_mirror_list_renders_with_its_freshness(admin_client, ready_topic, sync):
    ready_topic()
    sync()
    run = SyncRun.latest_run()

    for model in ("topic", "broker", "consumergroup", "groupoffset", "syncrun"):
        response = admin_client.get(reverse(f"admin:topics_{model}_changelist"))
        page = response.content.decode()
        assert response.status_code == 200, model
        assert "Mirror last synced" in page, model
        assert run.finished_at.strftime("%Y-%m-%d %H:%M:%S") in page, model


def test_a_never_synced_mirror_says_so(admin_client):
    page = admin_client.get(TOPIC_LIST).content.decode()

    assert "has never been synced" in page


def test_the_topic_page_lists_partitions_and_configs_read_only(admin_client, ready_topic, produce, sync):
    name = ready_topic(partitions=2, configs={"retention.ms": "7200000"})
    produce(name, 1, 3)
    sync()
    topic = Topic.objects.get(name=name)

    response = admin_client.get(reverse("admin:topics_topic_change", args=[topic.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    # Overrides first, readable, the raw value beside; Kafka's defaults folded away below.
    assert (
        '<td>retention.ms</td><td class="config-value">2 h <span class="config-raw">(7200000)</span></td>'
        "<td>DYNAMIC_TOPIC_CONFIG</td>" in page
    )
    assert page.index('id="config-overrides"') < page.index('id="config-defaults"')
    assert page.count('class="field-number_link"') >= 2  # one row per partition, its number a link
    assert 'name="_save"' not in page
    assert admin_client.get(reverse("admin:topics_topic_add")).status_code == 403


def test_internal_and_vanished_topics_are_hidden_by_default(admin_client, ready_topic, sync, cluster):
    gone = ready_topic()
    sync()
    assert kafka.delete_topics([gone], cluster) == {}
    wait_for(lambda: gone not in kafka.list_topics(cluster), what=f"{gone} deleted")
    sync()
    internal = Topic.objects.filter(is_internal=True).values_list("name", flat=True).first()
    assert internal, "the cluster has no internal topic (__consumer_offsets) to hide"

    default = admin_client.get(TOPIC_LIST).content.decode().replace("<wbr>", "")
    with_internal = admin_client.get(TOPIC_LIST, {"internal": "all"}).content.decode().replace("<wbr>", "")
    vanished = admin_client.get(TOPIC_LIST, {"vanished": "only", "q": gone}).content.decode().replace("<wbr>", "")

    assert f">{internal}<" not in default and f">{internal}<" in with_internal
    assert f">{gone}<" not in default and f">{gone}<" in vanished


def test_the_group_list_sorts_by_lag(admin_client, admin_user, ready_topic, produce, commit, group_names, sync):
    name = ready_topic()
    produce(name, 0, 9)
    prefix = f"mirror-lagsort-{uuid.uuid4().hex[:6]}"
    small, large = group_names(prefix), group_names(prefix)
    commit(small, {(name, 0): 8})
    commit(large, {(name, 0): 1})
    sync()
    url = reverse("admin:topics_consumergroup_changelist")
    # "o" counts the changelist's columns, the action checkbox included when the list has actions.
    request = RequestFactory().get(url)
    request.user = admin_user
    lag_column = site._registry[ConsumerGroup].get_changelist_instance(request).list_display.index("total_lag")

    descending = admin_client.get(url, {"o": f"-{lag_column}", "q": prefix}).content.decode()
    ascending = admin_client.get(url, {"o": f"{lag_column}", "q": prefix}).content.decode()

    assert descending.index(large) < descending.index(small)
    assert ascending.index(small) < ascending.index(large)
    assert ConsumerGroup.objects.get(group_id=large).total_lag == 9 - 1


@pytest.fixture
def eager_celery():
    """The queued task runs here, for real, instead of on a worker that does not see this test database."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_sync_now_queues_the_sync_and_tells_the_user(admin_client, ready_topic, eager_celery):
    name = ready_topic()

    response = admin_client.post(reverse("admin:topics_topic_sync_now"), follow=True)

    assert response.status_code == 200
    assert "Sync queued" in response.content.decode()
    assert Topic.objects.filter(name=name).exists()
    assert admin_client.get(reverse("admin:topics_topic_sync_now")).status_code == 405


@pytest.fixture
def viewer_client(client, db):
    ensure_ops_groups()
    viewer = User.objects.create_user("mirror-viewer", password="x", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Ops viewer"))
    client.force_login(viewer)
    return client


@pytest.fixture
def queued_lock():
    """The real Redis the portal queues on, with no sync asked for before and none left after."""
    connection = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    connection.delete(QUEUED_LOCK)
    yield connection
    connection.delete(QUEUED_LOCK)


def test_a_second_sync_now_is_refused_while_one_is_queued(viewer_client, queued_lock, monkeypatch):
    queued: list[dict] = []
    monkeypatch.setattr(sync_cluster_task, "delay", lambda **kwargs: queued.append(kwargs))

    first = viewer_client.post(reverse("admin:topics_topic_sync_now"), follow=True).content.decode()
    second = viewer_client.post(reverse("admin:topics_topic_sync_now"), follow=True).content.decode()

    assert "Sync queued" in first
    assert "already queued or running" in second
    assert len(queued) == 1 and queued_lock.exists(QUEUED_LOCK)
    assert 0 < queued_lock.ttl(QUEUED_LOCK) <= QUEUED_SECONDS


def test_the_queued_sync_frees_the_next_request_when_it_ends(queued_lock, ready_topic):
    ready_topic()
    queued: list[dict] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sync_cluster_task, "delay", lambda **kwargs: queued.append(kwargs))
        assert queue_sync() is True
        assert queue_sync() is False

    release_queued("a-token-of-someone-else")
    assert queued_lock.exists(QUEUED_LOCK)
    sync_cluster_task(**queued[0])

    assert not queued_lock.exists(QUEUED_LOCK)
