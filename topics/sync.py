"""Mirror the cluster into the database: the one function behind the command, the beat job and "Sync now".

Everything is read from Kafka first, in a handful of batched admin requests
that are all in flight together; only then is the mirror written, inside one transaction, so a reader never sees
half a sync and an unreachable cluster (KafkaUnavailable) leaves the database
untouched. Diffs are computed in Python against the rows already stored, and
only new or changed rows are written: an unchanged re-sync of 20,000
partitions compares tuples (JSON columns as their stored text) and runs a few
reads and a few UPDATE statements.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models.functions import Cast
from django.utils import timezone

from opsportal import cyclic_gc, kafka
from opsportal.kafka import Position

from .models import Broker, ConsumerGroup, GroupOffset, Partition, SyncRun, Topic

# SQLite refuses statements with too many parameters; pk lists are written in slices.
CHUNK = 500
# SyncRun rows older than this are pruned; the beat job writes one every 30 s.
SYNC_RUN_RETENTION = timedelta(days=2)
MAX_STORED_ERRORS = 100
# Admin clients reading topic configs side by side (see _read_configs).
CONFIG_READERS = 3


@dataclass
class ClusterSnapshot:
    """What one sync read from Kafka, before any database write."""

    brokers: list[kafka.BrokerInfo]
    topics: dict[str, kafka.TopicInfo]
    configs: dict[str, dict[str, tuple[str | None, str]]]
    earliest: dict[Position, int]
    latest: dict[Position, int]
    group_ids: list[str]
    groups: dict[str, kafka.GroupInfo]
    committed: dict[str, dict[Position, int]]
    group_errors: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    vanished: int = 0
    errors: int = 0
    duration: float = 0.0
    error_messages: list[str] = field(default_factory=list)
    brokers: int = 0
    topics: int = 0
    partitions: int = 0
    groups: int = 0

    def add(self, created: int = 0, updated: int = 0, vanished: int = 0) -> None:
        self.created += created
        self.updated += updated
        self.vanished += vanished

    def summary(self) -> str:
        return (
            f"Synced {self.brokers} brokers, {self.topics} topics, {self.partitions} partitions, "
            f"{self.groups} consumer groups in {self.duration:.2f} s: created {self.created}, "
            f"updated {self.updated}, vanished {self.vanished}, errors {self.errors}"
        )


def sync_cluster(cluster: kafka.ClusterSettings | None = None) -> SyncResult:
    """Read the whole cluster, then write the mirror. Raises KafkaUnavailable before any write."""
    started = time.monotonic()
    with cyclic_gc.paused():
        snapshot = read_cluster(cluster)
        now = timezone.now()
        result = SyncResult(error_messages=list(snapshot.errors))
        with transaction.atomic():
            write_mirror(snapshot, now, result)
            result.errors = len(result.error_messages)
            result.duration = time.monotonic() - started
            _record_run(result, now)
    return result


# --- reading -------------------------------------------------------------------


def read_cluster(cluster: kafka.ClusterSettings | None = None) -> ClusterSnapshot:
    cluster = kafka.cluster_settings(cluster)
    admin = kafka.admin_client(cluster)
    # The reads do not depend on each other (but for the topic names): awaited one after the
    # other they cost the sum of their round trips, in flight together about the longest
    # (describe_configs). The AdminClient is thread-safe and waits with the GIL released.
    with concurrent.futures.ThreadPoolExecutor(3 + CONFIG_READERS, thread_name_prefix="sync-read") as pool:
        groups_read = pool.submit(_read_groups, cluster, admin)
        brokers_read = pool.submit(kafka.describe_brokers, cluster)
        config_clients = [admin] + [kafka.admin_client(cluster) for _ in range(CONFIG_READERS - 1)]
        # On a dead cluster this fails first and cleanly as KafkaUnavailable (the pool's
        # requests time out alongside it).
        topics = kafka.list_topics(cluster, admin=admin)
        positions = [(topic.name, p.number) for topic in topics.values() for p in topic.partitions]
        configs_read = _read_configs(pool, list(topics), cluster, config_clients)
        earliest_read = pool.submit(kafka.list_offsets, positions, "earliest", cluster, admin=admin)
        latest, latest_failures = kafka.list_offsets(positions, "latest", cluster, admin=admin)
        earliest, earliest_failures = earliest_read.result()
        configs, config_failures = configs_read()
        group_ids, groups, committed, group_failures = groups_read.result()
        brokers = brokers_read.result()

    group_errors = {gid: str(exc) for gid, exc in group_failures.items()}
    errors = [f"topic {name}: {exc}" for name, exc in config_failures.items()]
    errors += [f"{t}[{p}]: {exc}" for (t, p), exc in (earliest_failures | latest_failures).items()]
    errors += [f"group {gid}: {message}" for gid, message in group_errors.items()]
    return ClusterSnapshot(
        brokers, topics, configs, earliest, latest, group_ids, groups, committed, group_errors, errors
    )


def _read_configs(
    pool: concurrent.futures.Executor, names: list[str], cluster: kafka.ClusterSettings, clients: list[Any]
) -> Callable[[], tuple[dict, dict]]:
    """Start describing every topic's configs in one slice per client; returns what awaits them all.

    A broker answers one connection's requests one at a time, and 2,000 topics' configs are the
    longest read of a sync; separate clients land on separate connections (and brokers).
    """
    slices = [
        pool.submit(kafka.describe_topic_configs, names[index :: len(clients)], cluster, admin=client)
        for index, client in enumerate(clients)
    ]

    def wait() -> tuple[dict, dict]:
        configs, failures = {}, {}
        for done in slices:
            configs_part, failures_part = done.result()
            configs.update(configs_part)
            failures.update(failures_part)
        return configs, failures

    return wait


def _read_groups(cluster: kafka.ClusterSettings, admin: Any) -> tuple[list[str], dict, dict, dict]:
    """(group ids, descriptions, committed offsets, failures by group)."""
    group_ids = kafka.list_group_ids(cluster, admin=admin)
    groups, describe_failures = kafka.describe_groups(group_ids, cluster, admin=admin)
    committed, committed_failures = kafka.committed_offsets(group_ids, cluster, admin=admin)
    return group_ids, groups, committed, describe_failures | committed_failures


# --- writing -------------------------------------------------------------------


def write_mirror(snapshot: ClusterSnapshot, now: datetime, result: SyncResult) -> None:
    _write_brokers(snapshot, now, result)
    topic_ids = _write_topics(snapshot, now, result)
    _write_partitions(snapshot, topic_ids, result)
    group_ids = _write_groups(snapshot, now, result)
    _write_group_offsets(snapshot, group_ids, result)


def _existing(
    model: type[Any], key_fields: Sequence[str], fields: Sequence[str], json_fields: Sequence[str] = ()
) -> dict[Any, tuple]:
    """{key: (pk, values)} for every stored row, in one query.

    JSON columns come back as their stored text, not decoded: comparing the text of 40,000
    small lists is far cheaper than decoding them on every sync.
    """
    columns = [Cast(name, models.TextField()) if name in json_fields else name for name in fields]
    rows = model.objects.values_list("pk", *key_fields, *columns)
    width = len(key_fields)
    return {(row[1] if width == 1 else tuple(row[1 : 1 + width])): (row[0], tuple(row[1 + width :])) for row in rows}


def _json_text(value: Any) -> str:
    """The text Django's JSONField stores for a value (tuples become lists, as in the stored JSON)."""
    return json.dumps(value)


