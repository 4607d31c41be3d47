"""Make the cluster's billing topics match topics/spec.py.

Missing topics are created. An existing topic that differs is reported as
drift and left alone unless `apply` is set; then partitions are grown (Kafka
cannot shrink them) and configs set. A replication factor that differs needs
a partition reassignment, which this tool reports but never attempts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opsportal import kafka

from .spec import TOPICS, TopicSpec


@dataclass
class TopicOutcome:
    name: str
    status: str  # created | would create | ok | drift | fixed | error
    details: list[str] = field(default_factory=list)

    @property
    def unresolved(self) -> bool:
        return self.status in ("drift", "would create", "error")


@dataclass
class ProvisioningReport:
    outcomes: list[TopicOutcome]
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return not any(outcome.unresolved for outcome in self.outcomes)


def fit_to_cluster(spec: TopicSpec, brokers: int) -> tuple[TopicSpec, str | None]:
    """Cap the replication factor (and min ISR with it) on a smaller cluster."""
    if brokers >= spec.replication_factor:
        return spec, None
    configs = dict(spec.configs)
    if int(configs.get("min.insync.replicas", "1")) > brokers:
        configs["min.insync.replicas"] = str(brokers)
    warning = (
        f"{spec.name}: only {brokers} broker(s) in the cluster; replication factor capped "
        f"{spec.replication_factor} -> {brokers}, min.insync.replicas -> {configs.get('min.insync.replicas')}"
    )
    return TopicSpec(spec.name, spec.partitions, brokers, configs), warning


def find_drift(spec: TopicSpec, topic: kafka.TopicInfo, configs: dict) -> tuple[list[str], dict, int | None]:
    """What differs: messages, the config changes that fix it, the partition count to grow to."""
    details, config_changes, grow_to = [], {}, None
    actual_partitions = len(topic.partitions)
    if actual_partitions < spec.partitions:
        details.append(f"partitions {actual_partitions}, spec {spec.partitions}")
        grow_to = spec.partitions
    elif actual_partitions > spec.partitions:
        details.append(f"partitions {actual_partitions}, spec {spec.partitions} (Kafka cannot shrink a topic)")
    if topic.replication_factor != spec.replication_factor:
        details.append(
            f"replication factor {topic.replication_factor}, spec {spec.replication_factor} "
            "(needs a partition reassignment; not done by --apply)"
        )
    for key, wanted in spec.configs.items():
        actual = configs.get(key, (None, ""))[0]
        if actual != wanted:
            details.append(f"{key}={actual}, spec {wanted}")
            config_changes[key] = wanted
    return details, config_changes, grow_to


def ensure_topics(
    specs: tuple[TopicSpec, ...] = TOPICS,
    *,
    apply: bool = False,
    dry_run: bool = False,
    cluster: kafka.ClusterSettings | None = None,
) -> ProvisioningReport:
    admin = kafka.admin_client(cluster)
    brokers = len(kafka.describe_brokers(cluster, admin=admin))
    fitted = [fit_to_cluster(spec, brokers) for spec in specs]
    warnings = [warning for _, warning in fitted if warning]
    specs = tuple(spec for spec, _ in fitted)
    existing = kafka.list_topics(cluster, admin=admin)
    missing = [spec for spec in specs if spec.name not in existing]

    outcomes: dict[str, TopicOutcome] = {}
    if dry_run:
        outcomes.update({spec.name: TopicOutcome(spec.name, "would create") for spec in missing})
    else:
        failures = kafka.create_topics(
            [kafka.NewTopicSpec(s.name, s.partitions, s.replication_factor, s.configs) for s in missing],
            cluster,
            admin=admin,
        )
        for spec in missing:
            error = failures.get(spec.name)
            outcomes[spec.name] = TopicOutcome(
                spec.name, "error" if error else "created", [str(error)] if error else []
            )

    present = [spec for spec in specs if spec.name in existing]
    configs, failures = kafka.describe_topic_configs([spec.name for spec in present], cluster, admin=admin)
    if failures:
        raise next(iter(failures.values()))
    for spec in present:
        details, config_changes, grow_to = find_drift(spec, existing[spec.name], configs[spec.name])
        outcome = TopicOutcome(spec.name, "drift" if details else "ok", details)
        if details and apply and not dry_run:
            _apply_fixes(spec, outcome, config_changes, grow_to, cluster, admin)
            if grow_to:
                warnings.append(
                    f"{spec.name}: grown to {grow_to} partitions. Keys now map to other partitions "
                    "(murmur2 % count): new events of an account may land apart from its older ones, "
                    "so per-account ordering across the change is not guaranteed"
                )
        outcomes[spec.name] = outcome
    return ProvisioningReport([outcomes[spec.name] for spec in specs], warnings)


def _apply_fixes(
    spec: TopicSpec,
    outcome: TopicOutcome,
    config_changes: dict[str, str],
    grow_to: int | None,
    cluster: kafka.ClusterSettings | None,
    admin: kafka.AdminClient,
) -> None:
    failures: dict[str, kafka.KafkaClientError] = {}
    if grow_to:
        failures |= kafka.grow_partitions({spec.name: grow_to}, cluster, admin=admin)
    if config_changes:
        failures |= kafka.set_topic_configs({spec.name: config_changes}, cluster, admin=admin)
    outcome.details += [f"--apply failed: {error}" for error in failures.values()]
    fixable = not any("cannot shrink" in d or "reassignment" in d for d in outcome.details)
    outcome.status = "fixed" if fixable and not failures else "drift"
