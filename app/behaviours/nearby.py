"""What judging a new behaviour needs of the user's others: the same act reported before
(a duplicate), and the same local day (plausibility counts and the daily caps).

The user's behaviours around the new records are read once per stretch of time and grown
as a batch is judged, so each record sees the ones before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Subquery, Text, bindparam, cast, literal, select

from app.behaviours.models import Behaviour
from app.sql import execute, one_of, per_database
from methodologies.base import Methodology

COUNTED = ("credited", "pending_review", "capped")  # earlier records that count for a day
# Earlier records that make a new one of the same act a duplicate: a reversed credit too,
# or the act it took back could be reported again at once and credited again. A record
# refused as claimed in another mechanism also stands for its act (its column says so).
CLAIMED = (*COUNTED, "reversed")


@dataclass
class Neighbours:
    """The user's counted behaviours that bear on a new one."""

    duplicate: Any  # an earlier record of the same act
    same_day: list  # same methodology, same local day
    credited_g_this: Decimal  # credited that local day: this methodology
    credited_g_all: Decimal  # and all methodologies


# What judging needs of an earlier behaviour (whole ORM objects cost more to load). Its
# data as stored text: judging loads it through the methodology's schema, once per text
# and process (judging.stored_record).
_NEARBY_COLUMNS = (Behaviour.id, Behaviour.user_id, Behaviour.methodology, Behaviour.source,
                   Behaviour.partner_id, Behaviour.external_id, Behaviour.status,
                   Behaviour.local_date, Behaviour.window_start, Behaviour.window_end,
                   Behaviour.dedupe_group, Behaviour.credited_g,
                   cast(Behaviour.data, Text).label("data_text"), Behaviour.claimed_elsewhere)
_STRETCH = timedelta(days=2)  # records this close in time are read together


def _near(users: str):
    return (one_of(Behaviour.user_id, name=users)
            # IN over literals: a list of values is re-rendered on every execution.
            & (Behaviour.status.in_([literal(status) for status in CLAIMED])
               | Behaviour.claimed_elsewhere.is_not(None))
            & (Behaviour.local_date.between(
                bindparam("first_day", type_=Behaviour.local_date.type),
                bindparam("last_day", type_=Behaviour.local_date.type))
               | ((Behaviour.window_start <= bindparam("last", type_=Behaviour.window_start.type))
                  & (Behaviour.window_end >= bindparam("first",
                                                       type_=Behaviour.window_end.type)))))


@per_database
def _nearby_statement():
    return select(*_NEARBY_COLUMNS).where(_near("users"))


_carrying_statements: dict[Any, Any] = {}


def _carrying_statement(carried: Subquery):
    """The nearby read with one more row's columns (`carried`, a one-row subquery) in
    front: its columns on every row, and one row of them (the rest NULL) when there is no
    neighbour."""
    stmt = _carrying_statements.get(carried)
    if stmt is None:
        stmt = _carrying_statements[carried] = select(
            *carried.c, *_NEARBY_COLUMNS).select_from(
            carried.outerjoin(Behaviour.__table__, _near("users")))
    return stmt