def _differs(stored: tuple, new: tuple, json_at: Sequence[int]) -> bool:
    if stored == new:
        return False
    # Different text may still be the same JSON: PostgreSQL's jsonb orders keys its own way.
    return any(
        (json.loads(old) != json.loads(value)) if index in json_at else old != value
        for index, (old, value) in enumerate(zip(stored, new, strict=True))
    )


def _upsert(
    model: type[Any],
    rows: dict[Any, tuple],
    existing: dict[Any, tuple],
    fields: Sequence[str],
    build: Callable[[Any, tuple], models.Model],
    unique_fields: Sequence[str],
    also_update: Sequence[str] = (),
    json_fields: Sequence[str] = (),
) -> tuple[int, int]:
    """Insert new rows and rewrite changed ones in one bulk upsert; unchanged rows are not touched.

    rows holds each row's values of `fields` (JSON ones as text, as _existing gives them), so
    an unchanged sync compares tuples and builds no model instance at all.
    """
    json_at = [fields.index(name) for name in json_fields]
    created = [key for key in rows if key not in existing]
    changed = [key for key, values in rows.items() if key in existing and _differs(existing[key][1], values, json_at)]
    if created or changed:
        model.objects.bulk_create(
            [build(key, rows[key]) for key in created + changed],
            update_conflicts=True,
            unique_fields=list(unique_fields),
            update_fields=[*fields, *also_update],
        )
    return len(created), len(changed)


