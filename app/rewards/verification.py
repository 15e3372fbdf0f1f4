"""Verifying a redemption's code at the merchant's counter (核销: points captured).

Functions flush; the caller's unit of work commits. The lock order and the way a
redemption's state changes are in app/rewards/reservations.py.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Protocol

from sqlalchemy import Select, bindparam, select, text

from app import ledger
from app.db_types import utcnow
from app.http.problems import ApiError
from app.merchants.models import ACTIVE, MerchantStaff
from app.rewards.codes import normalize_code
from app.rewards.models import FULFILLED, RESERVED, RedemptionCode
from app.rewards.reservations import (
    MERCHANTS,
    REDEMPTIONS,
    RESERVATION,
    Reservation,
    end_reservation,
    ledger_refusal,
    refusal,
    reservation_of,
)
from app.sql import execute as _sql
from app.sql import on_postgresql
from app.sql import scalar as _sql_scalar

STAFF = MerchantStaff.__table__


class HasId(Protocol):
    id: int


CODES = RedemptionCode.__table__
# The code's owner, from redemption_codes: on Citus that table is distributed by code and
# redemptions by user, so the two cannot be joined; the redemption is read in a second
# statement, among its owner's rows.
_OWNER = select(CODES.c.user_id).where(CODES.c.code == bindparam("code"))


def _named_by_code() -> Select:
    """The redemption (as RESERVATION reads it) that the code bound as `code` names, among
    the rows of its owner bound as `owner`: the one lookup by code, which every read at
    the counter goes through (after the owner's, from redemption_codes)."""
    return RESERVATION.where(REDEMPTIONS.c.user_id == bindparam("owner"),
                             REDEMPTIONS.c.code == bindparam("code"))


_BY_CODE = _named_by_code()


def _owned(owner: int | None, code: str) -> Reservation | None:
    if owner is None:
        return None
    row = _sql(_BY_CODE, {"owner": owner, "code": code}).first()
    return None if row is None else reservation_of(row)


def _by_code(code: str) -> Reservation | None:
    return _owned(_sql_scalar(_OWNER, {"code": code}), code)


_MERCHANT = MERCHANTS.alias("staff_merchant")
# The staff account's merchant and its status, with the code's owner (if any): what
# verification checks before it reads the redemption and takes the owner's lock, in one
# read (merchants and merchant_staff are reference tables, redemption_codes is routed by
# the code).
_AT_COUNTER = (
    select(_MERCHANT.c.id.label("staff_merchant_id"),
           _MERCHANT.c.status.label("staff_merchant_status"),
           _OWNER.scalar_subquery().label("owner"))
    .select_from(STAFF.join(_MERCHANT, _MERCHANT.c.id == STAFF.c.merchant_id))
    .where(STAFF.c.user_id == bindparam("staff")))


def verify_code(staff_id: int, raw_code: str, now: datetime | None = None) -> Reservation:
    """核销 by a staff account: its merchant must be active, the code this merchant's
    reserved, unexpired redemption; its points are captured."""
    now = now or utcnow()
    code = normalize_code(raw_code)
    row = _sql(_AT_COUNTER, {"staff": staff_id, "code": code or ""}).first()
    if row is None:
        raise ApiError(403, "This account is not staff of any merchant.",
                       slug="not-merchant-staff")
    if row.staff_merchant_status != ACTIVE:
        raise ApiError(403, "Your merchant is suspended; this is not possible until an "
                       "administrator reinstates it.", slug="merchant-suspended")
    redemption = _owned(row.owner, code) if code else None
    return _verify(staff_id, row.staff_merchant_id, redemption, now)


def verify(staff: HasId, merchant: HasId, raw_code: str,
           now: datetime | None = None) -> Reservation:
    """核销 for a merchant the caller has checked the staff account acts for (active)."""
    code = normalize_code(raw_code)
    return _verify(staff.id, merchant.id, _by_code(code) if code else None, now or utcnow())


def _verify(staff_id: int, merchant_id: int, redemption: Reservation | None,
            now: datetime) -> Reservation:
    if redemption is None:
        raise ApiError(404, "No redemption has this code.", slug="unknown-code")
    if redemption.merchant_id != merchant_id:
        raise ApiError(403, "This code is for another merchant's reward.",
                       slug="other-merchant")
    if redemption.user_id == staff_id:
        raise ApiError(403, "Staff cannot verify their own redemption.",
                       slug="own-redemption")
    if (refused := refusal(redemption, now)) is not None:
        raise refused
    key = f"redemption:{redemption.id}:capture"
    # Takes the user's lock; a second verifier waits here, then finds it used.
    book = ledger.lock_book(redemption.user_id)
    # Fulfilled when captured: settlement by local day and the merchant's settlement
    # account in the journal then agree on the day, even a millisecond before midnight.
    captured_at = utcnow()
    if on_postgresql() and _capture_in_one_statement(book, redemption, staff_id, key,
                                                      captured_at):
        redemption.status, redemption.ended_at = FULFILLED, captured_at
        redemption.ended_by = staff_id
        return redemption
    try:
        captured = ledger.capture(redemption.hold_id, merchant_id=merchant_id, key=key,
                                  actor_id=staff_id, user_id=redemption.user_id)
    except ApiError as err:
        raise ledger_refusal(redemption, err, now) from None
    end_reservation(redemption, FULFILLED, staff_id, captured.created_at)
    return redemption


@lru_cache(maxsize=1)
def _verify_statement():
    """The capture (ledger.capture_writes: hold, journal) and the redemption's end as one
    statement, built once; all the redemption owner's rows, named by user_id."""
    return text(f"""
WITH {ledger.capture_writes()}, fulfilled AS (
    UPDATE redemptions SET status = '{FULFILLED}', ended_at = CAST(:now AS timestamptz),
        ended_by = :staff
    FROM tx
    WHERE redemptions.user_id = :uid AND redemptions.id = :redemption_id
      AND redemptions.status = '{RESERVED}'
    RETURNING redemptions.id
)
SELECT (SELECT id FROM captured) AS captured, (SELECT id FROM tx) AS tx_id,
       (SELECT id FROM fulfilled) AS fulfilled""")


def _capture_in_one_statement(book: ledger.Book, redemption: Reservation, staff_id: int,
                              key: str, now: datetime) -> bool:
    """Capture and fulfil at once; False when the hold was no longer open as expected
    (nothing written: the step-by-step path says why)."""
    pending = ledger.capture_parameters(
        book, redemption.hold_id, redemption.points, merchant_id=redemption.merchant_id,
        key=key, cause_type="redemption", cause_id=redemption.code, now=now,
        actor_id=staff_id)
    if pending is None:
        return False
    row = _sql(_verify_statement(), {**pending.parameters, "staff": staff_id,
                                     "redemption_id": redemption.id}).one()
    if not ledger.written(book, pending, row.captured, row.tx_id):
        return False
    if row.fulfilled is None:  # its hold was open: under the lock, it is still reserved
        raise ApiError(409, "This redemption changed meanwhile.", slug="conflict")
    return True


def merchant_code(merchant: HasId, raw_code: str) -> Reservation | None:
    """The redemption a code names, if it is this merchant's (read only): what a refused
    verification shows at the counter (when it was used, when it expired)."""
    code = normalize_code(raw_code)
    redemption = _by_code(code) if code else None
    return redemption if redemption and redemption.merchant_id == merchant.id else None
