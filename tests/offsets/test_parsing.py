"""Input rules that need no cluster: zones, durations, offsets and scopes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from offsets import reset


def test_a_datetime_with_an_offset_or_z_is_read_in_that_zone():
    assert reset.parse_datetime("2026-01-31T08:00:00.000+01:00") == reset.parse_datetime("2026-01-31T07:00:00Z")
    assert reset.parse_datetime("2026-01-31T07:00:00.000+0000") == 1769842800000


def test_a_datetime_is_exact_to_the_millisecond():
    # Float seconds * 1000 lands one millisecond early for this instant.
    assert reset.parse_datetime("2004-09-23T11:12:53.422Z") == 1095937973422
    assert reset.parse_datetime("1970-01-01T00:00:00.001Z") == 1


@pytest.mark.parametrize("text", ["2026-01-31T08:00:00", "2026-01-31T08:00:00.000"])
def test_a_datetime_without_a_zone_is_refused(text):
    with pytest.raises(reset.ResetError, match="no time zone"):
        reset.parse_datetime(text)


@pytest.mark.parametrize("text", ["yesterday", "2026-02-30T08:00:00Z", "2026-01-31 08:00Z"])
def test_a_malformed_datetime_is_refused(text):
    with pytest.raises(reset.ResetError):
        reset.parse_datetime(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("PT30M", timedelta(minutes=30)), ("P1DT2H", timedelta(days=1, hours=2)), ("pt1.5s", timedelta(seconds=1.5))],
)
def test_iso_durations_parse_like_javas_duration(text, expected):
    assert reset.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["1969-12-31T23:59:59.999Z", "1970-01-01T00:30:00+01:00", "0001-01-01T00:00:00Z"])
def test_a_datetime_before_the_epoch_is_refused_not_read_as_latest_or_earliest(text):
    with pytest.raises(reset.ResetError, match="before 1970"):
        reset.parse_datetime(text)


@pytest.mark.parametrize("text", ["P21000D", "P800000D", "P999999999D", "P1000000000D", "PT99999999999999999999H"])
def test_a_duration_reaching_back_before_the_epoch_is_refused(text):
    with pytest.raises(reset.ResetError, match="before 1970"):
        reset.parse_duration(text)


@pytest.mark.parametrize("text", ["P", "PT", "P1DT", "6h", "PT-6H", "P1W", "PT0S", "P1.5D"])
def test_a_malformed_or_non_positive_duration_is_refused(text):
    with pytest.raises(reset.ResetError):
        reset.parse_duration(text)


def test_scope_is_all_topics_or_topics_never_both_nor_neither():
    with pytest.raises(reset.ResetError):
        reset.Scope.parse(["t"], all_topics=True)
    with pytest.raises(reset.ResetError):
        reset.Scope.parse([], all_topics=False)
    assert str(reset.Scope.parse(["t:2,0", "u"])) == "t:0,2 u"


@pytest.mark.parametrize("arg", ["t:x", "t:-1", ":0"])
def test_a_bad_topic_argument_is_refused(arg):
    with pytest.raises(reset.ResetError):
        reset.Scope.parse([arg])


def test_to_offset_refuses_a_negative_offset_but_shift_by_may_go_back():
    with pytest.raises(reset.ResetError, match="negative"):
        reset.ResetSpec.build("g", reset.Scope(all_topics=True), "to-offset", "-1")
    assert reset.ResetSpec.build("g", reset.Scope(all_topics=True), "shift-by", "-5").value == "-5"
