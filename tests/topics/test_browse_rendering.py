"""How messages are shown: decoded headers, JSON, text and hex values, cut values and their download."""

from __future__ import annotations

import json

import pytest

from opsportal import kafka
from opsportal.kafka.testing import produce_records
from topics.models import BrowseLog

from .browse_support import SPARE, browse_url, get

pytestmark = pytest.mark.django_db

BIG = b"A" * (300 * 1024) + b"the end"


@pytest.fixture
def varied(make_topic, cluster):
    topic = make_topic(1, 2, SPARE, prefix="browse")
    event = {"eventId": "ev-1", "aggregateId": "acc_42", "payload": {"amount": "100.00"}}
    billing = [("x-error-type", b"InsufficientFundsError"), ("x-original-partition", b"12345678")]
    spring = [
        ("kafka_dlt-original-partition", (3).to_bytes(4, "big")),
        ("kafka_dlt-original-offset", (12345678).to_bytes(8, "big")),
        ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
    ]
    records = [
        (b"acc_42", json.dumps(event).encode(), billing),
        (b"acc_43", "plain text café".encode(), spring),
        (b"\x00\x01", bytes(range(256)), [("meta", b'{"a":1}')]),
        (b"big", BIG, None),
    ]
    produce_records(kafka.producer(cluster), topic, records, 0, cluster)
    return topic


def test_values_are_json_text_or_hex_and_headers_are_decoded_by_family(admin_client, varied):
    page = get(admin_client, browse_url(topic=varied, start="oldest"))

    assert "&quot;eventId&quot;: &quot;ev-1&quot;,\n" in page  # pretty-printed
    assert 'class="value value-json"' in page and 'class="value value-text"' in page
    assert "plain text café" in page
    assert "00000000  00 01 02 03" in page and 'class="value value-hex"' in page
    # Billing's x-original-partition is decimal text; Spring's are big-endian ints.
    assert "<strong>x-original-partition</strong>: <span>12345678</span>" in page
    assert "<strong>kafka_dlt-original-partition</strong>: <span>3</span>" in page
    assert "<strong>kafka_dlt-original-offset</strong>: <span>12345678</span>" in page
    assert "UTC</td>" in page


def test_a_value_over_256_kib_is_cut_with_a_note_and_downloads_whole(admin_client, varied):
    page = get(admin_client, browse_url(topic=varied, start="offset", offset=3))

    assert "Cut: the first 256 KiB of 300.0\xa0KB shown." in page
    assert "the end" not in page
    response = admin_client.get(f"/admin/topics/topic/messages/download/?topic={varied}&partition=0&offset=3")
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content]) == BIG
    assert response["Content-Disposition"] == f'attachment; filename="{varied}-0-3.bin"'
    assert BrowseLog.objects.filter(action="download", topic=varied).exists()


def test_downloading_a_missing_offset_says_so(admin_client, varied):
    response = admin_client.get(f"/admin/topics/topic/messages/download/?topic={varied}&partition=0&offset=99")
    assert response.status_code == 404
    assert "has no message at offset 99" in response.content.decode()
