"""A refused offset commit (a group the portal may not commit for) ends the drain with that error, never a hang."""

from __future__ import annotations

import threading

import pytest

from deadletter.drain import drain_dead_letter
from deadletter.models import DeadLetterRecord
from opsportal import kafka
from tests.deadletter import samples

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_refused_commit_reaches_the_caller(cluster, dlq_topic, group_id, produce, monkeypatch):
    produce(dlq_topic, [(b"acc_42", samples.billing_event(), samples.billing_headers(offset=i)) for i in range(30)])

    def refuse(*args: object, **kwargs: object) -> None:
        raise kafka.KafkaClientError(
            "committing offsets failed: GROUP_AUTHORIZATION_FAILED", code="GROUP_AUTHORIZATION_FAILED"
        )

    # The one point replaced: the broker's answer to the commit (the real refusal needs ACLs: tests/security).
    monkeypatch.setattr(kafka, "commit_positions", refuse)
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(drain_dead_letter(topic=dlq_topic, group_id=group_id, until_empty=True, timeout=1.0,
                                             batch_size=10, cluster=cluster))  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    drain = threading.Thread(target=run, daemon=True)
    drain.start()
    drain.join(timeout=60)

    assert not drain.is_alive(), "the drain hung after its commit was refused"
    assert isinstance(outcome[0], kafka.KafkaClientError) and "GROUP_AUTHORIZATION_FAILED" in str(outcome[0])
    # Stored before the refusal: a later drain finds them and stores nothing twice.
    assert DeadLetterRecord.objects.filter(dlq_topic=dlq_topic).count() > 0
