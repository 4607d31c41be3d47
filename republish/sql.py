"""Bulk row writes for a republish chunk, shaped so the database does the work.

bulk_create and bulk_update send one statement with thousands of
placeholders, which psycopg re-parses on every call (it caches only short
statements) and PostgreSQL plans row by row. On PostgreSQL these functions
send each column as one array parameter and let unnest() turn them into rows:
one short statement per chunk. Elsewhere (SQLite, the embedded default) they
send one short statement per row.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Sequence

from django.db import connection, models


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def plan_as_key_lookups() -> None:
    """For the rest of the transaction, join by index lookups whatever the statistics say.

    A bulk republish grows and rewrites tables faster than ANALYZE follows. With
    statistics from before the job, PostgreSQL planned a chunk's join as a hash
    join over the whole table, so each chunk cost more than the one before
    (measured: 54 s instead of 10 s for 100,000 records). Every chunk statement
    looks rows up by a unique key, for which a nested loop over the key's index is
    the right plan at any table size.
    """
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true), "
                "set_config('enable_mergejoin', 'off', true)"
            )


def ids_condition(column: str, ids: Sequence[int]) -> tuple[str, list]:
    """`column` is one of ids: an array parameter on PostgreSQL, placeholders elsewhere."""
    if _postgres():
        return f"{quote(column)} = ANY(%s)", [list(ids)]
    return f"{quote(column)} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def by_ids(queryset: models.QuerySet, ids: Sequence[int]) -> models.QuerySet:
    """queryset.filter(pk__in=ids) with the ids as one array parameter on PostgreSQL."""
    condition, params = ids_condition(queryset.model._meta.pk.column, ids)
    return queryset.extra(where=[f"{quote(queryset.model._meta.db_table)}.{condition}"], params=params)


def _array_type(field: models.Field) -> str:
    return f"{field.db_type(connection)}[]"


def _prep(field: models.Field, value):
    return field.get_db_prep_save(value, connection)


# Types psycopg sends to PostgreSQL as they are: preparing each value through
# Django (a few microseconds apiece) would cost more than the statement itself.
PASSED_AS_IS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BinaryField",
        "BooleanField",
        "CharField",
        "DateTimeField",
        "ForeignKey",
        "IntegerField",
        "PositiveIntegerField",
        "TextField",
        "UUIDField",
    }
)


def _column(field: models.Field, values: Iterable) -> list | str:
    if _postgres() and field.get_internal_type() in PASSED_AS_IS:
        values = list(values)
        return array_literal(values) if all(_literal(v) for v in values) else values
    return [_prep(field, value) for value in values]


def _literal(value) -> bool:
    """Whether the value has a plain text form PostgreSQL reads back as the same value."""
    if isinstance(value, datetime.datetime):
        return value.tzinfo is not None
    if isinstance(value, bool):
        return False
    return value is None or isinstance(value, str | int | uuid.UUID)


def array_literal(values: list) -> str:
    """'{1,"a b",NULL}': PostgreSQL's array input syntax, every text element quoted.

    psycopg dumps a list element by element in Python (about 1.5 us each: most of a
    chunk's statement time); this text is built by join and parsed by the server.
    """
    return "{" + ",".join(_element(v) for v in values) + "}"


def _element(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f'"{value}"' if isinstance(value, datetime.datetime) else str(value)


def _condition(table: str, field: models.Field, allowed) -> tuple[str, list]:
    """`column = value`, or `column IN (...)` for a tuple of allowed values."""
    column = f"{table}.{quote(field.column)}"
    if isinstance(allowed, tuple):
        return f"{column} IN ({', '.join(['%s'] * len(allowed))})", [_prep(field, value) for value in allowed]
    return f"{column} = %s", [_prep(field, allowed)]


def insert_rows(model: type[models.Model], names: Sequence[str], rows: Sequence[tuple]) -> None:
    """INSERT rows of values for the named fields (no primary keys read back, no model instances)."""
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in names]
    columns = ", ".join(quote(f.column) for f in fields)
    table = quote(model._meta.db_table)
    prepared = [_column(f, values) for f, values in zip(fields, zip(*rows, strict=True), strict=True)]
    with connection.cursor() as cursor:
        if _postgres():
            arrays = ", ".join(f"%s::{_array_type(f)}" for f in fields)
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays})", prepared)
        else:
            placeholders = ", ".join(["%s"] * len(fields))
            rows = list(zip(*prepared, strict=True))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", rows)


def update_many(
    model: type[models.Model],
    keys: Sequence[str],
    columns: Sequence[str],
    rows: Iterable[tuple],
    only_if: dict | None = None,
) -> list:
    """UPDATE ... SET columns WHERE each key = its value [AND each only_if condition],
    for rows of (column values..., key values...); return the first key of each row updated.

    An only_if value is a constant the column must equal, or a tuple of values it may have.
    """
    rows = list(rows)
    if not rows:
        return []
    meta = model._meta
    fields = [meta.get_field(name) for name in (*columns, *keys)]
    table = quote(meta.db_table)
    guards, constants = [], []
    for name, allowed in (only_if or {}).items():
        condition, params = _condition(table, meta.get_field(name), allowed)
        guards.append(condition)
        constants += params
    prepared = [_column(f, values) for f, values in zip(fields, zip(*rows, strict=True), strict=True)]
    first_key = f"{table}.{quote(fields[len(columns)].column)}"
    with connection.cursor() as cursor:
        if _postgres():
            names = [f"v{i}" for i in range(len(fields))]
            arrays = ", ".join(f"%s::{_array_type(f)}" for f in fields)
            named = list(zip(fields, names, strict=True))
            assignments = ", ".join(f"{quote(f.column)} = v.{n}" for f, n in named[: len(columns)])
            matches = [f"{table}.{quote(f.column)} = v.{n}" for f, n in named[len(columns) :]]
            sql = (
                f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({', '.join(names)}) "
                f"WHERE {' AND '.join(matches + guards)} RETURNING {first_key}"
            )
            cursor.execute(sql, [*prepared, *constants])
            return [row[0] for row in cursor.fetchall()]
        assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields[: len(columns)])
        matches = [f"{table}.{quote(f.column)} = %s" for f in fields[len(columns) :]]
        sql = f"UPDATE {table} SET {assignments} WHERE {' AND '.join(matches + guards)}"
        updated = []
        for row in zip(*prepared, strict=True):
            cursor.execute(sql, [*row, *constants])
            if cursor.rowcount:
                updated.append(row[len(columns)])
        return updated
