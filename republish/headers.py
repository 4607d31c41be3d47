"""The headers a republished record carries.

Dead-letter and error headers of every known convention are dropped (the
billing consumers must not see a replay as a failure), the record's own
business headers are kept in order, and four replay headers are added so a
replay can be traced, counted and found again in the target partition.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence

from opsportal.replay_headers import REPLAY_COUNT, REPLAY_HEADERS, REPLAY_ID, REPLAYED_BY, REPLAYED_FROM

Headers = Sequence[tuple[str, bytes | None]]

__all__ = ["REPLAY_HEADERS", "REPLAY_ID", "business_headers", "previous_replay_count", "replay_headers"]

# Every dead-letter/error header family of ../shared/DLQ-CONVENTIONS.md, by prefix.
DEAD_LETTER_PREFIXES = (
    "x-original-",  # billing, Spring Cloud Stream
    "x-error-",  # billing
    "x-exception-",  # Spring Cloud Stream
    "kafka_dlt-",  # Spring Kafka DeadLetterPublishingRecoverer
    "kafka_original-",  # Spring @RetryableTopic
    "kafka_exception-",
    "retry_topic-",
    "__connect.errors.",  # Kafka Connect
    "__streams.errors.",  # Kafka Streams
    "dead-letter-",  # SmallRye
)
DEAD_LETTER_NAMES = frozenset(
    {
        "x-consumer-group",
        "x-failed-at",
        "x-retry-count",
        "source_topic",  # Karafka
        "source_partition",
        "source_offset",
        "source_consumer_group",
    }
)


@functools.lru_cache(maxsize=4096)  # a few names, asked once per header of every replayed record
def is_dead_letter_header(name: str) -> bool:
    return name in DEAD_LETTER_NAMES or name.startswith(DEAD_LETTER_PREFIXES) or name in REPLAY_HEADERS


def business_headers(headers: Headers) -> list[tuple[str, bytes | None]]:
    """The record's own headers: what an edited republish starts from."""
    return [(name, value) for name, value in headers if not is_dead_letter_header(name)]


def previous_replay_count(headers: Headers) -> int:
    """How often this event was replayed before (a replay that failed again carries the count)."""
    for name, value in reversed(headers):
        if name == REPLAY_COUNT and value:
            try:
                return int(value.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                return 0
    return 0


def replay_headers(
    headers: Headers, *, replay_id: uuid.UUID | str, replayed_from: str, replayed_by: str
) -> list[tuple[str, bytes | None]]:
    return business_headers(headers) + [
        (REPLAY_ID, str(replay_id).encode()),
        (REPLAYED_FROM, replayed_from.encode()),
        (REPLAY_COUNT, str(previous_replay_count(headers) + 1).encode()),
        (REPLAYED_BY, replayed_by.encode()),
    ]
