from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings

from .safety import LEAVE_OUT

ORIGINAL = ""


def offered_as_target(name: str) -> bool:
    """A topic a dead letter may be republished to. Never the dead-letter topic (a copy would be
    drained again as a new dead letter), nor Kafka's or a tool's internal topics ("__*", "_*"),
    nor dead-letter, retry or test topics by their usual names: republishing into them is never
    the repair. Billing's own topics (topics.spec) are always offered when they exist."""
    from topics.spec import TOPICS

    if name == settings.DEAD_LETTER_TOPIC:
        return False
    if name in {spec.name for spec in TOPICS}:
        return True
    lowered = name.lower()
    return not (
        lowered.startswith(("_", "test.", "test-", "test_", "bench.", "bench-", "bench_"))
        or lowered.endswith((".dlt", "-dlt", ".dlq", "-dlq", "dead-letter", "dead-letters"))
        or "-retry" in lowered
    )


def target_topic_choices(original: str = "each record's original topic") -> list[tuple[str, str]]:
    """The mirrored topics (live metadata until the first sync has run) that may be a target;
    `original` names the first choice, each record's (or the one record's) original topic."""
    from topics.models import Topic

    names = list(
        Topic.objects.filter(vanished_at__isnull=True, is_internal=False)
        .order_by("name")
        .values_list("name", flat=True)
    )
    if not names:
        from opsportal import kafka

        names = sorted(name for name, topic in kafka.list_topics().items() if not topic.is_internal)
    return [(ORIGINAL, original), *((name, name) for name in names if offered_as_target(name))]


class TargetForm(forms.Form):
    target_topic = forms.ChoiceField(required=False, label="Republish to")

    def __init__(self, *args: Any, original_topic: str | None = None, **kwargs: Any) -> None:
        """`original_topic`: the one record's, when the form republishes one record."""
        super().__init__(*args, **kwargs)
        original = "each record's original topic"
        if original_topic is not None:
            original = f"its original topic ({original_topic})" if original_topic else "its original topic (none)"
        cast(forms.ChoiceField, self.fields["target_topic"]).choices = target_topic_choices(original)


class BulkRepublishForm(TargetForm):
    # Rendered by the confirmation page beside each finding that may be left out, with its count.
    leave_out = forms.MultipleChoiceField(
        required=False,
        choices=[(kind, kind) for kind in LEAVE_OUT],
        widget=forms.CheckboxSelectMultiple,
        label="Leave out the records flagged",
    )
    rate_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=1_000_000,
        label="Rate limit (records per second)",
        help_text="Keeps a large replay from flooding the billing consumers. Blank: no limit.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rate_limit"].initial = settings.REPUBLISH_DEFAULT_RATE_LIMIT


class EditForm(TargetForm):
    value = forms.CharField(widget=forms.Textarea(attrs={"rows": 18, "cols": 100}), required=False, strip=False)
    headers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 100}),
        required=False,
        help_text="A JSON list of [name, value] pairs; dead-letter headers are dropped, replay headers added.",
    )


class DiscardForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), max_length=2000, strip=True)
