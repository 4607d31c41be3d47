"""The overview's dead-letter chart without Kafka: it starts where the data does (at least a day
shown) and its legend names errors by type and message shape, not by fingerprint hash."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from deadletter.models import DeadLetterRecord
from overview import figures
from tests.browser.conftest import browser, page  # noqa: F401 - the browser fixtures

NOW = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
HOUR = NOW.replace(minute=0)


@pytest.mark.django_db
def test_a_burst_in_the_last_hour_is_not_a_sliver_of_a_week() -> None:
    per_hour: Counter[tuple[datetime, str]] = Counter({(HOUR, "aaaa"): 3000, (HOUR - timedelta(hours=1), "bbbb"): 5})

    chart = figures.inflow(NOW, per_hour)

    assert len(chart["labels"]) == figures.INFLOW_MIN_HOURS
    assert chart["labels"][-1] == HOUR.strftime("%m-%d %H:00")
    assert "last 24 hours" in chart["title"]
    assert sum(sum(d["data"]) for d in chart["datasets"]) == 3005


@pytest.mark.django_db
def test_older_data_widens_the_chart_up_to_the_week() -> None:
    per_hour: Counter[tuple[datetime, str]] = Counter({(HOUR - timedelta(days=3), "aaaa"): 1, (HOUR, "aaaa"): 1})

    chart = figures.inflow(NOW, per_hour)

    assert len(chart["labels"]) == 3 * 24 + 1
    assert "last 4 days" in chart["title"]
    assert len(figures.inflow(NOW, Counter())["labels"]) == figures.INFLOW_MIN_HOURS


@pytest.mark.django_db
def test_the_legend_names_the_error_not_the_hash() -> None:
    DeadLetterRecord.objects.create(
        dlq_topic="billing.dead-letter",
        partition=0,
        offset=1,
        error_type="com.example.billing.InvalidAmountException",
        fingerprint="1ed4a90e0f0c9f8e",
        fingerprint_text="amount <n> is below the minimum for account <id>",
    )
    per_hour: Counter[tuple[datetime, str]] = Counter({(HOUR, "1ed4a90e0f0c9f8e"): 7, (HOUR, "unknownfp"): 1})

    datasets = {d["fingerprint"]: d["label"] for d in figures.inflow(NOW, per_hour)["datasets"]}

    label = datasets["1ed4a90e0f0c9f8e"]
    assert label.startswith("InvalidAmountException: amount <n> is below the minimum")  # the class, not its package
    assert len(label) <= figures.FINGERPRINT_LABEL_CHARS and label.endswith("…")
    assert datasets["unknownfp"] == "unknownfp"  # no record to name it by: the hash, as before
    assert datasets["other"].startswith("other")


@pytest.mark.django_db(transaction=True)
def test_in_chromium_the_overview_uses_the_width_at_1440_px(live_server, page) -> None:  # noqa: F811
    now = timezone.now()
    for i in range(30):
        DeadLetterRecord.objects.create(
            dlq_topic="billing.dead-letter", partition=0, offset=i, fingerprint=f"fp{i % 3}",
            error_type="com.example.BadEvent", fingerprint_text=f"field <n> of shape {i % 3}",
            original_topic="billing.a", timestamp=now - timedelta(minutes=5 + 40 * i),
        )  # fmt: skip
    User.objects.create_superuser("ada", password="pw-ada-12345")
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "pw-ada-12345")
    page.click("input[type=submit]")
    page.wait_for_selector("#chart-inflow[data-drawn=true]", timeout=15_000)

    assert page.evaluate("document.getElementById('overview').getBoundingClientRect().width") > 1000
    assert page.evaluate("document.getElementById('chart-inflow').getBoundingClientRect().width") > 1000
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    if os.environ.get("LAYOUT_SCREENSHOTS"):
        page.screenshot(path=f"{os.environ['LAYOUT_SCREENSHOTS']}/overview-1440.png")


def test_the_charts_time_axis_says_its_zone(db) -> None:
    assert figures.inflow(timezone.now())["axis"] == "hour starting (UTC)"
