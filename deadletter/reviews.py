"""Moves of a record's review status that other apps make in bulk, each guarded by the status.

A guarded UPDATE is what keeps two workers from acting on one record: a row whose status
moved meanwhile is simply not matched. On PostgreSQL one statement per call (deadletter.pg);
elsewhere one short UPDATE per record.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from deadletter import pg
from deadletter.models import Review


def claim(claims: Sequence[tuple[int, str]], status: str, allowed: Sequence[str]) -> set[int]:
    """Move each (record id, replay id) to `status` with that replay id where the status is one
    of `allowed`; return the record ids moved. Call inside a transaction."""
    if not claims:
        return set()
    if connection.vendor == "postgresql":
        return pg.claim_reviews(claims, status, allowed)
    return {
        record_id
        for record_id, replay_id in claims
        if Review.objects.filter(pk=record_id, status__in=allowed).update(status=status, replay_id=replay_id)
    }


def settle(outcomes: Sequence[tuple[int, str, str]], expected: str) -> None:
    """Move each (record id, replay id, status) to that status where the Review is still
    `expected` with that replay id (one claimed again since is left alone)."""
    if not outcomes:
        return
    if connection.vendor == "postgresql":
        pg.settle_reviews(outcomes, expected)
        return
    for record_id, replay_id, status in outcomes:
        Review.objects.filter(pk=record_id, replay_id=replay_id, status=expected).update(status=status)
