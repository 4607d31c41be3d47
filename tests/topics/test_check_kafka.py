"""check_kafka on the real cluster (PLAINTEXT, where the local user may do everything)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from topics import access
from topics.spec import TopicSpec


def test_a_missing_topic_is_one_line_that_says_how_to_create_it(monkeypatch, make_topic, topic_names, capsys):
    present = make_topic(partitions=1, prefix="checktest.present")
    missing = topic_names("checktest.missing")  # named, never created
    monkeypatch.setattr(access, "TOPICS", (TopicSpec(present, 1), TopicSpec(missing, 1)))

    with pytest.raises(CommandError, match=r"^1 of \d+ operations refused$"):
        call_command("check_kafka")

    lines = capsys.readouterr().out.splitlines()
    about_missing = [line for line in lines if missing in line]
    assert about_missing == [
        f"REFUSED  DESCRIBE/DESCRIBE_CONFIGS/READ/WRITE topic {missing} (mirror: partitions and offsets; "
        "mirror: topic configs; message browser, republish scan; republish): the topic does not exist "
        "(`manage.py ensure_topics` creates the billing topics)"
    ]
    assert f"ok       READ topic {present} (message browser, republish scan)" in lines
