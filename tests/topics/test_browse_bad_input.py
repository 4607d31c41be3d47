"""Every bad input is a clear message on the page, never a 500."""

from __future__ import annotations

import uuid

import pytest

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from tests.conftest import wait_for_topic

from .browse_support import SPARE, browse_url, error, get, search_url

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def topic(cluster, django_db_blocker):
    name = f"browse.bad-input-{uuid.uuid4().hex[:8]}"
    assert kafka.create_topics([kafka.NewTopicSpec(name, 2, 2, SPARE)], cluster) == {}
    wait_for_topic(cluster, name, 2)
    produce_records(kafka.producer(cluster), name, [(b"k", b"v", ())] * 5, 0, cluster)
    yield name
    kafka.delete_topics([name], cluster)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "offset", "offset": "-1"}, "Offset '-1' is not a whole number of 0 or more."),
        ({"start": "offset", "offset": "abc"}, "Offset 'abc' is not a whole number of 0 or more."),
        ({"start": "offset", "offset": "9" * 30}, "is larger than any Kafka offset"),
        ({"start": "offset", "offset": "9223372036854775808"}, "is larger than any Kafka offset"),
        ({"start": "time", "at": "1960-05-01T00:00"}, "is before 1970"),
        ({"start": "time", "at": "yesterday"}, "'yesterday' is not a date-time"),
        ({"start": "time", "at": "99999-01-01"}, "is not a date-time"),
        ({"partition": "7"}, "Partition '7' does not exist: this topic has partitions 0 to 1."),
        ({"partition": "-1"}, "Partition '-1' does not exist"),
        ({"start": "sideways"}, "Start 'sideways' is not one of"),
        ({"dir": "forward", "pos": "0:5,9:1"}, "Position '9:1' names no partition of this topic."),
        ({"dir": "forward", "pos": "0:x"}, "Offset 'x' is not a whole number"),
    ],
)
def test_bad_browse_input_is_a_message(admin_client, topic, params, message):
    page = get(admin_client, browse_url(topic=topic, **params))
    assert message in error(page)


@pytest.mark.parametrize("name", ["bad name!", "a" * 250, "..", "", "topic/../x"])
def test_a_name_that_is_not_a_kafka_topic_name_is_a_message(admin_client, name):
    page = get(admin_client, browse_url(topic=name))
    assert "is not a Kafka topic name" in error(page)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kind": "key", "value": ""}, ""),  # an empty form: nothing searched, no error
        ({"kind": "field", "value": "x"}, "Enter the JSON field to search"),
        ({"kind": "regex", "value": "x"}, "Choose what to search by"),
        ({"kind": "key", "value": "x", "pos": "0:1", "scanned": "-3"}, "Offset '-3' is not a whole number"),
    ],
)
def test_bad_search_input_is_a_message(admin_client, topic, params, message):
    page = get(admin_client, search_url(topic=topic, **params))
    assert error(page) == message or message in error(page)


def test_an_offset_beyond_the_end_on_one_partition_clamps_with_a_note(admin_client, topic):
    page = get(admin_client, browse_url(topic=topic, partition=1, start="offset", offset=10**18))
    assert "Partition 1: offset 1000000000000000000 is outside 0–0" in page