def _upsert_dicts(
    model: type[Any],
    rows: dict[Any, dict],
    existing: dict[Any, tuple],
    unique_fields: Sequence[str],
    fields: Sequence[str],
    also_update: Sequence[str] = (),
) -> tuple[int, int]:
    """_upsert for the small tables, whose rows are built as whole dicts."""
    values = {key: tuple(row[name] for name in fields) for key, row in rows.items()}
    return _upsert(model, values, existing, fields, lambda key, _: model(**rows[key]), unique_fields, also_update)


def _update_pks(model: type[Any], pks: Iterable[int], **values: Any) -> int:
    pks = list(pks)
    for start in range(0, len(pks), CHUNK):
        model.objects.filter(pk__in=pks[start : start + CHUNK]).update(**values)
    return len(pks)


def _delete_pks(model: type[Any], pks: Iterable[int]) -> int:
    pks = list(pks)
    for start in range(0, len(pks), CHUNK):
        model.objects.filter(pk__in=pks[start : start + CHUNK]).delete()
    return len(pks)


BROKER_FIELDS = ("host", "port", "rack", "is_controller", "is_up")


def _write_brokers(snapshot: ClusterSnapshot, now: datetime, result: SyncResult) -> None:
    existing = _existing(Broker, ["broker_id"], BROKER_FIELDS)
    rows = {
        b.id: {
            "broker_id": b.id,
            "host": b.host,
            "port": b.port,
            "rack": b.rack or "",
            "is_controller": b.is_controller,
            "is_up": True,
            "last_seen": now,
        }
        for b in snapshot.brokers
    }
    result.add(*_upsert_dicts(Broker, rows, existing, ["broker_id"], BROKER_FIELDS, ["last_seen"]))
    Broker.objects.filter(broker_id__in=list(rows)).update(last_seen=now)
    # A stopped broker is not gone from the cluster: it keeps its row, marked down.
    gone = [pk for key, (pk, values) in existing.items() if key not in rows and values[-1]]
    result.add(updated=_update_pks(Broker, gone, is_up=False, is_controller=False))
    result.brokers = len(rows)


TOPIC_FIELDS = (
    "partition_count",
    "replication_factor",
    "is_internal",
    "retention_ms",
    "cleanup_policy",
    "min_insync_replicas",
    "configs",
    "under_replicated_partitions",
    "offline_partitions",
    "approx_messages",
    "vanished_at",
)


def topic_values(info: kafka.TopicInfo, configs: dict, configs_text: str, snapshot: ClusterSnapshot) -> tuple:
    """A topic's TOPIC_FIELDS, configs ({key: (value, source)}) as their JSON text."""

    def value(key: str) -> str:
        return (configs.get(key) or [None])[0] or ""

    messages = 0
    for p in info.partitions:
        first, last = snapshot.earliest.get((info.name, p.number)), snapshot.latest.get((info.name, p.number))
        if first is not None and last is not None:
            messages += max(last - first, 0)
    return (
        len(info.partitions),
        info.replication_factor,
        info.is_internal,
        value("retention.ms"),
        value("cleanup.policy"),
        value("min.insync.replicas"),
        configs_text,
        sum(1 for p in info.partitions if len(p.isr) < len(p.replicas)),
        sum(1 for p in info.partitions if p.leader < 0),
        messages,
        None,  # vanished_at: it is in the cluster
    )


