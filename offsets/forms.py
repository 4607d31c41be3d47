from __future__ import annotations

from typing import Any

from django import forms

from .reset import ResetError, ResetSpec, ResetType, Scope


class ResetForm(forms.Form):
    group_id = forms.CharField(label="Consumer group", max_length=255)
    all_topics = forms.BooleanField(
        required=False, label="All topics", help_text="Every partition the group has committed offsets for."
    )
    topics = forms.CharField(
        required=False,
        label="Topics",
        help_text="One per line or separated by spaces: T for all its partitions, T:0,2 for some.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    reset_type = forms.ChoiceField(choices=[(t.value, f"--{t.value}") for t in ResetType])
    value = forms.CharField(
        required=False,
        help_text=(
            "to-datetime: 2026-01-31T08:00:00.000+01:00 (zone required); by-duration: PT6H, P1DT2H; "
            "to-offset: N >= 0; shift-by: +N or -N."
        ),
    )

    # The topics the page filled in from the group, sent back unchanged: ticking All topics over
    # them means all topics, while topics the operator typed (or edited) with it stay an error.
    prefilled_topics = forms.CharField(required=False, widget=forms.HiddenInput)

    prefill_ignored = False

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        prefilled = data.get("prefilled_topics", "").split()
        if data.get("all_topics") and prefilled and data.get("topics", "").split() == prefilled:
            data["topics"] = ""
            self.prefill_ignored = True
        try:
            scope = Scope.parse(data.get("topics", "").split(), data.get("all_topics", False))
            data["spec"] = ResetSpec.build(data["group_id"], scope, data["reset_type"], data.get("value"))
        except ResetError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data
