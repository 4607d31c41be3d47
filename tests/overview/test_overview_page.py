"""The admin's front page is the overview, the app list below it; in Chromium every chart draws
(no console error, no request to another host) and every counted figure links to a list of that many rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from deadletter.models import DeadLetterRecord, Review, Status
from overview import lag

from .conftest import make_group

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def populated(mirror) -> None:
    now = timezone.now()
    for i in range(7):
        DeadLetterRecord.objects.create(
            dlq_topic="billing.dead-letter", partition=0, offset=i, fingerprint="fp-a" if i < 4 else "fp-b",
            original_topic="billing.a", timestamp=now - timedelta(minutes=20 + 200 * i),
        )  # fmt: skip
    Review.objects.filter(record__offset__in=[5, 6]).update(status=Status.IN_REVIEW)
    make_group("billing-ledger", {("billing.a", 0): (0, 120), ("billing.b", 0): (10, 15)})
    make_group("billing-audit", {("billing.a", 0): (0, 40)})
    lag.record(now - timedelta(hours=3))
    lag.record(now)
    lag.downsample(now)


def test_the_index_shows_the_overview_and_keeps_the_app_list(admin_client, populated):
    page = admin_client.get("/admin/").content.decode()
    assert 'id="overview"' in page
    assert 'id="chart-inflow"' in page
    assert "Dead-letter records" in page or "Dead letter records" in page  # the app list
    assert "//cdn" not in page and "https://" not in page.split('id="overview"')[1].split("</div>")[0]


def test_in_chromium_every_chart_draws_and_every_figure_leads_to_its_rows(live_server, page, populated):
    User.objects.create_superuser("ada", password="pw-ada-12345")
    errors: list[str] = []
    foreign: list[str] = []
    # The browser asks for /favicon.ico on its own, which the admin does not serve: not the page's error.
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None,
    )
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None,
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "request", lambda request: foreign.append(request.url) if not request.url.startswith(live_server.url) else None
    )
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "pw-ada-12345")
    page.click("input[type=submit]")
    page.wait_for_selector("#overview", timeout=15_000)
    page.wait_for_selector("#chart-inflow[data-drawn=true]", timeout=15_000)
    sparklines = page.locator("canvas.sparkline")
    assert sparklines.count() == 2
    page.wait_for_function(
        "[...document.querySelectorAll('canvas.sparkline')].every(c => c.dataset.drawn)", timeout=15_000
    )
    # Drawn means pixels: the inflow chart's canvas is not blank.
    assert page.evaluate(
        "(() => { const c = document.getElementById('chart-inflow');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " return d.some(v => v !== 0); })()"
    )
    figures = page.eval_on_selector_all(
        ".overview-figures a[data-count]", "links => links.map(a => [a.href, a.dataset.count, a.textContent.trim()])"
    )
    assert len(figures) >= 10
    checked = 0
    for href, count, label in figures:
        page.goto(href)
        page.wait_for_selector("#changelist, #content-main", timeout=15_000)
        rows = page.locator("#result_list tbody tr").count()
        assert rows == int(count), f"{label}: the overview says {count}, its list has {rows} rows ({href})"
        checked += 1
    assert checked == len(figures)
    assert errors == [], errors
    assert foreign == [], foreign