def _write_topics(snapshot: ClusterSnapshot, now: datetime, result: SyncResult) -> dict[str, int]:
    existing = _existing(Topic, ["name"], TOPIC_FIELDS, ["configs"])
    configs_index = TOPIC_FIELDS.index("configs")
    rows = {}
    for name, info in snapshot.topics.items():
        if name in snapshot.configs:
            configs = snapshot.configs[name]
            configs_text = _json_text(dict(sorted(configs.items())))
        else:
            # Its configs could not be read this time (the error is reported): keep the last known.
            configs_text = existing[name][1][configs_index] if name in existing else _json_text({})
            configs = json.loads(configs_text)
        rows[name] = topic_values(info, configs, configs_text, snapshot)

    def build(name: str, values: tuple) -> Topic:
        fields = dict(zip(TOPIC_FIELDS, values, strict=True))
        return Topic(name=name, last_synced=now, **fields | {"configs": json.loads(fields["configs"])})

    result.add(*_upsert(Topic, rows, existing, TOPIC_FIELDS, build, ["name"], ["last_synced"], ["configs"]))
    gone = [pk for name, (pk, values) in existing.items() if name not in rows and values[-1] is None]
    result.add(vanished=_update_pks(Topic, gone, vanished_at=now))
    Topic.objects.filter(vanished_at__isnull=True).update(last_synced=now)
    result.topics = len(rows)
    return {name: pk for name, pk in Topic.objects.values_list("name", "pk") if name in rows}


PARTITION_FIELDS = ("leader", "replicas", "isr", "earliest_offset", "latest_offset", "under_replicated")
PARTITION_JSON = ("replicas", "isr")


def _write_partitions(snapshot: ClusterSnapshot, topic_ids: dict[str, int], result: SyncResult) -> None:
    existing = _existing(Partition, ["topic_id", "number"], PARTITION_FIELDS, PARTITION_JSON)
    # 20,000 partitions share a few replica lists: each one's JSON text is made once.
    texts: dict[tuple[int, ...], str] = {}
    rows = {}
    for name, info in snapshot.topics.items():
        for p in info.partitions:
            replicas = texts.get(p.replicas) or texts.setdefault(p.replicas, _json_text(p.replicas))
            isr = texts.get(p.isr) or texts.setdefault(p.isr, _json_text(p.isr))
            rows[(topic_ids[name], p.number)] = (
                p.leader if p.leader >= 0 else None,
                replicas,
                isr,
                snapshot.earliest.get((name, p.number)),
                snapshot.latest.get((name, p.number)),
                len(p.isr) < len(p.replicas),
            )

    def build(key: tuple[int, int], values: tuple) -> Partition:
        fields = dict(zip(PARTITION_FIELDS, values, strict=True))
        fields.update(replicas=json.loads(fields["replicas"]), isr=json.loads(fields["isr"]))
        return Partition(topic_id=key[0], number=key[1], **fields)

    result.add(*_upsert(Partition, rows, existing, PARTITION_FIELDS, build, ["topic", "number"], (), PARTITION_JSON))
    # Partitions of a topic that is present but smaller now (deleted and re-created) cannot exist any more.
    present = set(topic_ids.values())
    stale = [pk for key, (pk, _) in existing.items() if key[0] in present and key not in rows]
    result.add(updated=_delete_pks(Partition, stale))
    result.partitions = len(rows)


GROUP_FIELDS = ("state", "protocol_type", "member_count", "coordinator", "total_lag", "sync_error", "vanished_at")


def _group_row(group_id: str, snapshot: ClusterSnapshot, previous: tuple | None, now: datetime) -> dict[str, Any]:
    info = snapshot.groups.get(group_id)
    committed = snapshot.committed.get(group_id)
    row: dict[str, Any] = dict(zip(GROUP_FIELDS, previous, strict=True)) if previous else {"total_lag": None}
    if info is not None:
        row.update(
            state=info.state,
            protocol_type=info.protocol_type,
            member_count=len(info.members),
            coordinator=info.coordinator_id,
        )
    else:
        row.setdefault("state", "")
        row.setdefault("protocol_type", "")
        row.setdefault("member_count", 0)
        row.setdefault("coordinator", None)
    if committed is not None:
        row["total_lag"] = sum(lag for _, _, lag in offset_lags(committed, snapshot.latest) if lag is not None)
    row.update(group_id=group_id, sync_error=snapshot.group_errors.get(group_id, ""), vanished_at=None, last_synced=now)
    return row


