"""Every convention's dead-letter headers are stripped from a replay; the record's own headers stay."""

from __future__ import annotations

import uuid

import pytest

from republish.headers import REPLAY_HEADERS, replay_headers
from tests.deadletter import samples

FAMILIES = [
    samples.billing_headers,
    samples.spring_kafka_headers,
    samples.spring_retry_headers,
    samples.spring_cloud_stream_headers,
    samples.kafka_connect_headers,
    samples.kafka_streams_headers,
    samples.smallrye_headers,
    samples.karafka_headers,
]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.__name__)
def test_every_dead_letter_header_of_the_family_is_stripped(family):
    business = [("traceparent", b"00-abc-01"), ("tenant", None), ("traceparent", b"second")]
    headers = [*business[:1], *family(), *business[1:]]

    replayed = replay_headers(headers, replay_id=uuid.uuid4(), replayed_from="dlq/0/7", replayed_by="olga")

    assert replayed[: len(business)] == business
    assert [name for name, _ in replayed[len(business) :]] == list(REPLAY_HEADERS)
