"""Redeeming a reward (reserve: points held, stock taken, a code issued).

Functions flush; the caller's unit of work commits. The lock order and the way a
redemption's state changes are in app/rewards/reservations.py; verification at the
merchant's counter is in app/rewards/verification.py.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, case, func, insert, select, text, update

from app import ledger
from app.db_types import utcnow
from app.http.problems import ApiError
from app.localtime import local_date, local_midnight
from app.merchants.models import ACTIVE
from app.rewards.codes import new_code
from app.rewards.models import FULFILLED, RESERVED, RedemptionCode
from app.rewards.reservations import (
    MERCHANTS,
    REDEMPTIONS,
    REWARDS,
    MerchantRef,
    Reservation,
    RewardRef,
    reservation,
)
from app.sql import execute as _sql
from app.sql import on_postgresql
from app.sql import scalar as _sql_scalar


def period_start(period: str, now: datetime) -> datetime:
    """Start of the local day, ISO week (Monday) or month containing `now`."""
    today = local_date(now)
    if period == "week":
        today -= timedelta(days=today.weekday())
    elif period == "month":
        today = today.replace(day=1)
    return local_midnight(today)


def _limit_count(since=None):
    """How many of the reward's redemptions the user holds or used (since a moment)."""
    counted = (select(func.count()).select_from(REDEMPTIONS)
               .where(REDEMPTIONS.c.user_id == bindparam("uid"),
                      REDEMPTIONS.c.reward_id == REWARDS.c.id,
                      REDEMPTIONS.c.status.in_((RESERVED, FULFILLED))))
    if since is not None:
        counted = counted.where(REDEMPTIONS.c.created_at >= since)
    return counted.scalar_subquery()


def _since(period: str):
    return bindparam(period, type_=REDEMPTIONS.c.created_at.type)


# Read under the user's lock, so the limits' counts include what the previous holder of
# the lock committed. Counted only for a reward with that limit.
_FOR_REDEEM = (
    select(REWARDS.c.id, REWARDS.c.merchant_id, REWARDS.c.points_price, REWARDS.c.stock_left,
           REWARDS.c.listed_at, REWARDS.c.available_from, REWARDS.c.available_until,
           REWARDS.c.limit_total, REWARDS.c.limit_per_period, REWARDS.c.limit_period,
           REWARDS.c.title_zh, REWARDS.c.title_en, MERCHANTS.c.name.label("merchant_name"),
           MERCHANTS.c.status.label("merchant_status"),
           # The same request again (same user and key) finds its redemption here.
           select(REDEMPTIONS.c.id).where(REDEMPTIONS.c.user_id == bindparam("uid"),
                                          REDEMPTIONS.c.request_key == bindparam("key"))
           .scalar_subquery().label("done"),
           case((REWARDS.c.limit_total.is_not(None), _limit_count())).label("used_total"),
           case((REWARDS.c.limit_period == "day", _limit_count(_since("day"))),
                (REWARDS.c.limit_period == "week", _limit_count(_since("week"))),
                (REWARDS.c.limit_period == "month", _limit_count(_since("month"))),
                ).label("used_in_period"))
    .join(MERCHANTS, MERCHANTS.c.id == REWARDS.c.merchant_id)
    .where(REWARDS.c.id == bindparam("rid")))


def _request_key(reward_id: int, request_key: str) -> str:
    key = f"redeem:{reward_id}:{request_key}"
    if len(key) > 200:
        key = f"redeem:{reward_id}:sha256:{hashlib.sha256(request_key.encode()).hexdigest()}"
    return key


def _check_redeemable(reward, now: datetime) -> None:
    if reward.merchant_status != ACTIVE:
        raise ApiError(409, "This reward's merchant is suspended; it cannot be redeemed now.",
                       slug="merchant-suspended")
    if now < reward.available_from:
        raise ApiError(409, "This reward can be redeemed from "
                       f"{reward.available_from.isoformat()}.", slug="reward-not-available")
    if reward.available_until is not None and now >= reward.available_until:
        raise ApiError(409, "This reward's availability window is over.",
                       slug="reward-not-available")
    if reward.stock_left <= 0:
        raise _out_of_stock()


def _out_of_stock() -> ApiError:
    return ApiError(409, "This reward is out of stock.", slug="out-of-stock")


def _check_limits(reward) -> None:
    """Per-user limits, counted under the user's ledger lock (_FOR_REDEEM): exact."""
    for limit, used, label in ((reward.limit_total, reward.used_total, "in total"),
                               (reward.limit_per_period, reward.used_in_period,
                                f"per {reward.limit_period}")):
        if limit is not None and used >= limit:
            raise ApiError(409, f"You may redeem this reward at most {limit} time(s) {label}.",
                           slug="redemption-limit-reached")


_TAKE_STOCK = (update(REWARDS).where(REWARDS.c.id == bindparam("rid"), REWARDS.c.stock_left > 0,
                                     REWARDS.c.points_price == bindparam("points"))
               .values(stock_left=REWARDS.c.stock_left - 1))
_PRICE = select(REWARDS.c.points_price).where(REWARDS.c.id == bindparam("rid"))
_INSERT_REDEMPTION = insert(REDEMPTIONS).returning(REDEMPTIONS.c.id)
CODES = RedemptionCode.__table__
_INSERT_CODE = insert(CODES)


