"""The edited-republish page of one record: a fixed trailing comma is one removed and one added
line (no stray empty "-" line), and the target choice names that record's original topic."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from deadletter.models import DeadLetterRecord
from republish.edits import check_edit, edit_diff

pytestmark = pytest.mark.django_db

TRAILING_COMMA = b'{"eventId": "e-1", "eventType": "PaymentCaptured", "amount": 12.50,}'


def changed_lines(diff: str) -> list[str]:
    return [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def test_fixing_a_trailing_comma_is_one_removed_and_one_added_line():
    fixed = TRAILING_COMMA.decode().replace("12.50,}", "12.50}")

    diff = check_edit(TRAILING_COMMA, [], fixed, "[]").diff

    assert changed_lines(diff) == ['-  "amount": 12.50,', '+  "amount": 12.50']


def test_text_that_is_not_laid_out_keeps_its_blank_lines():
    assert changed_lines(edit_diff("a\n\nb", "a\nb", [], [], laid_out=False)) == ["-"]


@pytest.fixture
def record(db) -> DeadLetterRecord:
    return DeadLetterRecord.objects.create(
        dlq_topic="test.desk-dlq", partition=0, offset=1, key=b"acc_44", value=TRAILING_COMMA,
        headers=[], original_topic="billing.account.events", original_partition=0, original_offset=1,
    )  # fmt: skip


def test_the_page_of_one_record_names_its_original_topic(record, operator):
    client = Client()
    client.force_login(operator)

    for name in ("republish_edited", "republish"):
        page = client.get(reverse(f"admin:deadletter_deadletterrecord_{name}", args=[record.pk])).content.decode()

        assert '<option value="" selected>its original topic (billing.account.events)</option>' in page, name
        assert "each record" not in page, name