def offset_lags(
    committed: dict[Position, int], latest: dict[Position, int]
) -> list[tuple[Position, int | None, int | None]]:
    """(position, end offset, lag) as kafka-consumer-groups computes it: end - committed, unclamped."""
    lags = []
    for position, offset in committed.items():
        end = latest.get(position)
        lags.append((position, end, end - offset if end is not None else None))
    return lags


def _write_groups(snapshot: ClusterSnapshot, now: datetime, result: SyncResult) -> dict[str, int]:
    existing = _existing(ConsumerGroup, ["group_id"], GROUP_FIELDS)
    rows = {
        gid: _group_row(gid, snapshot, existing[gid][1] if gid in existing else None, now) for gid in snapshot.group_ids
    }
    result.add(*_upsert_dicts(ConsumerGroup, rows, existing, ["group_id"], GROUP_FIELDS, ["last_synced"]))
    gone = [pk for gid, (pk, values) in existing.items() if gid not in rows and values[-1] is None]
    result.add(vanished=_update_pks(ConsumerGroup, gone, vanished_at=now))
    ConsumerGroup.objects.filter(vanished_at__isnull=True).update(last_synced=now)
    result.groups = len(rows)
    return {gid: pk for gid, pk in ConsumerGroup.objects.values_list("group_id", "pk") if gid in rows}


OFFSET_FIELDS = ("committed_offset", "end_offset", "lag")


def _write_group_offsets(snapshot: ClusterSnapshot, group_pks: dict[str, int], result: SyncResult) -> None:
    existing = _existing(GroupOffset, ["group_id", "topic", "partition"], OFFSET_FIELDS)
    rows = {}
    for gid, committed in snapshot.committed.items():
        if gid not in group_pks:
            continue
        for (topic, partition), end, lag in offset_lags(committed, snapshot.latest):
            rows[(group_pks[gid], topic, partition)] = {
                "group_id": group_pks[gid],
                "topic": topic,
                "partition": partition,
                "committed_offset": committed[(topic, partition)],
                "end_offset": end,
                "lag": lag,
            }
    result.add(*_upsert_dicts(GroupOffset, rows, existing, ["group", "topic", "partition"], OFFSET_FIELDS))
    # Only groups whose offsets were read lose their old rows; a failed group keeps the previous ones.
    read = {group_pks[gid] for gid in snapshot.committed if gid in group_pks}
    stale = [pk for key, (pk, _) in existing.items() if key[0] in read and key not in rows]
    result.add(updated=_delete_pks(GroupOffset, stale))


def _record_run(result: SyncResult, now: datetime) -> None:
    SyncRun.objects.create(
        finished_at=now,
        duration=result.duration,
        created=result.created,
        updated=result.updated,
        vanished=result.vanished,
        errors=result.errors,
        error_messages=result.error_messages[:MAX_STORED_ERRORS],
    )
    SyncRun.objects.filter(finished_at__lt=now - SYNC_RUN_RETENTION).delete()


def sync_group(group_id: str, cluster: kafka.ClusterSettings | None = None) -> None:
    """Refresh one group's mirror rows right after its offsets changed (an offset reset),
    without waiting for the next full sync or touching any other group."""
    admin = kafka.admin_client(kafka.cluster_settings(cluster))
    groups, _ = kafka.describe_groups([group_id], cluster, admin=admin)
    committed_by_group, failures = kafka.committed_offsets([group_id], cluster, admin=admin)
    if group_id in failures:
        raise failures[group_id]
    committed = committed_by_group.get(group_id, {})
    latest, _ = kafka.list_offsets(committed, "latest", cluster, admin=admin)
    now = timezone.now()
    snapshot = ClusterSnapshot([], {}, {}, {}, latest, [group_id], groups, {group_id: committed})
    with transaction.atomic():
        previous = _existing(ConsumerGroup, ["group_id"], GROUP_FIELDS).get(group_id)
        row = _group_row(group_id, snapshot, previous[1] if previous else None, now)
        group, _ = ConsumerGroup.objects.update_or_create(group_id=group_id, defaults=row)
        GroupOffset.objects.filter(group=group).delete()
        GroupOffset.objects.bulk_create(
            GroupOffset(
                group=group,
                topic=topic,
                partition=partition,
                committed_offset=committed[(topic, partition)],
                end_offset=end,
                lag=lag,
            )
            for (topic, partition), end, lag in offset_lags(committed, latest)
        )
