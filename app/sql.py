"""Small SQL helpers that must behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    Table,
    any_,
    bindparam,
    case,
    cast,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.localtime import local_midnight


def execute(stmt, params=None):
    """Core execution on the session's connection: same transaction, no ORM overhead.

    For hot paths (the ledger, redemption) where the ORM's per-statement work costs more
    than the round trip it wraps.
    """
    return db.session.connection().execute(stmt, params)


def scalar(stmt, params=None):
    return execute(stmt, params).scalar()


def on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def one_of(column, values: Iterable[Any] | None = None, *, name: str | None = None):
    """`column IN (values)` for a long list (a batch's users or ids).

    PostgreSQL gets `= ANY` of one array parameter: the statement stays the same whatever
    the count, where an IN list makes the driver and the server parse one parameter per
    value. SQLite gets the IN list. With `name` instead of values, the list is bound when
    the statement runs (for statements built once per database kind).
    """
    value = {} if name else {"value": list(values)}
    if on_postgresql():
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type), **value))
    return column.in_(bindparam(name, expanding=True, **value))


def dialect_insert(table):
    """An INSERT of this database's dialect, for its ON CONFLICT clauses."""
    return (postgresql if on_postgresql() else sqlite).insert(table)


def insert_ignoring_conflicts(model: type, rows: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: a concurrent creator of the same row wins quietly.

    Used instead of a SAVEPOINT, which pysqlite's implicit transactions make unreliable.
    """
    insert_rows(model.__table__, rows, ignore_conflicts=True)


def insert_rows(table: Table, rows: list[dict[str, Any]], *, ignore_conflicts: bool = False,
                update_on: tuple[str, ...] | None = None) -> None:
    """The one way a hot path writes rows past the ORM: insert many rows (all with the
    same keys) without reading anything back, the same on both databases.

    `ignore_conflicts`: a row that conflicts is skipped. `update_on`: a row that conflicts
    on these columns (a unique key) replaces the other columns' values (an upsert of
    values the caller computed under its locks).

    PostgreSQL gets one statement and one parameter, the rows as a JSON array that the
    server turns back into rows of the table's type (json_insert_sql): the statement does
    not grow with the row count, so neither the driver nor the server parses thousands of
    parameters (a multi-row VALUES list does, and costs more than the insert itself).
    SQLite gets an executemany. A statement that must write more than one table at once
    on PostgreSQL puts json_insert_sql's text in a WITH query (a journal rider). An ORM
    object for a row written this way comes from `as_written`.
    """
    if not rows:
        return
    names = tuple(rows[0])
    if not on_postgresql():
        stmt = dialect_insert(table)
        if ignore_conflicts:
            stmt = stmt.on_conflict_do_nothing()
        elif update_on:
            stmt = stmt.on_conflict_do_update(index_elements=list(update_on), set_={
                name: stmt.excluded[name] for name in names if name not in update_on})
        execute(stmt, rows)
        return
    execute(_json_insert(table, names, ignore_conflicts, update_on), {"rows": as_json(rows)})


def json_insert_sql(table: Table, names: tuple[str, ...], *, param: str = "rows",
                    ignore_conflicts: bool = False,
                    update_on: tuple[str, ...] | None = None) -> str:
    """PostgreSQL: the INSERT of insert_rows, its rows the JSON array bound as `param`."""
    columns = ", ".join(names)
    sql = (f"INSERT INTO {table.name} ({columns}) SELECT {columns} "
           f"FROM json_populate_recordset(NULL::{table.name}, CAST(:{param} AS json))")
    if ignore_conflicts:
        return sql + " ON CONFLICT DO NOTHING"
    if update_on:
        return sql + (f" ON CONFLICT ({', '.join(update_on)}) DO UPDATE SET "
                      + ", ".join(f"{name} = excluded.{name}" for name in names
                                  if name not in update_on))
    return sql


@lru_cache(maxsize=64)
def _json_insert(table: Table, names: tuple[str, ...], ignore_conflicts: bool,
                 update_on: tuple[str, ...] | None):
    return text(json_insert_sql(table, names, ignore_conflicts=ignore_conflicts,
                                update_on=update_on))


def as_written(model: type, values: dict[str, Any], **attributes: Any) -> Any:
    """An instance of `model` for a row written past the ORM (insert_rows), every column
    given in `values`: nothing left to load, never added to a session (to change the row,
    read it again). Made without the ORM's instance bookkeeping, which costs more than
    the insert on a hot path. `attributes`: loaded relationships, by name."""
    instance = model.__mapper__.class_manager.new_instance()
    instance.__dict__.update(values, **attributes)
    return instance


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value")


def as_json(rows: list[dict[str, Any]]) -> str:
    """Rows as one JSON document for PostgreSQL's json_populate_recordset/json_to_recordset.

    Datetimes (aware only), dates and decimals travel as their text forms, which the
    server parses exactly; a None is SQL NULL (JSON columns included).
    """
    return json.dumps(rows, default=_json_value, separators=(",", ":"))


_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")
_DEFAULT_PLANS = text("SET LOCAL plan_cache_mode = DEFAULT")


@contextmanager
def planned_for_its_values() -> Iterator[None]:
    """PostgreSQL plans the statements inside for the values they are given, never with a
    generic plan.

    For a statement whose best plan depends on a long array's contents: a generic plan,
    which cannot see them, may be chosen while a table is small and then kept by the
    connection. Two were: a partner's earlier records, and its links, filtered row by row
    against all of a batch's external ids or user references, a cost that grew with the
    partner's history. Not for the big JSON writes, which cost more to plan with their
    documents inlined.
    """
    if not on_postgresql():
        yield
        return
    execute(_CUSTOM_PLANS)
    yield
    execute(_DEFAULT_PLANS)  # not reached on an error: the transaction is rolled back


_NEXTVAL = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                "FROM generate_series(1, :count)")


def new_ids(table: Table, count: int) -> list[int]:
    """`count` unused primary keys of `table`, for rows that others must point to first.

    SQLite: the next ids after the largest, which holds only while this transaction has
    the database's write lock (take it first: the ledger's lock does).
    """
    if count == 0:
        return []
    if on_postgresql():
        return sorted(execute(_NEXTVAL, {"table": table.name, "count": count}).scalars())
    last = scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0
    return list(range(last + 1, last + 1 + count))


def per_database(build):
    """Memoise a statement builder per database kind (its clauses differ, see one_of)."""
    built: dict[bool, Any] = {}

    def statement():
        postgres = on_postgresql()
        if postgres not in built:
            built[postgres] = build()
        return built[postgres]

    return statement


def count_rows(stmt: Select) -> int:
    """How many rows a listing statement (as the services build them) matches."""
    return db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))


def _epoch_seconds(column):
    if on_postgresql():
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    # SQLite keeps UTC moments as naive text; '%s' reads them as UTC, whole seconds.
    return cast(func.strftime("%s", column), Integer)


def local_day_number(column, date_from: date, date_to: date):
    """SQL for the local day (TIMEZONE) on which the UTC moment in `column` falls, counted
    from `date_from` (0) to `date_to`; moments after the period get numbers past it.

    Grouping by it keeps a report's rows to one per local day, whatever the row count, on
    both databases: days of one length (DST makes some 23 or 25 hours) are a span in which
    the day is whole seconds since the span's first midnight, divided by that length. Only
    moments from `date_from`'s midnight on are numbered right (the division truncates):
    filter the others out. Group by it from a subquery: PostgreSQL matches a GROUP BY
    expression to the SELECT's only when their parameters are the same, which a
    subquery's column needs not.
    """
    days = (date_to - date_from).days + 1
    # In UTC: aware datetimes of one zone subtract as wall-clock times, DST ignored.
    midnights = [local_midnight(date_from + timedelta(days=i)).astimezone(UTC)
                 for i in range(days + 1)]
    lengths = [int((b - a).total_seconds()) for a, b in zip(midnights, midnights[1:],
                                                            strict=False)]
    spans: list[tuple[int, int]] = []  # (first day, length) of each run of equal days
    for i, length in enumerate(lengths):
        if not spans or spans[-1][1] != length:
            spans.append((i, length))
    seconds = _epoch_seconds(column)

    def numbered(first: int, length: int):
        start = int(midnights[first].timestamp())
        return first + (seconds - start) // length

    if len(spans) == 1:
        return numbered(*spans[0])
    whens = [(column < midnights[nxt[0]], numbered(*span))
             for span, nxt in zip(spans, spans[1:], strict=False)]
    return case(*whens, else_=numbered(*spans[-1]))
