"""Redeeming a reward (reserve: points held, stock taken, a code issued) and verifying
its code at the merchant's counter (核销: points captured).

Functions flush; the caller's unit of work commits. The lock order and the way a
redemption's state changes are in app/rewards/reservations.py.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, func, insert, literal, select, update

from app import ledger
from app.db_types import utcnow
from app.http.problems import ApiError
from app.localtime import local_date, local_midnight
from app.merchants.models import ACTIVE, Merchant
from app.rewards.codes import new_code, normalize_code
from app.rewards.models import FULFILLED, RESERVED, RedemptionCode
from app.rewards.reservations import (
    MERCHANTS,
    REDEMPTIONS,
    REWARDS,
    MerchantRef,
    Reservation,
    RewardRef,
    end_reservation,
    find_reservation,
    ledger_refusal,
    refusal,
    reservation,
)
from app.sql import execute as _sql
from app.sql import on_postgresql
from app.sql import scalar as _sql_scalar
from app.users.models import User


def period_start(period: str, now: datetime) -> datetime:
    """Start of the local day, ISO week (Monday) or month containing `now`."""
    today = local_date(now)
    if period == "week":
        today -= timedelta(days=today.weekday())
    elif period == "month":
        today = today.replace(day=1)
    return local_midnight(today)


_FOR_REDEEM = (
    select(REWARDS.c.id, REWARDS.c.merchant_id, REWARDS.c.points_price, REWARDS.c.stock_left,
           REWARDS.c.listed_at, REWARDS.c.available_from, REWARDS.c.available_until,
           REWARDS.c.limit_total, REWARDS.c.limit_per_period, REWARDS.c.limit_period,
           REWARDS.c.title_zh, REWARDS.c.title_en, MERCHANTS.c.name.label("merchant_name"),
           MERCHANTS.c.status.label("merchant_status"),
           # The same request again (same user and key) finds its redemption here.
           select(REDEMPTIONS.c.id).where(REDEMPTIONS.c.user_id == bindparam("uid"),
                                          REDEMPTIONS.c.request_key == bindparam("key"))
           .scalar_subquery().label("done"))
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


def _check_limits(user_id: int, reward, now: datetime) -> None:
    """Per-user limits; called under the user's ledger lock, so the count is exact."""
    checks = []
    if reward.limit_total is not None:
        checks.append((reward.limit_total, None, "in total"))
    if reward.limit_per_period is not None:
        checks.append((reward.limit_per_period, period_start(reward.limit_period, now),
                       f"per {reward.limit_period}"))
    for limit, since, label in checks:
        stmt = select(func.count()).select_from(REDEMPTIONS).where(
            REDEMPTIONS.c.user_id == user_id, REDEMPTIONS.c.reward_id == reward.id,
            REDEMPTIONS.c.status.in_((RESERVED, FULFILLED)))
        if since is not None:
            stmt = stmt.where(REDEMPTIONS.c.created_at >= since)
        if _sql_scalar(stmt) >= limit:
            raise ApiError(409, f"You may redeem this reward at most {limit} time(s) {label}.",
                           slug="redemption-limit-reached")


def _take_stock(reward_id: int, price: int):
    return (update(REWARDS).where(REWARDS.c.id == reward_id, REWARDS.c.stock_left > 0,
                                  REWARDS.c.points_price == price)
            .values(stock_left=REWARDS.c.stock_left - 1))


CODES = RedemptionCode.__table__


