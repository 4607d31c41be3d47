import time
import uuid

from republish.publish import new_replay_ids


def test_replay_ids_are_time_ordered_version_7_uuids_each_different():
    before = time.time_ns() // 1_000_000
    ids = [uuid.UUID(text) for text in new_replay_ids(10_000)]
    after = time.time_ns() // 1_000_000

    assert len(ids) == 10_000 and len(set(ids)) == 10_000
    assert {replay_id.version for replay_id in ids} == {7}
    assert {replay_id.variant for replay_id in ids} == {uuid.RFC_4122}
    # The first 48 bits are the Unix time in milliseconds (RFC 9562).
    assert all(before <= replay_id.int >> 80 <= after for replay_id in ids)
    assert all(str(uuid.UUID(text)) == text for text in new_replay_ids(100))  # canonical text
    assert new_replay_ids(0) == []


def test_replay_ids_made_later_sort_after_earlier_ones():
    earlier = new_replay_ids(100)
    time.sleep(0.002)
    later = new_replay_ids(100)

    assert max(earlier) < min(later)
