"""One browse consumer reads window after window of the same partition (a search's chunks)."""

from __future__ import annotations

from opsportal import kafka
from opsportal.kafka.testing import produce_records


def test_a_second_window_of_a_partition_read_by_the_same_consumer_is_read(cluster, make_topic):
    topic = make_topic(partitions=1)
    produce_records(kafka.producer(cluster), topic, [(b"k", b"v%d" % n, ()) for n in range(40)], cluster=cluster)
    consumer = kafka.browse_consumer(cluster)
    try:
        first = kafka.read_windows(consumer, {(topic, 0): (20, 40)}, 10.0, cluster)
        # A partition left paused by the first window would give this one nothing, however long it waited.
        second = kafka.read_windows(consumer, {(topic, 0): (0, 20)}, 10.0, cluster)
    finally:
        consumer.close()

    assert [r.offset for r in first.records[(topic, 0)]] == list(range(20, 40))
    assert [r.offset for r in second.records[(topic, 0)]] == list(range(0, 20))
    assert (topic, 0) in second.complete
