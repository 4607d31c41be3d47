"""SQL helpers for the republish outbox.

On PostgreSQL the outbox (outbox.py) sends each chunk as one statement with
array literals built here, planned as key lookups. Elsewhere (SQLite, the
embedded default) insert_rows and update_many send one short statement per row.
"""

from __future__ import annotations

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

    Index scans (plain and index-only) are off too, which leaves a bitmap scan of
    the key's index, driven by each chunk row, as the only table access still
    enabled. With them on, an estimate of a handful of rows (a table analyzed when
    it held only dead rows is estimated empty however much it grows; a status
    guard's estimate is a guess) made PostgreSQL scan the table's whole index once
    and join each row found with every chunk row: quadratic, 1.8 s instead of 70 ms
    for a 5,000-row chunk. Measured in 4 alternating pairs: a 20,000-row chunk's claim and
    settle took 775-987 ms with bitmap scans, 830-1,016 ms with plain index scans.

    The settings last until the transaction ends; outside one they would do nothing.
    """
    if _postgres():
        if not connection.in_atomic_block:
            raise RuntimeError("plan_as_key_lookups() must be called inside a transaction")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true), "
                "set_config('enable_mergejoin', 'off', true), set_config('enable_indexscan', 'off', true)"
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


def _prep(field: models.Field, value):
    return field.get_db_prep_save(value, connection)


def array_literal(values: list) -> str:
    """'{1,"a b",NULL}': PostgreSQL's array input syntax, every text element quoted.

    psycopg dumps a list element by element in Python (about 1.5 us each: most of a
    chunk's statement time); this text is built by join and parsed by the server.
    """
    return "{" + ",".join(_element(v) for v in values) + "}"


def plain_array_literal(values: Iterable) -> str:
    """'{1,2,3}' for elements whose text needs no quoting: numbers, UUIDs and state words (never None).

    A third cheaper than array_literal for the chunk's id and offset columns.
    """
    return "{" + ",".join(map(str, values)) + "}"


def _element(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)  # a number or a UUID


def _condition(table: str, field: models.Field, allowed) -> tuple[str, list]:
    """`column = value`, or `column IN (...)` for a tuple of allowed values."""
    column = f"{table}.{quote(field.column)}"
    if isinstance(allowed, tuple):
        return f"{column} IN ({', '.join(['%s'] * len(allowed))})", [_prep(field, value) for value in allowed]
    return f"{column} = %s", [_prep(field, allowed)]


def insert_rows(model: type[models.Model], names: Sequence[str], rows: Sequence[tuple]) -> None:
    """INSERT rows of values for the named fields (no primary keys read back, no model instances)."""
    fields = [model._meta.get_field(name) for name in names]
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    prepared = [[_prep(f, value) for f, value in zip(fields, row, strict=True)] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})", prepared)


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
    meta = model._meta
    fields = [meta.get_field(name) for name in (*columns, *keys)]
    table = quote(meta.db_table)
    guards, constants = [], []
    for name, allowed in (only_if or {}).items():
        condition, params = _condition(table, meta.get_field(name), allowed)
        guards.append(condition)
        constants += params
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields[: len(columns)])
    matches = [f"{table}.{quote(f.column)} = %s" for f in fields[len(columns) :]]
    sql = f"UPDATE {table} SET {assignments} WHERE {' AND '.join(matches + guards)}"
    updated = []
    with connection.cursor() as cursor:
        for row in rows:
            prepared = [_prep(f, value) for f, value in zip(fields, row, strict=True)]
            cursor.execute(sql, [*prepared, *constants])
            if cursor.rowcount:
                updated.append(prepared[len(columns)])
    return updated
