"""Every PostgreSQL-specific statement of the dead-letter app, behind plain functions.

Callers check `connection.vendor` and fall back to the ORM elsewhere (SQLite, the
embedded default). All of them use Django's default connection, and quote names with
quote() only.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

from django.db import connection, models

from deadletter.models import DeadLetterRecord, Review, Status
from deadletter.rows import COLUMNS, Row


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def table(model: type[models.Model]) -> str:
    return quote(model._meta.db_table)


def column_name(model: type[models.Model], name: str) -> str:
    """A field's column name (name "pk": the primary key's), unquoted."""
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    return str(cast("models.Field[Any, Any]", field).column)


def column(model: type[models.Model], name: str) -> str:
    return quote(column_name(model, name))


def array_literal(values: Sequence[Any]) -> str:
    """'{1,"a b",NULL}': PostgreSQL's array input syntax, every text element quoted.

    psycopg dumps a list element by element in Python; this text is built by join and
    parsed by the server, which costs a fraction of that for thousands of elements.
    """
    return "{" + ",".join(_element(v) for v in values) + "}"


def plain_array_literal(values: Sequence[Any]) -> str:
    """'{1,2,3}' for elements whose text needs no quoting: numbers, UUIDs and state words (never None)."""
    return "{" + ",".join(map(str, values)) + "}"


def _element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)  # a number or a UUID


# --- the drain's writes ---------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _column_types() -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Quoted column names and PostgreSQL type oids in COLUMNS order, for a binary COPY."""
    columns = [column_name(DeadLetterRecord, c) for c in COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
            [DeadLetterRecord._meta.db_table],
        )
        oids = dict(cursor.fetchall())
    return tuple(quote(c) for c in columns), tuple(oids[c] for c in columns)


def copy_rows(into: str, rows: list[Row]) -> None:
    """COPY rows (in COLUMNS order) into the quoted table `into`, in PostgreSQL's binary format:
    the fastest way in, no text parsing. Raises IntegrityError if a position is stored already.

    Binary jsonb would JSON-encode a str again; the headers are JSON text already, so the
    cursor's jsonb dumper passes them through.
    """
    from psycopg.types.json import set_json_dumps  # PostgreSQL only

    names, oids = _column_types()
    with connection.cursor() as cursor, connection.wrap_database_errors:
        set_json_dumps(_as_is, context=cursor.cursor)
        with cursor.cursor.copy(f"COPY {into} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(oids)
            write = copy.write_row
            for row in rows:
                write(row)


def _as_is(text: str) -> str:
    return text


def copy_insert_or_ignore(rows: list[Row]) -> int:
    """COPY into a temporary table, then one INSERT ... ON CONFLICT DO NOTHING (with a Review
    for each new row); returns the number of new rows.

    COPY cannot skip duplicates; the INSERT from the temporary table can, and its row count
    is the number of new rows.
    """
    records, columns = table(DeadLetterRecord), ", ".join(_column_types()[0])
    position = ", ".join(column(DeadLetterRecord, name) for name in ("dlq_topic", "partition", "offset"))
    review_columns = ", ".join(column(Review, name) for name in ("record", "status", *Review.COPIED))
    copied = ", ".join(column(DeadLetterRecord, name) for name in Review.COPIED)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE deadletter_incoming ON COMMIT DROP AS SELECT {columns} FROM {records} WITH NO DATA"
        )
        copy_rows("deadletter_incoming", rows)
        cursor.execute(
            f"WITH new AS (INSERT INTO {records} ({columns}) SELECT {columns} FROM deadletter_incoming "
            f"ON CONFLICT ({position}) DO NOTHING RETURNING id, {copied}) "
            f"INSERT INTO {table(Review)} ({review_columns}) SELECT id, %s, {copied} FROM new",
            [Status.NEW.value],
        )
        return cursor.rowcount


# --- the record list ------------------------------------------------------------------------


