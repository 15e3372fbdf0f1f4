"""Exact points: a credit's points come from the user's running totals, not from the record
alone.

Per user and conversion rate the platform keeps the grams credited and the points issued
for them (credit_totals). A credit adds its grams and is given floor(total grams × rate)
minus the points already issued under that rate: the sub-point remainders of small
records carry forward instead of being dropped one by one (twenty 1 km bus trips of
26.9 g under green_travel 2.0.0 earn the 538 points their 538 g earn, not 20 × 26 = 520).
Rounding stays downward, so the
total is never more than the grams earn.

A reversal takes back exactly what its record added, grams and points. The totals are then
those of the records still standing, and the next credit is computed from them. Taking back
a record whose points carried the remainders of earlier records can leave the issued points
one above floor(total grams × rate) (per reversal): the user's next credits earn nothing
until the grams catch up, so the totals are exact again without taking anything back.

Every function here runs under the users' ledger locks, in the transaction of the credit
or reversal it counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any

from sqlalchemy import Text, bindparam, cast, func, select, text, update

from app import ledger
from app.behaviours.models import CreditTotal
from app.sql import (
    as_json,
    execute,
    insert_rows,
    json_insert_sql,
    on_postgresql,
    one_of,
    per_database,
)

TOTALS = CreditTotal.__table__
Key = tuple[int, Decimal]  # (user id, points per gram)


def points_for(total_g: Decimal, points_per_gram: Decimal) -> int:
    """Whole points that `total_g` grams earn at the rate, rounded down."""
    with localcontext() as ctx:
        ctx.prec = 60  # exact for any Numeric(20, 3) × Numeric(12, 6)
        return int((total_g * points_per_gram).to_integral_value(rounding=ROUND_FLOOR))


def award(credits: Iterable[tuple[Any, Decimal]],
          before: dict[Key, tuple[Decimal, int]] | None = None) -> list[dict[str, Any]]:
    """Give each credited behaviour (with its rate) its points from the running totals,
    in order; the totals' rows left to write (`write`, or in the earn's journal statement:
    `rider`).

    `before`: the users' totals read under their locks already (those of this batch's
    users; a missing key has none). Without it they are read here: on PostgreSQL read and
    moved in one statement, leaving nothing to write. A behaviour's `credited_g` is set;
    its `points` are set here.
    """
    credits = list(credits)
    if not credits:
        return []
    added: dict[Key, Decimal] = {}
    for behaviour, rate in credits:
        key = (behaviour.user_id, rate)
        added[key] = added.get(key, Decimal(0)) + behaviour.credited_g
    moved = before is None and on_postgresql()
    running = _add(added) if before is None else {k: v for k, v in before.items()
                                                  if k in added}
    for behaviour, rate in credits:
        key = (behaviour.user_id, rate)
        grams, points = running.get(key, (Decimal(0), 0))
        grams += behaviour.credited_g
        behaviour.points = max(points_for(grams, rate) - points, 0)
        running[key] = (grams, points + behaviour.points)
    if moved:
        return []
    return [{"user_id": user_id, "points_per_gram": rate, "credited_g": grams,
             "points": points} for (user_id, rate), (grams, points) in running.items()]


_KEY_COLUMNS = ("user_id", "points_per_gram")
_COLUMNS = (*_KEY_COLUMNS, "credited_g", "points")


def write(rows: list[dict[str, Any]]) -> None:
    """Write the totals `award` left (their new values: the caller holds the locks)."""
    insert_rows(TOTALS, rows, update_on=_KEY_COLUMNS)


# The same write as a data-modifying query of the earn's journal statement.
_RIDER = json_insert_sql(TOTALS, _COLUMNS, param="credit_totals", update_on=_KEY_COLUMNS)


def rider(rows: list[dict[str, Any]]) -> ledger.Rider:
    """The totals' write to ride in the earn's journal statement (PostgreSQL)."""
    return ledger.Rider("credit_totals_written", _RIDER, {"credit_totals": as_json(rows)})


def read_before(found: list[list[Any]] | None) -> dict[Key, tuple[Decimal, int]]:
    """The totals as read by the POST's nearby statement ([user, rate, grams, points]
    arrays, the numbers as text: exact)."""
    return {(int(user_id), Decimal(rate)): (Decimal(grams), int(points))
            for user_id, rate, grams, points in found or ()}


@per_database
def before_statement():
    """The totals of the users bound as `all_users` as one JSON array (read_before), for
    a statement that reads them with other things."""
    return select(func.json_agg(func.json_build_array(
        TOTALS.c.user_id, cast(TOTALS.c.points_per_gram, Text),
        cast(TOTALS.c.credited_g, Text), TOTALS.c.points))).where(
        one_of(TOTALS.c.user_id, name="all_users"))


def take_back(user_id: int, points_per_gram: Decimal, grams: Decimal, points: int) -> None:
    """A reversed credit leaves the totals: what it added is subtracted, no more."""
    execute(_TAKE_BACK, {"uid": user_id, "rate": points_per_gram, "grams": grams,
                         "points": points})


_TAKE_BACK = (update(TOTALS).where(TOTALS.c.user_id == bindparam("uid"),
                                   TOTALS.c.points_per_gram == bindparam("rate"))
              .values(credited_g=TOTALS.c.credited_g - bindparam("grams"),
                      points=TOTALS.c.points - bindparam("points")))


# The totals before the batch, read and moved by the batch's grams in one statement: both
# parts see the table as it was. The points written are those of the records applied one
# by one: each leaves max(points so far, floor(grams so far × rate)), and grams only grow
# in a batch, so the last leaves max(points before, floor(grams after × rate)).
_ADD_PG = text("""
WITH new AS (
    SELECT n.user_id, n.points_per_gram, n.credited_g
    FROM json_to_recordset(CAST(:rows AS json))
        AS n(user_id bigint, points_per_gram numeric, credited_g numeric)
), old AS (
    SELECT t.user_id, t.points_per_gram, t.credited_g, t.points
    FROM credit_totals AS t JOIN new USING (user_id, points_per_gram)
), moved AS (
    INSERT INTO credit_totals (user_id, points_per_gram, credited_g, points)
    SELECT user_id, points_per_gram, credited_g, floor(credited_g * points_per_gram)
    FROM new
    ON CONFLICT (user_id, points_per_gram) DO UPDATE SET
        credited_g = credit_totals.credited_g + excluded.credited_g,
        points = greatest(credit_totals.points, floor(
            (credit_totals.credited_g + excluded.credited_g) * excluded.points_per_gram))
)
SELECT user_id, points_per_gram, credited_g, points FROM old
""").columns(*TOTALS.c)


@per_database
def _read_statement():
    return select(TOTALS).where(one_of(TOTALS.c.user_id, name="users"))


def _add(added: dict[Key, Decimal]) -> dict[Key, tuple[Decimal, int]]:
    """The totals before this batch, by key (PostgreSQL: already moved by `added`)."""
    if on_postgresql():
        rows = execute(_ADD_PG, {"rows": as_json([
            {"user_id": user_id, "points_per_gram": rate, "credited_g": grams}
            for (user_id, rate), grams in added.items()])})
    else:
        rows = execute(_read_statement(), {"users": sorted({u for u, _ in added})})
    return {(row.user_id, row.points_per_gram): (row.credited_g, row.points) for row in rows
            if (row.user_id, row.points_per_gram) in added}
