"""A value that starts like JSON and fails to parse opens laid out one member per line too, its
characters unchanged but for whitespace between tokens, and the refusal of it unchanged names the
parser's line and column in that laid-out text."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from deadletter.models import DeadLetterRecord
from republish.edits import EditRejected, check_edit, editor_text, pretty

MALFORMED = {
    "truncated object": '{"eventId": "e-1", "payload": {"amount": "1834.52", "currency": "CH',
    "trailing garbage": '{"eventId": "e-1", "amount": 12.50} trailing  garbage',
    "unquoted key": '{eventId: "e-1", "payload": {amount: 12.50, note: "a, b: {c}"}}',
    "unclosed string": '{"eventId": "e-1", "note": "said \\"hi\\", then {left  ',
    "stray token": '{"eventId": "e-1" "amount": 12.50, "tags": [1, 2,, 3],}',
    "single quotes": "{'eventId': 'e 7', 'note': 'two  spaces, {one} brace'}",
}


def without_layout(text: str) -> str:
    """The text with whitespace outside strings removed and runs of it between two bare words kept as
    one space; a string runs from a quote (double or single) to the same unescaped quote, or to the end."""
    out: list[str] = []
    quote, escaped, gap = "", False, False
    for char in text:
        if quote:
            out.append(char)
            escaped, quote = (False, quote) if escaped else (char == "\\", "" if char == quote else quote)
        elif char in " \t\r\n":
            gap = True
        else:
            if gap and out and out[-1] not in "[]{},:\"'" and char not in "[]{},:\"'":
                out.append(" ")  # two bare words stay two: `two words` never becomes `twowords`
            out.append(char)
            quote, gap = (char if char in "\"'" else ""), False
    return "".join(out)


def lines_of(text: str) -> list[str]:
    return text.splitlines()


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_json_is_laid_out_one_member_per_line_changing_only_whitespace(text):
    laid_out = pretty(text)

    first_member = lines_of(laid_out)[1]
    assert len(lines_of(laid_out)) >= 3 and first_member.startswith("  ") and "eventId" in first_member, laid_out
    assert without_layout(laid_out) == without_layout(text)
    assert pretty(laid_out) == laid_out  # laid out once for good: the editor's text lays out as itself


def test_strings_and_bare_words_keep_their_whitespace():
    laid_out = lines_of(pretty(MALFORMED["unclosed string"]) + "\n" + pretty(MALFORMED["trailing garbage"]))

    assert '  "note": "said \\"hi\\", then {left  ' in laid_out  # unclosed: kept to the end, spaces and all
    assert laid_out[-1] == "trailing garbage"  # after the outermost bracket: a line of its own, words apart
    assert "  'note': 'two  spaces, {one} brace'" in lines_of(pretty(MALFORMED["single quotes"]))


def test_unclosed_brackets_end_the_text_at_their_depth():
    assert lines_of(pretty(MALFORMED["truncated object"])) == [
        "{",
        '  "eventId": "e-1",',
        '  "payload": {',
        '    "amount": "1834.52",',
        '    "currency": "CH',
    ]


# Valid JSON broken the usual ways: cut short, a stray token put in, a quote dropped.
documents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(alphabet="ab \"'\\,:{}[]\n", max_size=6)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(alphabet="ab '{", max_size=4), inner),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(
    document=documents,
    indent=st.sampled_from([None, 2]),
    cut=st.floats(0, 1),
    stray=st.sampled_from(["x y", "'", '"', "]", ",", "\\"]),
)
def test_broken_json_keeps_every_character_but_whitespace(document, indent, cut, stray):
    text = json.dumps(document, indent=indent)
    at = int(len(text) * cut)
    for broken in (text[:at], text[:at] + stray + text[at:], text[:at] + text[at + 1 :]):
        assert without_layout(pretty(broken)) == without_layout(broken), broken


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_the_unchanged_malformed_value_is_refused_at_its_line_and_column_in_the_editor(text):
    laid_out = pretty(text)
    with pytest.raises(json.JSONDecodeError) as parser:
        json.loads(laid_out)
    where = f"line {parser.value.lineno}, column {parser.value.colno}"

    with pytest.raises(EditRejected, match="unchanged and still malformed JSON") as refused:
        check_edit(text.encode(), [], laid_out.replace("\n", "\r\n"), "[]")  # as a browser posts it

    assert where in str(refused.value) and parser.value.lineno > 1
    assert " at at " not in str(refused.value)  # "Unterminated string starting at line 3, column 11"


@pytest.mark.django_db
def test_the_edit_page_opens_a_malformed_value_laid_out_and_names_its_position_there(operator_client):
    stored = MALFORMED["stray token"].encode()
    record = DeadLetterRecord.objects.create(
        dlq_topic="test.desk-dlq", partition=0, offset=1, key=b"acc_44", value=stored, headers=[],
        original_topic="billing.account.events", original_partition=0, original_offset=1,
    )  # fmt: skip
    url = reverse("admin:deadletter_deadletterrecord_republish_edited", args=[record.pk])

    page = operator_client.get(url)

    shown = page.context["form"].initial["value"]
    assert shown == editor_text(stored) and lines_of(shown)[:3] == [
        "{",
        '  "eventId": "e-1" "amount": 12.50,',
        '  "tags": [',
    ]
    assert "line 2, column 20" in page.context["stored_problem"]  # the missing comma, in the editor's text
    assert "does not parse" in page.content.decode()

    posted = operator_client.post(url, {"target_topic": "", "value": shown.replace("\n", "\r\n"), "headers": "[]"})

    (error,) = posted.context["form"].errors["value"]
    assert "unchanged and still malformed" in error and "line 2, column 20" in error
