"""Schema Registry subjects: the `Schemas` admin page and ensure_schemas (compatibility from topics/spec.py).

The registry is read through opsportal.kafka.registry; with SCHEMA_REGISTRY_URL unset the page
says the feature is off and the command refuses, and neither calls anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from opsportal import kafka

from .spec import TopicSpec

TEMPLATE = "admin/topics/schemas/subject_list.html"


@dataclass
class SubjectOutcome:
    subject: str
    status: str  # ok | set | would set | drift | error
    detail: str = ""

    @property
    def unresolved(self) -> bool:
        return self.status in ("would set", "drift", "error")


@dataclass
class SchemaReport:
    outcomes: list[SubjectOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(outcome.unresolved for outcome in self.outcomes)


def managed_subjects(spec: TopicSpec, registered: set[str], strategy: str) -> list[str]:
    """The subjects of a topic whose level the spec sets: its value subject always, its key subject once registered."""
    if strategy == "topic-name":
        return [f"{spec.name}-value"] + ([f"{spec.name}-key"] if f"{spec.name}-key" in registered else [])
    if strategy == "topic-record-name":
        return sorted(subject for subject in registered if subject.startswith(f"{spec.name}-"))
    return []


def ensure_schemas(specs: Iterable[TopicSpec], *, apply: bool = False, dry_run: bool = False) -> SchemaReport:
    """Pin each billing subject's compatibility to its spec's level.

    A subject without a level of its own (it follows the global one) gets the spec's level unless
    `dry_run`; a subject with another level is drift, changed only with `apply`.
    """
    report = SchemaReport()
    strategy = kafka.registry.registry_settings().subject_strategy  # type: ignore[union-attr]
    if strategy == "record-name":
        report.warnings.append("SCHEMA_REGISTRY_SUBJECT_STRATEGY=record-name: subjects do not name their topic")
    registered = set(kafka.registry.list_subjects())
    for spec in specs:
        if spec.schema_compatibility is None:
            continue
        for subject in managed_subjects(spec, registered, strategy):
            report.outcomes.append(_ensure_subject(subject, spec.schema_compatibility, apply=apply, dry_run=dry_run))
    return report


def _ensure_subject(subject: str, wanted: str, *, apply: bool, dry_run: bool) -> SubjectOutcome:
    try:
        level = kafka.registry.subject_compatibility(subject)
        if level == wanted:
            return SubjectOutcome(subject, "ok", wanted)
        detail = f"{level or 'none of its own'} -> {wanted}"
        if dry_run or (level is not None and not apply):
            return SubjectOutcome(subject, "would set" if level is None else "drift", detail)
        kafka.registry.set_subject_compatibility(subject, wanted)
        return SubjectOutcome(subject, "set", detail)
    except kafka.RegistryError as exc:
        return SubjectOutcome(subject, "error", str(exc))


def subject_rows() -> list[kafka.SubjectInfo]:
    """Every subject with its versions, latest schema and compatibility (the Schemas page)."""
    global_level = kafka.registry.global_compatibility()
    return [kafka.registry.subject_info(name, global_level=global_level) for name in kafka.registry.list_subjects()]


def schemas_view(request: HttpRequest) -> HttpResponse:
    """The `Schemas` page: every subject in the registry, or why they cannot be shown."""
    if not request.user.has_perm("topics.view_topic"):
        raise PermissionDenied
    context = {**admin.site.each_context(request), "title": "Schemas", "subjects": [], "error": "", "off": False}
    if not kafka.registry.enabled():
        context["off"] = True
    else:
        try:
            context["subjects"] = subject_rows()
        except kafka.RegistryError as exc:
            context["error"] = str(exc)
    return TemplateResponse(request, TEMPLATE, context)
