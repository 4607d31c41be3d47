"""The headers the portal adds to every record it republishes, named once for every app: republish
writes them, the drain reads them back from a record that fails again, the message browser links them."""

REPLAY_ID = "x-replay-id"
REPLAYED_FROM = "x-replayed-from"  # "dead-letter topic/partition/offset"
REPLAY_COUNT = "x-replay-count"
REPLAYED_BY = "x-replayed-by"
REPLAY_HEADERS = (REPLAY_ID, REPLAYED_FROM, REPLAY_COUNT, REPLAYED_BY)
