from __future__ import annotations

import uuid

import pytest
from django.contrib.admin import site
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from opsportal import kafka
from opsportal.celery import app as celery_app
from topics.models import ConsumerGroup, SyncRun, Topic

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
    return len(queries), response.content.decode()


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
    assert "<td>retention.ms</td><td>7200000</td><td>DYNAMIC_TOPIC_CONFIG</td>" in page
    assert page.count('class="field-number"') >= 2  # one row per partition
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

    default = admin_client.get(TOPIC_LIST).content.decode()
    with_internal = admin_client.get(TOPIC_LIST, {"internal": "all"}).content.decode()
    vanished = admin_client.get(TOPIC_LIST, {"vanished": "only", "q": gone}).content.decode()

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
