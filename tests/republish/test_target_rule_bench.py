"""Benchmark topics are never offered as republish targets, like test topics (no Kafka)."""

from __future__ import annotations

import pytest

from republish.forms import offered_as_target


@pytest.mark.parametrize("name", ["bench.confirm-1a2b", "bench-load", "BENCH.x", "test.x"])
def test_bench_and_test_topics_are_not_offered(name: str) -> None:
    assert not offered_as_target(name)


def test_a_billing_topic_is_still_offered() -> None:
    assert offered_as_target("billing.account.events")