def _insert_taking_stock(values: dict[str, Any], reward_id: int, price: int) -> int | None:
    """Take one from stock (conditional: never below zero), insert the redemption and
    file its code under its owner (redemption_codes).

    PostgreSQL does all three in one statement; elsewhere three. None: no stock was taken.
    """
    code_columns = [CODES.c.code.name, CODES.c.user_id.name, CODES.c.redemption_id.name]
    if on_postgresql():
        taken = _take_stock(reward_id, price).returning(REWARDS.c.id).cte("taken")
        columns = list(values)
        row = select(*(literal(values[c], REDEMPTIONS.c[c].type) for c in columns)) \
            .select_from(taken)
        redeemed = (insert(REDEMPTIONS).from_select(columns, row)
                    .returning(REDEMPTIONS.c.id, REDEMPTIONS.c.code, REDEMPTIONS.c.user_id)
                    .cte("redeemed"))
        coded = insert(CODES).from_select(code_columns, select(
            redeemed.c.code, redeemed.c.user_id, redeemed.c.id)).cte("coded")
        return _sql_scalar(select(redeemed.c.id).add_cte(coded))
    if _sql(_take_stock(reward_id, price)).rowcount != 1:
        return None
    redemption_id = _sql_scalar(insert(REDEMPTIONS).values(**values)
                                .returning(REDEMPTIONS.c.id))
    _sql(insert(CODES).values(code=values["code"], user_id=values["user_id"],
                              redemption_id=redemption_id))
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
    reward = _sql(_FOR_REDEEM, {"rid": reward_id, "uid": user_id, "key": key}).first()
    if reward is None or reward.listed_at is None:
        raise ApiError.not_found("reward")
    if reward.done is not None:
        return reservation(user_id, reward.done)
    _check_redeemable(reward, now)
    code = new_code()
    # 1. The user's lock, the points check and the hold (ledger.hold does all three). The
    # code is the hold's cause; a concurrent twin of this request fails on the ledger key.
    held = ledger.hold(user_id, reward.points_price, key=key, cause_type="redemption",
                       cause_id=code)
    _check_limits(user_id, reward, now)
    # 2. Then the reward row (stock) and the redemption row.
    values = {"code": code, "user_id": user_id, "reward_id": reward.id,
              "merchant_id": reward.merchant_id, "points": reward.points_price,
              "hold_id": held.id, "status": RESERVED, "request_key": key, "created_at": now,
              "expires_at": now + timedelta(days=current_app.config["REDEMPTION_TTL_DAYS"])}
    redemption_id = _insert_taking_stock(values, reward.id, reward.points_price)
    if redemption_id is None:
        price = _sql_scalar(select(REWARDS.c.points_price).where(REWARDS.c.id == reward.id))
        if price != reward.points_price:
            raise ApiError(409, "The price changed while redeeming; look again and retry.",
                           slug="reward-changed")
        raise _out_of_stock()
    return Reservation(
        id=redemption_id, **values, ended_at=None, ended_by=None,
        reward=RewardRef(reward.id, reward.title_zh, reward.title_en,
                         MerchantRef(reward.merchant_id, reward.merchant_name)))


def _by_code(raw_code: str) -> Reservation | None:
    """The redemption a typed or scanned code names: its owner from redemption_codes,
    then the redemption among the owner's."""
    code = normalize_code(raw_code)
    owner = _sql_scalar(select(CODES.c.user_id).where(CODES.c.code == code)) if code else None
    if owner is None:
        return None
    return find_reservation((REDEMPTIONS.c.user_id == owner) & (REDEMPTIONS.c.code == code))


def verify(staff: User, merchant: Merchant, raw_code: str,
           now: datetime | None = None) -> Reservation:
    """核销: fulfil a reserved, unexpired redemption of this merchant; capture its points."""
    now = now or utcnow()
    redemption = _by_code(raw_code)
    if redemption is None:
        raise ApiError(404, "No redemption has this code.", slug="unknown-code")
    if redemption.merchant_id != merchant.id:
        raise ApiError(403, "This code is for another merchant's reward.",
                       slug="other-merchant")
    if redemption.user_id == staff.id:
        raise ApiError(403, "Staff cannot verify their own redemption.",
                       slug="own-redemption")
    if (refused := refusal(redemption, now)) is not None:
        raise refused
    try:  # takes the user's lock; a second verifier waits here, then finds it used
        captured = ledger.capture(redemption.hold_id, merchant_id=merchant.id,
                                  key=f"redemption:{redemption.id}:capture", actor_id=staff.id,
                                  user_id=redemption.user_id)
    except ApiError as err:
        raise ledger_refusal(redemption, err, now) from None
    # Fulfilled when captured: settlement by local day and the merchant's settlement
    # account in the journal then agree on the day, even a millisecond before midnight.
    end_reservation(redemption, FULFILLED, staff.id, captured.created_at)
    return redemption


def merchant_code(merchant: Merchant, raw_code: str) -> Reservation | None:
    """The redemption a code names, if it is this merchant's (read only): what a refused
    verification shows at the counter (when it was used, when it expired)."""
    redemption = _by_code(raw_code)
    return redemption if redemption and redemption.merchant_id == merchant.id else None
