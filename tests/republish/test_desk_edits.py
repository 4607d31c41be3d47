"""Edited republish at the review desk (issue 17 item 2, issue 16 item 6): JSON laid out in the
editor, checked with the parser's line and column, a malformed value never offered as it is,
hostile edits refused as form errors, and a diff of changed lines."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from deadletter.models import DeadLetterRecord, Status
from republish.edits import EditRejected, check_edit, editor_text, pretty
from republish.models import Replay

from .conftest import billing_event

pytestmark = pytest.mark.django_db

MALFORMED = b'{"eventId": "e-1", "aggregateId": "acc_44", "payload": {"amount": "1834.52", "currency": "CHF"},}'


def edit_url(row: DeadLetterRecord) -> str:
    return reverse("admin:deadletter_deadletterrecord_republish_edited", args=[row.pk])


@pytest.fixture
def stored(db):
    def store(value: bytes | None, offset: int = 0) -> DeadLetterRecord:
        return DeadLetterRecord.objects.create(
            dlq_topic="test.desk-dlq",
            partition=0,
            offset=offset,
            key=b"acc_44",
            value=value,
            headers=[["traceparent", "MDAtYWJj"]],
            original_topic="test.desk-nowhere",
            original_partition=0,
            original_offset=offset,
        )

    return store


def test_it_lays_out_json_keeping_every_token_as_written():
    text = '{"amount":100.10,"n":1E2,"s":"a, b: {c}\\" d","e":[],"o":{"x":[1,2]}}'

    laid_out = pretty(text)

    assert laid_out.splitlines()[:3] == ["{", '  "amount": 100.10,', '  "n": 1E2,']
    assert '  "s": "a, b: {c}\\" d",' in laid_out.splitlines() and '  "e": [],' in laid_out.splitlines()
    assert json.loads(laid_out) == json.loads(text)


def test_the_editor_lays_out_malformed_json_with_the_parsers_position_in_it(stored, operator_client):
    row = stored(MALFORMED)

    page = operator_client.get(edit_url(row))

    assert page.status_code == 200
    assert page.context["form"].initial["value"] == pretty(MALFORMED.decode())
    assert page.context["form"].initial["value"].splitlines()[7] == "}"  # after the stray comma
    assert "stored value is not valid JSON" in page.context["stored_problem"]
    assert "line 8, column 1" in page.context["stored_problem"]


def test_an_unchanged_malformed_value_is_refused_as_still_malformed_never_offered(stored, operator_client):
    row = stored(MALFORMED)
    data = {"target_topic": "", "value": MALFORMED.decode(), "headers": '[["traceparent", "00-abc"]]'}

    page = operator_client.post(edit_url(row), data)

    assert page.status_code == 200 and page.context["edit"] is None
    (error,) = page.context["form"].errors["value"]
    assert "unchanged and still malformed" in error and "line 1, column 97" in error
    assert b"Yes, republish the edited copy" not in page.content


def test_a_broken_edit_of_json_is_refused_with_line_and_column():
    with pytest.raises(EditRejected, match=r"not valid JSON: Expecting .* at line 3, column 1") as refused:
        check_edit(b'{"a": 1}', [], '{\n  "a": 1\n', "[]")
    assert refused.value.field == "value"


def test_a_fixed_malformed_value_is_accepted_and_sent_compact_as_it_came():
    fixed = MALFORMED.decode().replace("},}", "}}")

    edit = check_edit(MALFORMED, [], fixed, "[]")

    assert edit.value is not None and json.loads(edit.value)["payload"]["amount"] == "1834.52"
    assert b"\n" not in edit.value


def test_the_untouched_laid_out_text_sends_the_stored_bytes_and_crlf_from_a_browser_is_no_change():
    original = billing_event("acc_1", amount="100.10")

    edit = check_edit(original, [], pretty(original.decode()).replace("\n", "\r\n"), "[]")

    assert edit.value == original and "amount" not in edit.diff


def test_the_diff_has_one_line_per_changed_member():
    original = b'{"eventId":"e-1","payload":{"amount":"1.00","currency":"USD"},"metadata":{"sagaId":"s"}}'
    edited = pretty(original.decode()).replace('"1.00"', '"10.00"')

    diff = check_edit(original, [], edited, "[]").diff.splitlines()

    assert [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        '-    "amount": "1.00",',
        '+    "amount": "10.00",',
    ]


@pytest.mark.parametrize(
    ("value", "headers", "field", "message"),
    [
        ("[" * 5000 + "]" * 5000, "[]", "value", "nests deeper"),
        ('{"a": 1}', "[" * 5000 + "]" * 5000, "headers", "nest deeper"),
        ('{"a": "\\ud800"}', "[]", "value", "lone surrogate"),
        ('{"a": 1}', '[["h", "\\ud800"]]', "headers", "lone surrogate"),
    ],
)
def test_hostile_edits_are_form_errors_and_nothing_is_sent(stored, operator_client, value, headers, field, message):
    row = stored(b'{"a": 0}')

    page = operator_client.post(edit_url(row), {"target_topic": "", "value": value, "headers": headers, "post": "yes"})

    assert page.status_code == 200
    assert message in " ".join(page.context["form"].errors[field])
    assert not Replay.objects.exists() and DeadLetterRecord.objects.get(pk=row.pk).status == Status.NEW


def test_a_stored_deeply_nested_value_still_opens_in_the_editor(stored, operator_client):
    deep = b"[" * 5000 + b"]" * 5000
    row = stored(deep)

    page = operator_client.get(edit_url(row))

    assert page.status_code == 200
    assert page.context["form"].initial["value"] == deep.decode() == editor_text(deep)


def test_fixing_a_single_quoted_value_changes_nothing_inside_its_strings():
    # Single quotes: a common malformation. Whitespace inside them is data, never layout.
    stored = b"{'eventId': 'e 7', 'occurredAt': '2026-12-01T09:23:32Z', 'note': 'two  spaces'}"
    laid_out = editor_text(stored)
    assert "  'note': 'two  spaces'" in laid_out.splitlines()

    edit = check_edit(stored, [], laid_out.replace("'", '"'), "[]")

    assert b"\n" not in edit.value  # stored on one line, sent on one line
    assert json.loads(edit.value) == {"eventId": "e 7", "occurredAt": "2026-12-01T09:23:32Z", "note": "two  spaces"}
    assert "-  'occurredAt': '2026-12-01T09:23:32Z'," in edit.diff.splitlines()
