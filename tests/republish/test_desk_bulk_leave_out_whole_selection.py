"""Leaving flagged records out holds for the whole selection: past the rows the page checks,
for a keyless record whose original topic does not exist, and never by guess when Kafka's
metadata does not answer at submit; a chosen target topic does not pre-tick a missing topic."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.messages import ERROR

from opsportal import kafka
from republish import safety
from republish.models import ReplayJob
from tests.deadletter.desk_support import store

from . import test_desk_bulk_leave_out as leave_out
from .conftest import billing_event, billing_headers
from .test_desk_bulk_leave_out import confirm, submit

selection = leave_out.selection  # the fixture: three clean records, one without a topic, a duplicate

pytestmark = pytest.mark.django_db


def test_a_metadata_failure_at_submit_refuses_the_job_instead_of_sending_missing_topics(
    selection, operator_client, monkeypatch
):
    gone = store(20, b"acc_20", billing_event("acc_20", "evt-20"), billing_headers("test.gone-topic-xyz", 0, 20))
    confirmation = confirm(operator_client)
    assert gone.pk in next(f.ids for f in confirmation.context["offered"] if f.kind == "no_topic")

    def down(*args, **kwargs):
        raise kafka.KafkaClientError("all brokers down")

    # Replaced where the safety checks read it only: the form's topic list reads Kafka too.
    monkeypatch.setattr(safety, "kafka", SimpleNamespace(list_topics=down, KafkaClientError=kafka.KafkaClientError))
    done = submit(operator_client, confirmation, leave_out=["no_topic"])

    assert not ReplayJob.objects.exists()
    [message] = list(done.context["messages"])
    assert message.level == ERROR
    assert "the records to leave out are not known" in message.message and "all brokers down" in message.message


def test_records_flagged_past_the_rows_checked_are_left_out_too(selection, operator_client, monkeypatch):
    monkeypatch.setattr(safety, "BULK_MAX_CHECKED", 4)  # the three clean ones and the one without a topic
    confirmation = confirm(operator_client)
    assert "1 record among the first 4 checked (the job leaves out every one of the 6)" in confirmation.content.decode()
    assert "already_republished" not in {finding.kind for finding in confirmation.context["offered"]}

    submit(operator_client, confirmation, leave_out=["no_topic", "already_republished"])

    job = ReplayJob.objects.get()
    assert sorted(job.record_ids) == sorted(row.pk for row in selection["clean"])


def test_a_keyless_record_whose_original_topic_does_not_exist_is_flagged(selection, operator_client):
    keyless = store(21, None, billing_event("acc_21", "evt-21"), billing_headers("test.gone-topic-xyz", 0, 21))

    page = confirm(operator_client)

    no_topic = next(f for f in page.context["offered"] if f.kind == "no_topic")
    assert keyless.pk in no_topic.ids and no_topic.count == 2


def test_a_chosen_target_topic_does_not_pre_tick_a_missing_original_topic(selection, operator_client):
    topic = selection["clean"][0].original_topic

    html = confirm(operator_client, data={"target_topic": topic}).content.decode()

    assert '<input type="checkbox" name="leave_out" value="no_topic">' in html
    assert '<input type="checkbox" name="leave_out" value="already_republished" checked>' in html


def test_the_job_note_names_only_the_kinds_that_left_records_out(selection, operator_client):
    confirmation = confirm(operator_client)

    submit(operator_client, confirmation, leave_out=["no_topic", "failed_again", "partition_mismatch"])

    outcome = ReplayJob.objects.get().audit_entries.get().outcome
    assert "left out 1 flagged record(s): original topic missing)" in outcome
