"""The Schemas page lists every subject with its versions, latest schema and compatibility."""

from __future__ import annotations

from opsportal.kafka.registry_testing import Schema

from .conftest import PAYMENT_AVRO, PAYMENT_JSON, unused_port


def test_it_lists_every_subject(registry, admin_client):
    registry.register_schema("billing.account.events-value", Schema(PAYMENT_AVRO, "AVRO"))
    registry.register_schema("billing.account.events-value", Schema(PAYMENT_AVRO.replace("EUR", "EUR"), "AVRO"))
    registry.register_schema("billing.saga.events-value", Schema(PAYMENT_JSON, "JSON"))
    registry.set_compatibility("billing.saga.events-value", "FORWARD")
    page = admin_client.get("/admin/schemas/").content.decode()
    assert "billing.account.events-value" in page and "billing.saga.events-value" in page
    assert "BACKWARD (global)" in page and "<td>FORWARD</td>" in page
    assert "PaymentCaptured" in page and "<td>JSON</td>" in page


def test_it_says_the_registry_is_off(settings, admin_client):
    settings.SCHEMA_REGISTRY_URL = None
    assert 'id="registry-off"' in admin_client.get("/admin/schemas/").content.decode()


def test_it_says_the_registry_is_unreachable(settings, admin_client):
    from opsportal.kafka import registry

    settings.SCHEMA_REGISTRY_URL = f"http://127.0.0.1:{unused_port()}"
    registry.reset()
    try:
        page = admin_client.get("/admin/schemas/").content.decode()
    finally:
        registry.reset()
    assert 'id="registry-error"' in page and "unreachable" in page


def test_it_needs_the_topic_view_permission(registry, client, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="x", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/schemas/").status_code == 403
