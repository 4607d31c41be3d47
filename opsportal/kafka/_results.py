"""Waiting for the per-item futures of an admin request."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

from opsportal.kafka.clients import ClusterSettings
from opsportal.kafka.errors import KafkaClientError, KafkaUnavailable, translated

Item = TypeVar("Item")
Key = TypeVar("Key", bound=Hashable)


def wait_each(
    futures: Mapping[Item, Future[Any]],
    describe: Callable[[Item], str],
    cluster: ClusterSettings,
    key: Callable[[Item], Key],
) -> tuple[dict[Key, Any], dict[Key, KafkaClientError]]:
    """(results, failures) by key(item), instead of stopping at the first failure.

    An unreachable cluster still raises: then nothing about any item is known.
    """
    results: dict[Key, Any] = {}
    failures: dict[Key, KafkaClientError] = {}
    for item, future in futures.items():
        try:
            with translated(describe(item), cluster):
                results[key(item)] = future.result(timeout=cluster.request_timeout * 3)
        except KafkaUnavailable:
            raise
        except KafkaClientError as exc:
            failures[key(item)] = exc
    return results, failures


def failures_of(futures: Mapping[Any, Future[Any]], what: str, cluster: ClusterSettings) -> dict[str, KafkaClientError]:
    """Only the failures, by the item's name: for requests whose results carry nothing."""
    return wait_each(futures, lambda item: f"{what} {item}", cluster, key=str)[1]
