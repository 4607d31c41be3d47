"""The record page as an operator reads it: text values as text, headers that wrap, times with zones."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.deadletter import samples
from tests.deadletter.desk_support import RECORD_PAGE, store

pytestmark = pytest.mark.django_db

# A deserialization failure as Spring dead-letters it: the value is readable UTF-8, not JSON.
MALFORMED = b'{"eventId": "e-1", "aggregateId": "acc_44", "payload": {"amount": "12.00",}}'
STACK = "com.fasterxml.jackson.core.JsonParseException: Unexpected character ('}')\n\tat a.B.c(B.java:1)\n\tat d.E.f"


def page_of(client, row) -> str:
    response = client.get(reverse(RECORD_PAGE, args=[row.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_malformed_json_as_text_with_the_parsers_complaint(admin_client):
    row = store(1, b"acc_44", MALFORMED, samples.spring_kafka_headers())
    page = page_of(admin_client, row)
    assert '<pre class="dl-text">{&quot;eventId&quot;: &quot;e-1&quot;' in page
    assert 'class="dl-hex"' not in page
    assert "Not valid JSON: Expecting property name enclosed in double quotes (line 1, column 75)" in page


def test_it_still_shows_binary_as_hex(admin_client):
    row = store(2, b"\xff\x00", b"\x00\x01\xfe<script>", samples.spring_kafka_headers())
    assert '<pre class="dl-hex">' in page_of(admin_client, row)


def test_a_multi_line_header_is_shown_as_wrapping_text_beside_its_decoded_value(admin_client):
    headers = [*samples.spring_kafka_headers()[:-1], ("kafka_dlt-exception-stacktrace", STACK.encode())]
    page = page_of(admin_client, store(3, b"acc_1", samples.billing_event(), headers))
    table = page.split('<table class="dl-headers">')[1].split("</table>")[0]
    assert "0x636f6d2e" not in table  # not the hex of "com."
    raw_and_decoded = table.split("kafka_dlt-exception-stacktrace</td>")[1].split("</tr>")[0]
    # The same text raw and decoded: shown once, across both columns.
    assert raw_and_decoded.count('<pre class="dl-wrap">com.fasterxml.jackson.core.JsonParseException') == 1
    assert '<td colspan="2" class="dl-same">' in raw_and_decoded
    assert "<th>raw</th><th>decoded</th>" in table
    # Spring's 4-byte partition: raw bytes as hex, decoded as the int.
    assert '<pre class="dl-wrap">0x00000007</pre></td><td><pre class="dl-wrap">7</pre>' in table


def header_cells(page: str, name: str) -> str:
    table = page.split('<table class="dl-headers">')[1].split("</table>")[0]
    return table.split(f"<td>{name}</td>")[1].split("</tr>")[0]


def test_a_plain_text_header_is_shown_once_not_as_raw_and_decoded_twice(admin_client):
    page = page_of(admin_client, store(6, b"acc_1", samples.billing_event(), samples.billing_headers()))
    stack = header_cells(page, "x-error-stack")
    assert stack.count("InsufficientFundsError: balance") == 1
    assert stack.startswith('<td colspan="2" class="dl-same">')
    assert header_cells(page, "x-consumer-group").count("ledger-service") == 1


def test_an_epoch_milliseconds_timestamp_header_is_also_shown_as_a_date_with_its_zone(admin_client):
    page = page_of(admin_client, store(7, b"acc_1", samples.billing_event(), samples.billing_headers()))
    cells = header_cells(page, "x-original-timestamp")
    assert '<pre class="dl-wrap">1764000000000</pre>' in cells
    assert '<pre class="dl-wrap">1764000000000 = 2025-11-24 16:00:00 UTC</pre>' in cells


def test_no_for_failed_again_is_quiet_and_times_carry_their_zone(admin_client):
    page = page_of(admin_client, store(4, b"acc_1", samples.billing_event(), samples.spring_kafka_headers()))
    assert '<span class="dl-no">No</span>' in page and "icon-no.svg" not in page
    # kafka_dlt-original-timestamp is 1764000000123 ms: a date, with the raw figure beside it.
    assert "2025-11-24 16:00:00 UTC" in page and "(1764000000123 ms since the epoch)" in page
    assert "2025-11-24 16:00:00 UTC" in page  # the record's own timestamp, 1764000000004 ms


def test_discard_and_republish_forms_show_a_form_error_once(admin_client):
    row = store(5, b"acc_1", samples.billing_event(), samples.billing_headers())
    response = admin_client.post(reverse(RECORD_PAGE, args=[row.pk]), {"status": "republished", "notes": ""})
    page = response.content.decode()
    assert page.count("Select a valid choice. republished is not one of the available choices.") == 1