def estimated_rows(model: type[models.Model]) -> int | None:
    """The planner's row estimate of the model's table; None when never analysed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] >= 0 else None  # -1: never analysed


def distinct_values(field: str, limit: int) -> list[Any]:
    """A record column's distinct values by a loose index scan: one index probe per value,
    instead of DISTINCT over every row."""
    records, name = table(DeadLetterRecord), column(DeadLetterRecord, field)
    sql = (
        f"WITH RECURSIVE t(v) AS ((SELECT {name} FROM {records} ORDER BY {name} LIMIT 1) UNION ALL "
        f"SELECT (SELECT {name} FROM {records} WHERE {name} > t.v ORDER BY {name} LIMIT 1) "
        f"FROM t WHERE t.v IS NOT NULL) SELECT v FROM t WHERE v IS NOT NULL LIMIT {int(limit)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


# --- review status moves, one statement per chunk -------------------------------------------
# The status guards are written `status || '' = ...` so that PostgreSQL cannot answer them
# from the status index: its entries for rows that were publishing stay until VACUUM, and
# the planner, whose statistics say almost no row is publishing, scanned all of them for
# each chunk. Rows are found by primary key; the guard is checked on each row found.


def _review_names() -> tuple[str, str, str, str]:
    """The Review table and its record, status and replay id columns, quoted."""
    return table(Review), column(Review, "record"), column(Review, "status"), column(Review, "replay_id")


def claim_reviews(claims: Sequence[tuple[int, str]], status: str, allowed: Sequence[str]) -> set[int]:
    """UPDATE each (record id, replay id) to `status` where the status is one of `allowed`."""
    reviews, record, state, replay = _review_names()
    statement = f"""
        UPDATE {reviews} AS d SET {state} = %s, {replay} = w.replay_id
        FROM unnest(%s::bigint[], %s::uuid[]) AS w(record_id, replay_id)
        WHERE d.{record} = w.record_id AND d.{state} || '' = ANY(%s::varchar[])
        RETURNING d.{record}
    """
    params = [
        str(status),
        plain_array_literal([record_id for record_id, _ in claims]),
        plain_array_literal([replay_id for _, replay_id in claims]),
        array_literal([str(value) for value in allowed]),
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return {record_id for (record_id,) in cursor.fetchall()}


def settle_reviews(outcomes: Sequence[tuple[int, str, str]], expected: str) -> None:
    """UPDATE each (record id, replay id, status) where the Review is still `expected` with that replay id."""
    reviews, record, state, replay = _review_names()
    statement = f"""
        UPDATE {reviews} AS d SET {state} = o.status
        FROM unnest(%s::bigint[], %s::uuid[], %s::varchar[]) AS o(record_id, replay_id, status)
        WHERE d.{record} = o.record_id AND d.{replay} = o.replay_id AND d.{state} || '' = %s
    """
    params = [
        plain_array_literal([record_id for record_id, _, _ in outcomes]),
        plain_array_literal([replay_id for _, replay_id, _ in outcomes]),
        plain_array_literal([status for _, _, status in outcomes]),  # words: no quoting
        str(expected),
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def fetch_binary(statement: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Rows in PostgreSQL's binary format: a bytea value arrives as its bytes, not as hex text
    the server encodes and the client decodes (Django's cursors can only ask for text)."""
    import psycopg  # PostgreSQL only

    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(statement, params, binary=True)
        return cursor.fetchall()


def record_columns(columns: Sequence[str], ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """The named DeadLetterRecord columns (the headers as JSON text) of these ids, in binary format
    (a bulk republish loads each chunk's records this way).

    The headers as text, decoded by json.loads: half the cost of psycopg's jsonb loader on bytes.
    """
    pk = column(DeadLetterRecord, "pk")
    names = [pk if name == "pk" else column(DeadLetterRecord, name) for name in columns]
    names = [f"{name}::text" if field == "headers" else name for field, name in zip(columns, names, strict=True)]
    select = f"SELECT {', '.join(names)} FROM {table(DeadLetterRecord)} WHERE {pk} = ANY(%s::bigint[])"
    return fetch_binary(select, [plain_array_literal(list(ids))])
