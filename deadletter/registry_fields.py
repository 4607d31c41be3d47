"""Business fields of dead letters whose value is in the Schema Registry's wire format.

The drain stores such records raw and never calls the registry, so a slow or absent registry can
neither slow nor stop it; this pass decodes them afterwards and fills the fields a JSON event gets
at drain time, so that the list and the exact search work without the registry. It walks the
records in id order from a mark; when the registry cannot be asked, it stops and the next run
starts again from the same record.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from opsportal import kafka

from . import decoders
from .models import DeadLetterRecord, RegistryDecodeMark

BATCH = 500
# Ids are handed out before their transactions commit, so a younger id can be visible while an
# older one is not yet: only rows drained this long ago are walked past.
SETTLED_AFTER = timedelta(seconds=60)
# Reasons that say nothing about the record itself: ask again on the next run.
ASK_AGAIN = {"registry unreachable", "registry unauthorized"}
FIELDS = ("event_id", "event_type", "account_id", "correlation_id", "saga_id", "transaction_id", "amount", "currency")


def fill_registry_fields(max_records: int = 20_000) -> int:
    """Decode the wire-format records drained since the last run; the number whose fields were filled."""
    if not kafka.registry.enabled():
        return 0
    mark, _ = RegistryDecodeMark.objects.get_or_create(pk=1)
    settled = timezone.now() - SETTLED_AFTER
    filled = walked = 0
    while walked < max_records:
        rows = list(
            DeadLetterRecord.objects.filter(pk__gt=mark.last_id, drained_at__lt=settled, event_id="", value_size__gte=5)
            .order_by("pk")
            .values_list("pk", "value")[:BATCH]
        )
        if not rows:
            mark.last_id = _settled_high(settled, mark.last_id)
            mark.save(update_fields=["last_id"])
            break
        with transaction.atomic():
            for pk, value in rows:
                decoded = kafka.wire.decode(None if value is None else bytes(value))
                if decoded is not None and decoded.reason in ASK_AGAIN:
                    mark.save(update_fields=["last_id"])
                    return filled
                if decoded is not None and decoded.decoded:
                    filled += _fill(pk, decoded.value)
                mark.last_id = pk
            mark.save(update_fields=["last_id"])
        walked += len(rows)
    return filled


def _fill(pk: int, value: object) -> int:
    business = decoders.read_business(json.dumps(value, default=str).encode())
    found = {name: getattr(business, name) for name in FIELDS}
    if not any(found.values()):
        return 0
    return DeadLetterRecord.objects.filter(pk=pk).update(**found)


def _settled_high(settled: object, current: int) -> int:
    """The highest id drained before `settled`: nothing at or below it is left to walk."""
    high = DeadLetterRecord.objects.filter(drained_at__lt=settled).order_by("-pk").values_list("pk", flat=True).first()
    return max(current, high or 0)
