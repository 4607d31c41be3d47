"""The mirror, the drain, republish and an offset reset over SASL_SSL with only the settings changed."""

from __future__ import annotations

import random
import signal
import subprocess

import pytest
from django.core.management import call_command
from django.db import connection

from deadletter.drain import drain_dead_letter
from deadletter.models import DeadLetterRecord
from opsportal import kafka
from opsportal.kafka.testing import produce_records
from republish import jobs, runner
from republish.models import Replay
from republish.publish import republish
from tests.conftest import database_url_for_children
from tests.deadletter import samples
from tests.deadletter.test_drain_failures import kill_after_batches, manage, stored_per_partition
from tests.republish.conftest import billing_event, billing_headers, read_partition
from topics.models import Topic
from topics.sync import sync_cluster


@pytest.mark.django_db
def test_the_mirror_syncs_over_sasl_ssl(secured, billing_topic, cluster):
    topic = billing_topic(partitions=3)
    produce_records(kafka.producer(cluster), topic, [(b"k", b"v", None)] * 5, partition=1, cluster=cluster)

    result = sync_cluster()

    assert not result.error_messages, result.error_messages
    mirrored = Topic.objects.get(name=topic)
    assert mirrored.partitions.count() == 3
    assert {p.number: p.latest_offset for p in mirrored.partitions.all()} == {0: 0, 1: 5, 2: 0}


@pytest.fixture
def dead_letters(secured, billing_topic, cluster, group_names):
    """Rows drained over SASL_SSL from a billing dead-letter topic, of records on a billing topic."""
    original, dlq = billing_topic(partitions=3), billing_topic(partitions=1)

    def make(count: int) -> list[DeadLetterRecord]:
        events = [(f"acc_{i}".encode(), billing_event(f"acc_{i}")) for i in range(count)]
        originals = produce_records(kafka.producer(cluster), original, [(k, v, ()) for k, v in events], cluster=cluster)
        failed = [(k, v, billing_headers(original, p, o)) for (k, v), (p, o) in zip(events, originals, strict=True)]
        produce_records(kafka.producer(cluster), dlq, failed, cluster=cluster)
        drain_dead_letter(topic=dlq, group_id=group_names("opsportal-sectest"), until_empty=True, timeout=1.0)
        return list(DeadLetterRecord.objects.filter(dlq_topic=dlq).order_by("offset"))

    make.original = original  # type: ignore[attr-defined]
    return make


@pytest.mark.django_db
def test_a_single_republish_lands_over_sasl_ssl(dead_letters, operator, cluster):
    (row,) = dead_letters(1)

    outcome = republish([row], user=operator)

    assert (outcome.republished, outcome.failed, outcome.uncertain) == (1, 0, 0)
    replay = Replay.objects.get(record=row)
    landed = read_partition(cluster, dead_letters.original, replay.target_partition)
    assert [r.value for r in landed if r.offset == replay.offset] == [row.value]


@pytest.mark.django_db(transaction=True)
def test_a_bulk_republish_lands_each_once_over_sasl_ssl(dead_letters, operator, cluster, monkeypatch):
    rows = dead_letters(300)
    monkeypatch.setattr(jobs, "CHUNK_SIZE", 100)
    job = jobs.create_job([row.pk for row in rows], user=operator, target_topic="")

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert (job.state, job.done, job.failed) == ("finished", 300, 0)
    replayed = [
        dict(r.headers).get("x-replayed-from")
        for p in range(3)
        for r in read_partition(cluster, dead_letters.original, p)
    ]
    assert sorted(filter(None, replayed)) == sorted(f"{row.dlq_topic}/0/{row.offset}".encode() for row in rows)


@pytest.mark.django_db
def test_an_offset_reset_applies_over_sasl_ssl(secured, billing_topic, group_names, cluster):
    topic, group = billing_topic(partitions=2), group_names("billing-sectest")
    produce_records(kafka.producer(cluster), topic, [(b"k", b"v", None)] * 6, partition=0, cluster=cluster)
    assert kafka.alter_committed_offsets(group, {(topic, 0): 6}, cluster) == {(topic, 0): None}

    call_command("reset_offsets", group, "--topic", f"{topic}:0", "--to-offset", "2", "--execute")

    assert kafka.committed_offsets([group], cluster)[0][group] == {(topic, 0): 2}


# Transactional: the drain runs in child processes, which get the SASL_SSL environment.
@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_drain_over_sasl_ssl_loses_and_duplicates_nothing(secured, billing_topic, group_names, cluster):
    if connection.vendor != "postgresql":
        pytest.skip("the children share the test database only on PostgreSQL")
    dlq, group, url = billing_topic(partitions=3), group_names("opsportal-sectest"), database_url_for_children()
    event = samples.billing_event(padding=300)
    records = [(f"acc_{i % 97}".encode(), event, samples.billing_headers(offset=i)) for i in range(6000)]
    produce_records(kafka.producer(cluster), dlq, records, cluster=cluster)
    ends, _ = kafka.list_offsets([(dlq, p) for p in range(3)], "latest", cluster)
    drain_args = ("drain_dead_letter", "--topic", dlq, "--group-id", group, "--batch-size", "500", "-v", "2")
    rng = random.Random(7)
    for _ in range(2):
        process = manage(url, *drain_args, stdout=subprocess.PIPE)
        kill_after_batches(process, batches=rng.randint(1, 3), extra_delay=rng.uniform(0, 0.15))
        assert process.returncode == -signal.SIGKILL
    assert manage(url, *drain_args, "--until-empty", stdout=subprocess.DEVNULL).wait(timeout=300) == 0

    assert stored_per_partition(url, dlq) == {p: (end, end, 0, end - 1) for (_, p), end in ends.items()}
    committed, _ = kafka.committed_offsets([group], cluster)
    assert {position: committed[group][position] for position in ends} == ends