class Nearby:
    """The counted behaviours of some users around some times, grown as a batch is judged.

    Read with one query per stretch of time the records cover (a day's trips: one query),
    so a batch spread over months never reads its users' whole histories at once.
    """

    def __init__(self) -> None:
        self.by_user: dict[int, list[Any]] = {}  # each user's, oldest first

    @classmethod
    def read(cls, spans: list[tuple[int, date, datetime, datetime]],
             carried: Subquery | None = None, params: dict[str, Any] | None = None
             ) -> tuple[Nearby, Row | None]:
        """The neighbours of the spans (user, local day, first and last moment), and the
        row of `carried` (a one-row subquery taking `params`) when given: its columns ride
        in the first read, or are read alone when there is no span."""
        found: dict[int, Any] = {}  # by id: stretches can overlap
        extra = None
        spans = sorted(spans, key=lambda s: s[2])
        i = 0
        while i < len(spans):
            j = i
            while j < len(spans) and spans[j][2] - spans[i][2] <= _STRETCH:
                j += 1
            stretch = spans[i:j]
            users = sorted({s[0] for s in stretch})
            first_day, last_day = min(s[1] for s in stretch), max(s[1] for s in stretch)
            first, last = min(s[2] for s in stretch), max(s[3] for s in stretch)
            values = {"users": users, "first_day": first_day, "last_day": last_day,
                      "first": first, "last": last}
            if carried is None:
                rows = execute(_nearby_statement(), values).all()
            else:
                rows = execute(_carrying_statement(carried), {**values, **params}).all()
                extra, carried = rows[0], None
                rows = [row for row in rows if row.id is not None]
            found.update((row.id, row) for row in rows)
            i = j
        if carried is not None:
            extra = execute(select(carried), params).one()
        nearby = cls()
        for _, row in sorted(found.items()):
            nearby.by_user.setdefault(row.user_id, []).append(row)
        return nearby, extra

    def add(self, behaviour: Any) -> None:
        """A behaviour judged in this batch: the later ones see it."""
        self.by_user.setdefault(behaviour.user_id, []).append(behaviour)

    def credited_act(self, new: Any, cls: type[Methodology],
                     tolerance: timedelta = timedelta(0)) -> Any:
        """An earlier record of the same act credited or awaiting review, if there is one."""
        return next((b for b in self.by_user.get(new.user_id, ()) if b is not new
                     and b.status in ("credited", "pending_review")
                     and b.methodology == new.methodology
                     and _one_act(b, new, cls, tolerance)), None)

    def around(self, new: Any, cls: type[Methodology],
               tolerance: timedelta = timedelta(0)) -> Neighbours:
        """Same user and local day, or the same act (a trip across midnight)."""
        rows = [b for b in self.by_user.get(new.user_id, ()) if b is not new]
        duplicate = next((b for b in rows if (b.status in CLAIMED or b.claimed_elsewhere)
                          and b.methodology == new.methodology
                          and _one_act(b, new, cls, tolerance)), None)
        that_day = [b for b in rows if b.status in COUNTED and b.local_date == new.local_date]
        credited = [b for b in that_day if b.status == "credited"]
        return Neighbours(
            duplicate=duplicate,
            same_day=[b for b in that_day if b.methodology == new.methodology],
            credited_g_this=sum((b.credited_g or Decimal(0) for b in credited
                                 if b.methodology == new.methodology), Decimal(0)),
            credited_g_all=sum((b.credited_g or Decimal(0) for b in credited), Decimal(0)))


def _one_act(a: Any, b: Any, cls: type[Methodology], tolerance: timedelta) -> bool:
    # A record of a group that takes no time (a day's step count) is matched only within
    # its own group, like any act that takes none.
    timed = cls.takes_time(a.dedupe_group, b.dedupe_group)
    return ((timed or a.dedupe_group == b.dedupe_group)
            and same_act(a, b, timed, tolerance))


def same_act(a: Any, b: Any, occupies_time: bool,
             tolerance: timedelta = timedelta(0)) -> bool:
    """Whether two records of one user and methodology are one act reported twice.

    An act that takes the person's time (a trip; Methodology.occupies_time, except the
    groups in Methodology.timeless_groups, such as a day's step count), whatever the
    mode each record names (a person makes one trip at a time): two spans are one act if
    they overlap (trips that only touch, a change from bus to metro, are two), and an
    instant (a tap-in or tap-out time) is the act of a span of another mode it falls
    strictly inside. Of the same mode, an instant is the act of a span or instant it lies
    within `tolerance` of when the two come from different sources (a card's tap-in at
    08:00 and a map app's trip end at 08:40), and ends included when from the same one: a
    partner's own taps are its own account of separate trips.

    Any other act (group: the record's kind): the same time from another source, for one
    partner's records under different external ids are two acts by its own account (two
    invoices issued in the same second); the same id again is a resend, answered before
    judging.
    """
    if occupies_time:
        overlap = a.window_start < b.window_end and b.window_start < a.window_end
        if not (a.window_start == a.window_end or b.window_start == b.window_end):
            return overlap
        if a.dedupe_group != b.dedupe_group:
            return overlap
        slack = timedelta(0) if _same_source(a, b) else tolerance
        return (a.window_start - slack <= b.window_end
                and b.window_start - slack <= a.window_end)
    if a.dedupe_group != b.dedupe_group:
        return False
    return ((a.window_start, a.window_end) == (b.window_start, b.window_end)
            and not (a.partner_id is not None and a.partner_id == b.partner_id
                     and a.external_id != b.external_id))


def _same_source(a: Any, b: Any) -> bool:
    return a.source == b.source and a.partner_id == b.partner_id
