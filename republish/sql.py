"""Bulk row writes for a republish chunk, shaped so the database does the work.

bulk_create and bulk_update send one statement with thousands of
placeholders, which psycopg re-parses on every call (it caches only short
statements) and PostgreSQL plans row by row. On PostgreSQL these functions
send each column as one array parameter and let unnest() turn them into rows:
one short statement per chunk. Elsewhere (SQLite, the embedded default) they
send one short statement many times (executemany).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


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


def update_returning_ids(model: type[models.Model], ids: Sequence[int], *, set_values: dict, where: dict) -> list[int]:
    """UPDATE the rows among ids that match `where` (column -> allowed values); return the ids updated."""
    if not ids:
        return []
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    assignments = ", ".join(f"{quote(column)} = %s" for column in set_values)
    condition, params = ids_condition(model._meta.pk.column, ids)
    filters, filter_params = [], []
    for column, allowed in where.items():
        filters.append(f"{quote(column)} IN ({', '.join(['%s'] * len(allowed))})")
        filter_params += list(allowed)
    sql = f"UPDATE {table} SET {assignments} WHERE {' AND '.join([condition, *filters])} RETURNING {pk}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*set_values.values(), *params, *filter_params])
        return [row[0] for row in cursor.fetchall()]


def insert_many(objs: Sequence[models.Model]) -> None:
    """INSERT model instances (no primary keys read back)."""
    if not objs:
        return
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    columns = ", ".join(quote(f.column) for f in fields)
    table = quote(model._meta.db_table)
    rows = [[_prep(f, f.pre_save(obj, True)) for f in fields] for obj in objs]
    with connection.cursor() as cursor:
        if _postgres():
            arrays = ", ".join(f"%s::{_array_type(f)}" for f in fields)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays})",
                [list(c) for c in zip(*rows, strict=True)],
            )
        else:
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})", rows)


def update_many(
    model: type[models.Model],
    keys: Sequence[str],
    columns: Sequence[str],
    rows: Iterable[tuple],
    only_if: dict | None = None,
) -> None:
    """UPDATE ... SET columns WHERE each key = its value [AND each only_if column = its constant],
    for rows of (column values..., key values...)."""
    rows = list(rows)
    if not rows:
        return
    meta = model._meta
    only_if = only_if or {}
    fields = [meta.get_field(name) for name in (*columns, *keys)]
    table = quote(meta.db_table)
    constants = [_prep(meta.get_field(c), v) for c, v in only_if.items()]
    guards = [f"{table}.{quote(meta.get_field(c).column)} = %s" for c in only_if]
    prepared = [[_prep(f, v) for f, v in zip(fields, row, strict=True)] for row in rows]
    with connection.cursor() as cursor:
        if _postgres():
            names = [f"v{i}" for i in range(len(fields))]
            arrays = ", ".join(f"%s::{_array_type(f)}" for f in fields)
            assignments = ", ".join(
                f"{quote(f.column)} = v.{n}" for f, n in zip(fields, names, strict=False) if f.name in columns
            )
            matches = [
                f"{table}.{quote(f.column)} = v.{n}" for f, n in zip(fields, names, strict=True) if f.name in keys
            ]
            sql = (
                f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({', '.join(names)}) "
                f"WHERE {' AND '.join(matches + guards)}"
            )
            cursor.execute(sql, [*(list(c) for c in zip(*prepared, strict=True)), *constants])
        else:
            assignments = ", ".join(f"{quote(meta.get_field(c).column)} = %s" for c in columns)
            matches = [f"{quote(meta.get_field(k).column)} = %s" for k in keys]
            sql = f"UPDATE {table} SET {assignments} WHERE {' AND '.join(matches + guards)}"
            cursor.executemany(sql, [row + constants for row in prepared])
