"""Writing records: produce now, learn each record's fate later."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import confluent_kafka

from opsportal.kafka.clients import ClusterSettings, Producer, cluster_settings
from opsportal.kafka.consume import Headers
from opsportal.kafka.errors import KafkaClientError, translate_error, translated


class OutgoingRecord(NamedTuple):
    """A tuple: a bulk republish makes one per record, and a frozen dataclass costs several times more."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    partition: int | None = None  # None: the producer's partitioner (murmur2, as Java) decides


class Delivery(NamedTuple):
    partition: int | None
    offset: int | None
    error: KafkaClientError | None = None
    # False only when the broker certainly did not write it; a timeout or a lost
    # connection may have written it, so the caller must not simply retry.
    maybe_written: bool = True


# Errors after which the record is certainly not in the log.
NOT_WRITTEN_CODES = {
    confluent_kafka.KafkaError.NOT_ENOUGH_REPLICAS,
    confluent_kafka.KafkaError.MSG_SIZE_TOO_LARGE,
    confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART,
    confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED,
    confluent_kafka.KafkaError.INVALID_RECORD,
    confluent_kafka.KafkaError.RECORD_LIST_TOO_LARGE,
    confluent_kafka.KafkaError._UNKNOWN_PARTITION,
    confluent_kafka.KafkaError._UNKNOWN_TOPIC,
}


class PendingDeliveries:
    """Records handed to the producer whose acknowledgements may still be on their way.

    A caller can do other work while librdkafka delivers these in the background, then
    `wait()` for exactly these records, unlike `flush()`, which also waits for everything
    produced after them.
    """

    def __init__(self, producer_client: Producer, cluster: ClusterSettings) -> None:
        self._producer = producer_client
        self._cluster = cluster
        self._delivered: dict[int, tuple[Any, Any]] = {}
        self._refused: dict[int, Delivery] = {}
        self.count = 0

    def _on_delivery_of(self, index: int) -> Callable[[Any, Any], None]:
        # Deliveries complete per partition batch, not in produce order; index them.
        return lambda error, message: self._delivered.__setitem__(index, (error, message))

    def add(self, records: Iterable[OutgoingRecord]) -> None:
        producer_client, cluster = self._producer, self._cluster
        with translated("producing", cluster):
            for record in records:
                while True:
                    try:
                        producer_client.produce(
                            record.topic,
                            record.value,
                            record.key,
                            # -1, librdkafka's "unassigned": its partitioner (murmur2, as Java) decides.
                            partition=-1 if record.partition is None else record.partition,
                            headers=record.headers if type(record.headers) is list else list(record.headers),
                            on_delivery=self._on_delivery_of(self.count),
                        )
                        break
                    except BufferError:
                        producer_client.poll(0.1)  # the local queue is full: let deliveries drain it
                    except confluent_kafka.KafkaException as exc:
                        # Refused before it was queued (too large, unknown partition): never written.
                        where = f"producing to {record.topic}[{record.partition}]"
                        error = translate_error(exc, where, cluster)
                        self._refused[self.count] = Delivery(None, None, error, maybe_written=False)
                        break
                self.count += 1
                if self.count % 100 == 0:
                    producer_client.poll(0)

    def wait(self, timeout: float | None = None) -> list[Delivery]:
        """Each record's outcome in produce order; one without a report by the timeout may have been written."""
        deadline = time.monotonic() + (timeout if timeout is not None else self._cluster.request_timeout * 6)
        with translated("producing", self._cluster):
            while len(self._delivered) + len(self._refused) < self.count and time.monotonic() < deadline:
                self._producer.poll(0.05)
        return [
            self._refused.get(index) or _delivery(self._delivered.get(index), self._cluster)
            for index in range(self.count)
        ]


def produce(
    producer_client: Producer, records: Iterable[OutgoingRecord], cluster: ClusterSettings | None = None
) -> PendingDeliveries:
    """Hand records to the producer without waiting: `.wait()` on the result gives each one's Delivery."""
    pending = PendingDeliveries(producer_client, cluster_settings(cluster))
    pending.add(records)
    return pending


def _delivery(outcome: tuple[Any, Any] | None, cluster: ClusterSettings) -> Delivery:
    if outcome is None:
        error = KafkaClientError("no delivery report before the flush timed out; it may have been written")
        return Delivery(None, None, error)
    error, message = outcome
    if error is None:
        return Delivery(message.partition(), message.offset())
    where = f"producing to {message.topic()}[{message.partition()}]"
    return Delivery(
        None, None, translate_error(error, where, cluster), maybe_written=error.code() not in NOT_WRITTEN_CODES
    )
