from __future__ import annotations

from django.contrib.auth.models import User


def test_a_staff_user_logs_in_and_sees_the_portal(db, live_server, page, log_in):
    User.objects.create_superuser("ops-admin", "ops@example.com", "correct horse battery")

    log_in("ops-admin", "correct horse battery")

    assert page.title().startswith("Cluster mirror and dead letters")
    assert "Billing Kafka operations" in page.inner_text("#site-name")


def test_a_wrong_password_is_refused(db, live_server, page):
    User.objects.create_superuser("ops-admin", "ops@example.com", "correct horse battery")

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "ops-admin")
    page.fill("#id_password", "wrong")
    page.click("input[type=submit]")

    assert "Please enter the correct username and password" in page.inner_text(".errornote")
