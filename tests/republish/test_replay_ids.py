import uuid

from republish.publish import new_replay_ids


def test_replay_ids_are_random_version_4_uuids_each_different():
    ids = [uuid.UUID(text) for text in new_replay_ids(10_000)]

    assert len(ids) == 10_000 and len(set(ids)) == 10_000
    assert {replay_id.version for replay_id in ids} == {4}
    assert {replay_id.variant for replay_id in ids} == {uuid.RFC_4122}
    assert all(str(uuid.UUID(text)) == text for text in new_replay_ids(100))  # canonical text
    assert new_replay_ids(0) == []
