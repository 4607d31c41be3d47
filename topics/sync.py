"""Mirror the cluster into the database: the one function behind the command, the beat job and "Sync now".

Everything is read from Kafka first, in a handful of batched admin requests;
only then is the mirror written, inside one transaction, so a reader never sees
half a sync and an unreachable cluster (KafkaUnavailable) leaves the database
untouched. Diffs are computed in Python against the rows already stored, and
only new or changed rows are written: an unchanged re-sync of 20,000
partitions is a few reads and a few UPDATE statements.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from opsportal import kafka_client
from opsportal.kafka_client import Position

from .models import Broker, ConsumerGroup, GroupOffset, Partition, SyncRun, Topic

# SQLite refuses statements with too many parameters; pk lists are written in slices.
CHUNK = 500
# SyncRun rows older than this are pruned; the beat job writes one every 30 s.
SYNC_RUN_RETENTION = timedelta(days=2)
MAX_STORED_ERRORS = 100


@dataclass
class ClusterSnapshot:
    """What one sync read from Kafka, before any database write."""

    brokers: list[kafka_client.BrokerInfo]
    topics: dict[str, kafka_client.TopicInfo]
    configs: dict[str, dict[str, tuple[str | None, str]]]
    earliest: dict[Position, int]
    latest: dict[Position, int]
    group_ids: list[str]
    groups: dict[str, kafka_client.GroupInfo]
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


def sync_cluster(cluster: kafka_client.ClusterSettings | None = None) -> SyncResult:
    """Read the whole cluster, then write the mirror. Raises KafkaUnavailable before any write."""
    started = time.monotonic()
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


def read_cluster(cluster: kafka_client.ClusterSettings | None = None) -> ClusterSnapshot:
    cluster = kafka_client.cluster_settings(cluster)
    admin = kafka_client.admin_client(cluster)
    # Metadata first: on a dead cluster it fails cleanly as KafkaUnavailable.
    topics = kafka_client.list_topics(cluster, admin=admin)
    brokers = _describe_brokers(cluster)
    configs, config_failures = kafka_client.describe_topic_configs_each(topics, cluster, admin=admin)
    positions = [(topic.name, p.number) for topic in topics.values() for p in topic.partitions]
    offsets = kafka_client.list_offsets_batched(positions, ("earliest", "latest"), cluster, admin=admin)
    (earliest, earliest_failures), (latest, latest_failures) = offsets["earliest"], offsets["latest"]
    group_ids = kafka_client.list_group_ids(cluster, admin=admin)
    groups, describe_failures = kafka_client.describe_groups(group_ids, cluster, admin=admin)
    committed, committed_failures = kafka_client.committed_offsets(group_ids, cluster, admin=admin)

    group_errors = {gid: str(exc) for gid, exc in (describe_failures | committed_failures).items()}
    errors = [f"topic {name}: {exc}" for name, exc in config_failures.items()]
    errors += [f"{t}[{p}]: {exc}" for (t, p), exc in (earliest_failures | latest_failures).items()]
    errors += [f"group {gid}: {message}" for gid, message in group_errors.items()]
    return ClusterSnapshot(
        brokers, topics, configs, earliest, latest, group_ids, groups, committed, group_errors, errors
    )


def _describe_brokers(cluster: kafka_client.ClusterSettings) -> list[kafka_client.BrokerInfo]:
    try:
        return kafka_client.describe_brokers(cluster)
    except concurrent.futures.TimeoutError:
        # describe_brokers waits exactly as long as its request may take, so a slow cluster
        # can surface as a bare TimeoutError instead of the client's own error.
        raise kafka_client.KafkaUnavailable(
            f"Kafka unreachable: describing the cluster timed out on {cluster.bootstrap_servers}."
        ) from None


# --- writing -------------------------------------------------------------------


def write_mirror(snapshot: ClusterSnapshot, now: datetime, result: SyncResult) -> None:
    _write_brokers(snapshot, now, result)
    topic_ids = _write_topics(snapshot, now, result)
    _write_partitions(snapshot, topic_ids, result)
    group_ids = _write_groups(snapshot, now, result)
    _write_group_offsets(snapshot, group_ids, result)


def _existing(model: type[models.Model], key_fields: Sequence[str], fields: Sequence[str]) -> dict[Any, tuple]:
    """{key: (pk, values)} for every stored row, in one query."""
    rows = model.objects.values_list("pk", *key_fields, *fields)
    width = len(key_fields)
    return {(row[1] if width == 1 else tuple(row[1 : 1 + width])): (row[0], tuple(row[1 + width :])) for row in rows}


def _upsert(
    model: type[models.Model],
    rows: dict[Any, dict],
    existing: dict[Any, tuple],
    unique_fields: Sequence[str],
    compare: Sequence[str],
    also_update: Sequence[str] = (),
) -> tuple[int, int]:
    """Insert new rows and rewrite changed ones in one bulk upsert; unchanged rows are not touched."""
    created = [key for key in rows if key not in existing]
    changed = [
        key for key, row in rows.items() if key in existing and existing[key][1] != tuple(row[name] for name in compare)
    ]
    if created or changed:
        model.objects.bulk_create(
            [model(**rows[key]) for key in created + changed],
            update_conflicts=True,
            unique_fields=list(unique_fields),
            update_fields=[*compare, *also_update],
        )
    return len(created), len(changed)


def _update_pks(model: type[models.Model], pks: Iterable[int], **values: Any) -> int:
    pks = list(pks)
    for start in range(0, len(pks), CHUNK):
        model.objects.filter(pk__in=pks[start : start + CHUNK]).update(**values)
    return len(pks)


def _delete_pks(model: type[models.Model], pks: Iterable[int]) -> int:
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
    result.add(*_upsert(Broker, rows, existing, ["broker_id"], BROKER_FIELDS, ["last_seen"]))
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


def topic_row(
    info: kafka_client.TopicInfo, configs: dict[str, list], snapshot: ClusterSnapshot, now: datetime
) -> dict[str, Any]:
    def value(key: str) -> str:
        return (configs.get(key) or [None])[0] or ""

    messages = 0
    for p in info.partitions:
        first, last = snapshot.earliest.get((info.name, p.number)), snapshot.latest.get((info.name, p.number))
        if first is not None and last is not None:
            messages += max(last - first, 0)
    return {
        "name": info.name,
        "partition_count": len(info.partitions),
        "replication_factor": info.replication_factor,
        "is_internal": info.is_internal,
        "retention_ms": value("retention.ms"),
        "cleanup_policy": value("cleanup.policy"),
        "min_insync_replicas": value("min.insync.replicas"),
        "configs": configs,
        "under_replicated_partitions": sum(1 for p in info.partitions if len(p.isr) < len(p.replicas)),
        "offline_partitions": sum(1 for p in info.partitions if p.leader < 0),
        "approx_messages": messages,
        "vanished_at": None,
        "last_synced": now,
    }


def _write_topics(snapshot: ClusterSnapshot, now: datetime, result: SyncResult) -> dict[str, int]:
    existing = _existing(Topic, ["name"], TOPIC_FIELDS)
    configs_index = TOPIC_FIELDS.index("configs")
    rows = {}
    for name, info in snapshot.topics.items():
        if name in snapshot.configs:
            # JSON gives lists back, so store lists: an unchanged topic then compares equal.
            configs = {key: [v, source] for key, (v, source) in sorted(snapshot.configs[name].items())}
        else:
            # Its configs could not be read this time (the error is reported): keep the last known.
            configs = existing[name][1][configs_index] if name in existing else {}
        rows[name] = topic_row(info, configs, snapshot, now)
    result.add(*_upsert(Topic, rows, existing, ["name"], TOPIC_FIELDS, ["last_synced"]))
    gone = [pk for name, (pk, values) in existing.items() if name not in rows and values[-1] is None]
    result.add(vanished=_update_pks(Topic, gone, vanished_at=now))
    Topic.objects.filter(vanished_at__isnull=True).update(last_synced=now)
    result.topics = len(rows)
    return {name: pk for name, pk in Topic.objects.values_list("name", "pk") if name in rows}


PARTITION_FIELDS = ("leader", "replicas", "isr", "earliest_offset", "latest_offset", "under_replicated")


def _write_partitions(snapshot: ClusterSnapshot, topic_ids: dict[str, int], result: SyncResult) -> None:
    existing = _existing(Partition, ["topic_id", "number"], PARTITION_FIELDS)
    rows = {}
    for name, info in snapshot.topics.items():
        for p in info.partitions:
            rows[(topic_ids[name], p.number)] = {
                "topic_id": topic_ids[name],
                "number": p.number,
                "leader": p.leader if p.leader >= 0 else None,
                "replicas": list(p.replicas),
                "isr": list(p.isr),
                "earliest_offset": snapshot.earliest.get((name, p.number)),
                "latest_offset": snapshot.latest.get((name, p.number)),
                "under_replicated": len(p.isr) < len(p.replicas),
            }
    result.add(*_upsert(Partition, rows, existing, ["topic", "number"], PARTITION_FIELDS))
    # Partitions of a topic that is present but smaller now (deleted and re-created) cannot exist any more.
    present = set(topic_ids.values())
    stale = [pk for key, (pk, _) in existing.items() if key[0] in present and key not in rows]
    result.add(updated=_delete_pks(Partition, stale))
    result.partitions = len(rows)


GROUP_FIELDS = ("state", "protocol_type", "member_count", "coordinator", "total_lag", "sync_error", "vanished_at")


def _group_row(group_id: str, snapshot: ClusterSnapshot, previous: tuple | None, now: datetime) -> dict[str, Any]:
    info = snapshot.groups.get(group_id)
    committed = snapshot.committed.get(group_id)
    row = dict(zip(GROUP_FIELDS, previous, strict=True)) if previous else {"total_lag": None}
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
    result.add(*_upsert(ConsumerGroup, rows, existing, ["group_id"], GROUP_FIELDS, ["last_synced"]))
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
    result.add(*_upsert(GroupOffset, rows, existing, ["group", "topic", "partition"], OFFSET_FIELDS))
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


def sync_group(group_id: str, cluster: kafka_client.ClusterSettings | None = None) -> None:
    """Refresh one group's mirror rows right after its offsets changed (an offset reset),
    without waiting for the next full sync or touching any other group."""
    admin = kafka_client.admin_client(kafka_client.cluster_settings(cluster))
    groups, _ = kafka_client.describe_groups([group_id], cluster, admin=admin)
    committed_by_group, failures = kafka_client.committed_offsets([group_id], cluster, admin=admin)
    if group_id in failures:
        raise failures[group_id]
    committed = committed_by_group.get(group_id, {})
    latest, _ = kafka_client.list_offsets(committed, "latest", cluster, admin=admin)
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
