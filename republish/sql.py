"""Bulk row writes for a republish chunk, shaped so the database does the work.

bulk_create and bulk_update send one statement with thousands of
placeholders; psycopg re-parses such a statement on every call (it caches
only short ones), which cost more than producing the records. These send one
short statement many times over a pipeline (executemany) and, on PostgreSQL,
pass a list of ids as one array parameter instead of thousands of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def ids_condition(column: str, ids: Sequence[int]) -> tuple[str, list]:
    """`column` is one of ids: an array parameter on PostgreSQL, placeholders elsewhere."""
    if connection.vendor == "postgresql":
        return f"{quote(column)} = ANY(%s)", [list(ids)]
    return f"{quote(column)} IN ({', '.join(['%s'] * len(ids))})", list(ids)


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
    """INSERT model instances (no primary keys read back) with one short statement, executemany."""
    if not objs:
        return
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    columns = ", ".join(quote(f.column) for f in fields)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    rows = [[f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields] for obj in objs]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


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
    assignments = ", ".join(f"{quote(meta.get_field(c).column)} = %s" for c in columns)
    conditions = [f"{quote(meta.get_field(k).column)} = %s" for k in keys]
    conditions += [f"{quote(meta.get_field(c).column)} = %s" for c in (only_if or {})]
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {' AND '.join(conditions)}"
    fields = [meta.get_field(name) for name in (*columns, *keys, *(only_if or {}))]
    constants = tuple((only_if or {}).values())
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [[f.get_db_prep_save(v, connection) for f, v in zip(fields, row + constants, strict=True)] for row in rows],
        )


def by_ids(queryset: models.QuerySet, ids: Sequence[int]) -> models.QuerySet:
    """queryset.filter(pk__in=ids) with the ids as one array parameter on PostgreSQL."""
    condition, params = ids_condition(queryset.model._meta.pk.column, ids)
    table = quote(queryset.model._meta.db_table)
    return queryset.extra(where=[f"{table}.{condition}"], params=params)
