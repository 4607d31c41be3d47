"""Sign-in: weak passwords refused, repeated failures throttled per user name and per address."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse

LOGIN = reverse("admin:login")


@pytest.mark.parametrize("password", ["password", "12345678", "87654321000", "operator-one"])
def test_common_numeric_and_name_like_passwords_are_refused(password):
    user = User(username="operator-one", first_name="Operator")

    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_a_long_unusual_password_is_accepted():
    validate_password("correct-horse-battery-staple-7", User(username="operator-one"))


def _sign_in(client, username: str, password: str, address: str = "10.0.0.1"):
    data = {"username": username, "password": password, "next": "/admin/"}
    return client.post(LOGIN, data, REMOTE_ADDR=address)


@pytest.mark.django_db
def test_repeated_failures_lock_the_user_name_and_say_how_long_to_wait(client, settings):
    User.objects.create_user("operator-one", password="correct-horse-battery-staple-7", is_staff=True)

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _sign_in(client, "operator-one", "wrong").status_code == 200
    assert _sign_in(client, "operator-one", "wrong").status_code == 429
    locked = _sign_in(client, "operator-one", "correct-horse-battery-staple-7", address="10.0.0.2")

    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Sign-in locked" in page and "Try again in 15 minutes" in page
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_repeated_failures_from_one_address_lock_that_address_for_every_name(client, settings):
    User.objects.create_user("operator-two", password="correct-horse-battery-staple-7", is_staff=True)

    for attempt in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, f"guess-{attempt}", "wrong", address="10.0.0.9")
    from_there = _sign_in(client, "operator-two", "correct-horse-battery-staple-7", address="10.0.0.9")
    from_elsewhere = _sign_in(client, "operator-two", "correct-horse-battery-staple-7", address="10.0.0.10")

    assert from_there.status_code == 429
    assert from_elsewhere.status_code == 302 and from_elsewhere.url == "/admin/"


@pytest.mark.django_db
def test_a_success_before_the_limit_starts_the_count_again(client, settings):
    User.objects.create_user("operator-three", password="correct-horse-battery-staple-7", is_staff=True)

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(client, "operator-three", "wrong")
    assert _sign_in(client, "operator-three", "correct-horse-battery-staple-7").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(client, "operator-three", "wrong")

    assert _sign_in(client, "operator-three", "correct-horse-battery-staple-7").status_code == 302