@lru_cache(maxsize=1)
def _redeem_in_one_statement():
    """PostgreSQL: the stock take, the hold (ledger.hold_writes: lots, hold, journal) and
    the redemption with its code filed under its owner (redemption_codes) as one
    statement, built once. The stock is taken first (lock order: the user's lock, then
    the reward row); the hold only when it was; the redemption and its code only when the
    hold's transaction was written. `rewards` is a reference table on Citus,
    redemption_codes is routed by the code, the rest are the user's rows, each named by
    user_id."""
    return text(f"""
WITH taken AS (
    UPDATE rewards SET stock_left = stock_left - 1
    WHERE id = :rid AND stock_left > 0 AND points_price = :points
    RETURNING id
), {ledger.hold_writes("taken")}, redemption AS (
    INSERT INTO redemptions (code, user_id, reward_id, merchant_id, points, hold_id, status,
        request_key, created_at, expires_at)
    SELECT :code, :uid, :rid, :merchant_id, :points, tx.hold_id, '{RESERVED}', :key,
        CAST(:now AS timestamptz), CAST(:expires_at AS timestamptz)
    FROM tx
    RETURNING id
), coded AS (
    INSERT INTO redemption_codes (code, user_id, redemption_id)
    SELECT :code, :uid, redemption.id FROM redemption
)
SELECT (SELECT id FROM taken) AS taken, (SELECT id FROM hold) AS hold_id,
       (SELECT id FROM tx) AS tx_id, (SELECT hold_id FROM tx) AS tx_hold_id,
       (SELECT id FROM redemption) AS redemption_id""")


def _stock_refusal(reward) -> ApiError:
    """Why the stock take found nothing: the price changed meanwhile, or no stock left."""
    if _sql_scalar(_PRICE, {"rid": reward.id}) != reward.points_price:
        return ApiError(409, "The price changed while redeeming; look again and retry.",
                        slug="reward-changed")
    return _out_of_stock()


def _write_redemption(book: ledger.Book, reward, values: dict[str, Any]) -> int:
    """Take one from stock (conditional: never below zero), hold the points, insert the
    redemption and file its code under its owner (redemption_codes); its id."""
    now, key = values["created_at"], values["request_key"]
    hold = {"key": key, "cause_type": "redemption", "cause_id": values["code"]}
    if on_postgresql():
        pending = ledger.hold_parameters(book, reward.points_price, now=now, **hold)
        row = _sql(_redeem_in_one_statement(),
                   {**values, **pending.parameters, "rid": reward.id, "key": key}).one()
        if row.taken is None:
            raise _stock_refusal(reward)
        if ledger.written(book, pending, row.hold_id, row.tx_id):
            values["hold_id"] = row.tx_hold_id
            return row.redemption_id
        # Taken, but the lots held points past due: the step-by-step hold expires them
        # first, as the job would, and may then find too few points (422, rolled back).
    elif _sql(_TAKE_STOCK, {"rid": reward.id, "points": reward.points_price}).rowcount != 1:
        raise _stock_refusal(reward)
    values["hold_id"] = ledger.hold(book.user_id, reward.points_price, **hold).id
    redemption_id = _sql_scalar(_INSERT_REDEMPTION, values)
    _sql(_INSERT_CODE, {"code": values["code"], "user_id": book.user_id,
                        "redemption_id": redemption_id})
    return redemption_id


def redeem(user_id: int, reward_id: int, *, request_key: str,
           now: datetime | None = None) -> Reservation:
    """Reserve one unit of a reward: hold the points, take the stock, issue a code.

    One transaction (the caller's). Refusals raise before anything is committed:
    404 unlisted, 409 suspended merchant / outside the window / out of stock / over the
    per-user limit, 422 not enough points. The same `request_key` again returns the
    redemption it made.
    """
    now = now or utcnow()
    key = _request_key(reward_id, request_key)
    # The user's lock first: the reward read after it sees the redemptions (limits, the
    # same request's twin) and the balances that the lock's previous holder committed.
    book = ledger.lock_book(user_id)
    reward = _sql(_FOR_REDEEM, {"rid": reward_id, "uid": user_id, "key": key,
                                **{p: period_start(p, now) for p in ("day", "week", "month")}}
                  ).first()
    if reward is None or reward.listed_at is None:
        raise ApiError.not_found("reward")
    if reward.done is not None:
        return reservation(user_id, reward.done)
    _check_redeemable(reward, now)
    if book.available < reward.points_price:
        raise ledger.insufficient(reward.points_price, book.available)
    _check_limits(reward)
    # The code is the hold's cause; a concurrent twin of this request, which waited for
    # the lock, found this one's redemption above.
    values = {"code": new_code(), "user_id": user_id, "reward_id": reward.id,
              "merchant_id": reward.merchant_id, "points": reward.points_price,
              "hold_id": None, "status": RESERVED, "request_key": key, "created_at": now,
              "expires_at": now + timedelta(days=current_app.config["REDEMPTION_TTL_DAYS"])}
    redemption_id = _write_redemption(book, reward, values)
    return Reservation(
        id=redemption_id, **values, ended_at=None, ended_by=None,
        reward=RewardRef(reward.id, reward.title_zh, reward.title_en,
                         MerchantRef(reward.merchant_id, reward.merchant_name)))
