"""Catalogue, approval, redemption, verification (核销), expiry and settlement.

Functions flush; the caller's unit of work commits. Lock order, everywhere: the
user's ledger lock first (ledger.hold / capture / release take it), then the
redemption row, then the reward row (stock). Nothing holds a reward row and then waits
for a user, so redemptions cannot deadlock. Every redemption state change is a
conditional UPDATE (`WHERE status = 'reserved'`) under the user's lock, so it happens
exactly once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from flask import current_app
from sqlalchemy import Select, bindparam, func, insert, literal, select, update
from sqlalchemy.orm import contains_eager, selectinload

from app.audit import service as audit
from app.db_types import utcnow
from app.extensions import db
from app.http.moments import utc_bounds
from app.http.pagination import paged, paginate
from app.http.problems import ApiError
from app.ledger import service as ledger
from app.localtime import local_date, local_midnight, local_zone
from app.merchants.models import ACTIVE, Merchant
from app.rewards.models import (
    APPROVED,
    CANCELLED,
    EXPIRED,
    FULFILLED,
    PENDING,
    REJECTED,
    RESERVED,
    REVIEWED_FIELDS,
    SUPERSEDED,
    Redemption,
    RedemptionCode,
    Reward,
    RewardRevision,
)
from app.sql import execute as _sql
from app.sql import on_postgresql
from app.sql import scalar as _sql_scalar
from app.users.models import User

# Crockford base32 without I, L, O, U: no look-alikes, safe in QR alphanumeric mode.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12  # 60 bits
_CODE_READS = str.maketrans({"O": "0", "I": "1", "L": "1"})
MAX_SETTLEMENT_DAYS = 366


def _not_found(what: str = "reward") -> ApiError:
    return ApiError.not_found(what)


def _conflict(detail: str, slug: str) -> ApiError:
    return ApiError(409, detail, slug=slug)


# -- codes ------------------------------------------------------------------------------

def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str) -> str | None:
    """The stored form of a typed or scanned code, or None if it cannot be one."""
    code = "".join(raw.split()).replace("-", "").upper().translate(_CODE_READS)
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return code


# -- time -------------------------------------------------------------------------------

def period_start(period: str, now: datetime) -> datetime:
    """Start of the local day, ISO week (Monday) or month containing `now`."""
    today = local_date(now)
    if period == "week":
        today -= timedelta(days=today.weekday())
    elif period == "month":
        today = today.replace(day=1)
    return local_midnight(today)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


# -- catalogue (citizens) ---------------------------------------------------------------

REWARDS, REDEMPTIONS, MERCHANTS = Reward.__table__, Redemption.__table__, Merchant.__table__
CODES = RedemptionCode.__table__


# What citizens see: listed rewards of active merchants (the catalogue and a single reward).
_LISTED = (REWARDS.c.listed_at.is_not(None), MERCHANTS.c.status == ACTIVE)


def _visible() -> Select:
    return (select(Reward).join(Reward.merchant).options(contains_eager(Reward.merchant))
            .where(*_LISTED))


# The catalogue is the read citizens make most. It selects the columns RewardSchema dumps
# as plain rows: loading a Reward and a Merchant instance per row cost more than the
# round trip. A single reward (listed_reward) stays an ORM read.
_LISTING = (select(REWARDS.c.id, REWARDS.c.merchant_id, MERCHANTS.c.name.label("merchant_name"),
                   REWARDS.c.category, REWARDS.c.title_zh, REWARDS.c.title_en,
                   REWARDS.c.description, REWARDS.c.image_url, REWARDS.c.points_price,
                   REWARDS.c.total_stock, REWARDS.c.stock_left, REWARDS.c.limit_total,
                   REWARDS.c.limit_per_period, REWARDS.c.limit_period, REWARDS.c.available_from,
                   REWARDS.c.available_until, REWARDS.c.listed_at)
            .join(MERCHANTS, MERCHANTS.c.id == REWARDS.c.merchant_id).where(*_LISTED))
_CATALOGUE_ORDER = {"newest": (REWARDS.c.listed_at.desc(), REWARDS.c.id.desc()),
                    "price_asc": (REWARDS.c.points_price, REWARDS.c.id),
                    "price_desc": (REWARDS.c.points_price.desc(), REWARDS.c.id)}


def _listing(row) -> dict[str, Any]:
    """A catalogue row as RewardSchema reads it: the merchant nested, as on a Reward."""
    listing = row._asdict()
    listing["merchant"] = {"id": listing["merchant_id"], "name": listing.pop("merchant_name")}
    return listing


@cache
def _catalogue_statement(sort: str, category: bool, merchant: bool,
                         affordable: bool | None) -> Select:
    """The catalogue's statement for one combination of filters and sort, built once (36 at
    most), its values bound at each read: building it on every read, and computing its cache
    key afresh, cost more than running it."""
    until = REWARDS.c.available_until
    stmt = _LISTING.where(until.is_(None) | (until > bindparam("now", type_=until.type)))
    if category:
        stmt = stmt.where(REWARDS.c.category == bindparam("category"))
    if merchant:
        stmt = stmt.where(REWARDS.c.merchant_id == bindparam("merchant_id"))
    if affordable is not None:
        available = bindparam("available", type_=REWARDS.c.points_price.type)
        stmt = stmt.where((REWARDS.c.points_price <= available) if affordable
                          else (REWARDS.c.points_price > available))
    return paged(stmt.order_by(*_CATALOGUE_ORDER[sort]))


def catalogue(page_args: dict[str, Any], *, user_id: int, category: str | None = None,
              merchant_id: int | None = None, affordable: bool | None = None,
              sort: str = "newest", now: datetime | None = None) -> dict[str, Any]:
    """One page of the listed rewards of active merchants whose window has not ended."""
    params: dict[str, Any] = {"now": now or utcnow()}
    if category:
        params["category"] = category
    if merchant_id:
        params["merchant_id"] = merchant_id
    if affordable is not None:
        params["available"] = ledger.available(user_id)
    stmt = _catalogue_statement(sort, bool(category), bool(merchant_id), affordable)
    page = paginate(stmt, page_args, scalars=False, params=params)
    page["items"] = [_listing(row) for row in page["items"]]
    return page


def listed_reward(reward_id: int) -> Reward:
    reward = db.session.scalar(_visible().where(Reward.id == reward_id))
    if reward is None:
        raise _not_found()
    return reward


# -- catalogue (merchants and administrators) -------------------------------------------

def managed_rewards(*, merchant_id: int | None = None, listed: bool | None = None,
                    pending: bool | None = None) -> Select:
    stmt = select(Reward).options(selectinload(Reward.pending_revisions)).order_by(
        Reward.id.desc())
    if merchant_id is not None:
        stmt = stmt.where(Reward.merchant_id == merchant_id)
    if listed is not None:
        stmt = stmt.where(Reward.listed_at.is_not(None) if listed else Reward.listed_at.is_(None))
    if pending is not None:
        has = Reward.pending_revisions.any()
        stmt = stmt.where(has if pending else ~has)
    return stmt


def managed_reward(reward_id: int, merchant: Merchant | None = None) -> Reward:
    """A reward by id; with `merchant`, only one of that merchant's (others: 404)."""
    reward = db.session.get(Reward, reward_id)
    if reward is None or (merchant is not None and reward.merchant_id != merchant.id):
        raise _not_found()
    return reward


def _reviewed_values(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) if isinstance(v, datetime) else v
            for k, v in data.items() if k in REVIEWED_FIELDS}


def _propose(reward: Reward, kind: str, changes: dict[str, Any], actor: User,
             now: datetime) -> RewardRevision | None:
    """Replace the pending revision (if any) by one with `changes` (none if empty).

    The proposer decides the superseded one: their new edit replaced it.
    """
    db.session.execute(update(RewardRevision).where(
        RewardRevision.reward_id == reward.id, RewardRevision.status == PENDING)
        .values(status=SUPERSEDED, decided_by=actor.id, decided_at=now))
    revision = None
    if changes:
        revision = RewardRevision(reward_id=reward.id, kind=kind, status=PENDING,
                                  changes=changes, proposed_by=actor.id, proposed_at=now)
        db.session.add(revision)
    db.session.flush()
    db.session.expire(reward, ["pending_revisions"])
    return revision


def create_reward(actor: User, merchant: Merchant, data: dict[str, Any],
                  now: datetime | None = None) -> Reward:
    """A new reward: unlisted until an administrator approves it."""
    now = now or utcnow()
    data = dict(data)
    data.setdefault("available_from", now)
    _check_window(data["available_from"], data.get("available_until"), now)
    reward = Reward(merchant_id=merchant.id, created_by=actor.id, created_at=now,
                    stock_left=data["total_stock"], **data)
    db.session.add(reward)
    db.session.flush()
    _propose(reward, "create", _reviewed_values(
        {k: getattr(reward, k) for k in REVIEWED_FIELDS}), actor, now)
    return reward


def _check_window(start: datetime, end: datetime | None, now: datetime) -> None:
    if end is not None and end <= start:
        raise ApiError(422, "available_until must be after available_from.",
                       slug="validation-error",
                       errors={"available_until": ["Must be after available_from."]})
    if end is not None and end <= now:
        raise ApiError(422, "The availability window is already over.",
                       slug="validation-error",
                       errors={"available_until": ["Must be in the future."]})


def _redeemed_count(reward: Reward) -> int:
    return reward.total_stock - reward.stock_left


def _apply_at_once(actor: User, reward: Reward, values: dict[str, Any]) -> None:
    """Set fields that need no approval. No revision records these, so the audit log does:
    who changed which fields, from what to what."""
    changed = {k: v for k, v in values.items() if getattr(reward, k) != v}
    if not changed:
        return
    previous = {k: getattr(reward, k) for k in changed}
    for key, value in changed.items():
        setattr(reward, key, value)
    audit.record(actor.id, "reward.updated", "reward", reward.id, changes=changed,
                 previous=previous)


def update_reward(actor: User, merchant: Merchant, reward_id: int, data: dict[str, Any],
                  now: datetime | None = None) -> Reward:
    """Edit a reward. Reviewed fields of a listed reward wait for approval; others apply now.

    An unlisted reward takes every edit at once and is (re)submitted for approval whole.
    """
    now = now or utcnow()
    reward = db.session.scalar(select(Reward).where(Reward.id == reward_id)
                            .with_for_update(key_share=True))
    if reward is None or reward.merchant_id != merchant.id:
        raise _not_found()
    direct = {k: v for k, v in data.items() if k not in REVIEWED_FIELDS}
    reviewed = {k: v for k, v in data.items() if k in REVIEWED_FIELDS}
    if not reward.listed:
        start = reviewed.get("available_from", reward.available_from)
        end = reviewed.get("available_until", reward.available_until)
        _check_window(start, end, now)
        _apply_at_once(actor, reward, direct)
        for key, value in reviewed.items():  # recorded by the revision proposed below
            setattr(reward, key, value)
        reward.stock_left = reward.total_stock
        db.session.flush()
        _propose(reward, "create", _reviewed_values(
            {k: getattr(reward, k) for k in REVIEWED_FIELDS}), actor, now)
        return reward
    _apply_at_once(actor, reward, direct)
    if reviewed:
        pending = reward.pending
        merged = dict(pending.changes) if pending else {}
        merged.update(_reviewed_values(reviewed))
        listed = _reviewed_values({k: getattr(reward, k) for k in REVIEWED_FIELDS})
        merged = {k: v for k, v in merged.items() if _from_json(k, v) != _from_json(k, listed[k])}
        proposed = {k: _from_json(k, merged.get(k, listed[k])) for k in REVIEWED_FIELDS}
        if "available_from" in merged or "available_until" in merged:
            _check_window(proposed["available_from"], proposed["available_until"], now)
        if proposed["total_stock"] < _redeemed_count(reward):
            raise ApiError(422, f"{_redeemed_count(reward)} are already reserved or redeemed; "
                           "the stock cannot be lower.", slug="validation-error",
                           errors={"total_stock": ["Below what is already redeemed."]})
        _propose(reward, "change", merged, actor, now)
    db.session.flush()
    return reward


def _from_json(key: str, value: Any) -> Any:
    return _from_iso(value) if key in ("available_from", "available_until") else value


def revisions(*, status: str | None = None, merchant_id: int | None = None,
              reward_id: int | None = None) -> Select:
    stmt = select(RewardRevision).order_by(RewardRevision.id)
    if status:
        stmt = stmt.where(RewardRevision.status == status)
    if reward_id is not None:
        stmt = stmt.where(RewardRevision.reward_id == reward_id).order_by(None).order_by(
            RewardRevision.id.desc())
    if merchant_id is not None:
        stmt = stmt.join(RewardRevision.reward).where(Reward.merchant_id == merchant_id)
    return stmt


def _claim_revision(actor: User, revision_id: int, status: str, now: datetime,
                    reason: str | None = None) -> RewardRevision:
    revision = db.session.get(RewardRevision, revision_id)
    if revision is None:
        raise _not_found("revision")
    # The reward's row before the revision's, the order of an edit (which supersedes the
    # pending revision under it): the other order deadlocked with an edit of the reward.
    db.session.execute(select(Reward.id).where(Reward.id == revision.reward_id)
                       .with_for_update(key_share=True))
    claimed = db.session.execute(update(RewardRevision).where(
        RewardRevision.id == revision_id, RewardRevision.status == PENDING)
        .values(status=status, decided_by=actor.id, decided_at=now, reason=reason))
    if claimed.rowcount != 1:
        db.session.refresh(revision)
        raise _conflict(f"This revision was already {revision.status}.", "revision-decided")
    db.session.refresh(revision)
    return revision


def approve(actor: User, revision_id: int, now: datetime | None = None) -> RewardRevision:
    """Apply a pending revision to the reward; a new reward is listed by its first approval."""
    now = now or utcnow()
    revision = _claim_revision(actor, revision_id, APPROVED, now)
    reward = revision.reward
    changes = {k: _from_json(k, v) for k, v in revision.changes.items()}
    start = changes.get("available_from", reward.available_from)
    end = changes.get("available_until", reward.available_until)
    if end is not None and end <= start:
        raise _conflict("The proposed window ends before it starts.", "invalid-window")
    values: dict[str, Any] = {k: v for k, v in changes.items() if k != "total_stock"}
    stmt = update(Reward).where(Reward.id == reward.id)
    if "total_stock" in changes:
        # Stock moves by the difference, and never below what is already taken.
        new_total = changes["total_stock"]
        left = Reward.stock_left + (new_total - Reward.total_stock)
        values.update(total_stock=new_total, stock_left=left)
        stmt = stmt.where(left >= 0)
    values["listed_at"] = reward.listed_at or now
    values["updated_at"] = now
    if db.session.execute(stmt.values(**values)).rowcount != 1:
        raise _conflict("More are already reserved or redeemed than the proposed stock.",
                        "stock-below-redeemed")
    db.session.refresh(reward)
    audit.record(actor.id, "reward.revision_approved", "reward", reward.id,
                 revision_id=revision.id, changes=revision.changes)
    db.session.flush()
    return revision


def reject(actor: User, revision_id: int, reason: str,
           now: datetime | None = None) -> RewardRevision:
    """Refuse a revision: the listed version (if any) stays as it is."""
    now = now or utcnow()
    revision = _claim_revision(actor, revision_id, REJECTED, now, reason)
    audit.record(actor.id, "reward.revision_rejected", "reward", revision.reward_id,
                 revision_id=revision.id, reason=reason)
    db.session.flush()
    return revision


# -- redemption -------------------------------------------------------------------------
# The hot paths (redeem, verify, cancel, expire) use Core statements on the tables and
# return plain `Reservation` records: the ORM's identity map and flush machinery cost more
# than the round trips they wrap. Lists and single reads stay with the ORM, but for the
# citizens' catalogue (above).


@dataclass
class MerchantRef:
    id: int
    name: str


@dataclass
class RewardRef:
    id: int
    title_zh: str
    title_en: str | None
    merchant: MerchantRef


@dataclass
class Reservation:
    """One redemption row with what a response says about its reward (schemas dump it)."""

    id: int
    code: str
    user_id: int
    reward_id: int
    merchant_id: int
    points: int
    hold_id: int
    status: str
    request_key: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    ended_by: int | None
    reward: RewardRef


_RESERVATION = (select(REDEMPTIONS, REWARDS.c.title_zh, REWARDS.c.title_en,
                       MERCHANTS.c.name.label("merchant_name"))
                .join(REWARDS, REWARDS.c.id == REDEMPTIONS.c.reward_id)
                .join(MERCHANTS, MERCHANTS.c.id == REDEMPTIONS.c.merchant_id))


def _reservation(where) -> Reservation | None:
    row = _sql(_RESERVATION.where(where)).first()
    if row is None:
        return None
    m = row._mapping
    return Reservation(
        **{c.name: m[c] for c in REDEMPTIONS.c},
        reward=RewardRef(m["reward_id"], m["title_zh"], m["title_en"],
                         MerchantRef(m["merchant_id"], m["merchant_name"])))


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
        raise _conflict("This reward's merchant is suspended; it cannot be redeemed now.",
                        "merchant-suspended")
    if now < reward.available_from:
        raise _conflict(f"This reward can be redeemed from {reward.available_from.isoformat()}.",
                        "reward-not-available")
    if reward.available_until is not None and now >= reward.available_until:
        raise _conflict("This reward's availability window is over.", "reward-not-available")
    if reward.stock_left <= 0:
        raise _out_of_stock()


def _out_of_stock() -> ApiError:
    return _conflict("This reward is out of stock.", "out-of-stock")


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
            raise _conflict(f"You may redeem this reward at most {limit} time(s) {label}.",
                            "redemption-limit-reached")


def _take_stock(reward_id: int, price: int):
    return (update(REWARDS).where(REWARDS.c.id == reward_id, REWARDS.c.stock_left > 0,
                                  REWARDS.c.points_price == price)
            .values(stock_left=REWARDS.c.stock_left - 1))


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
    reward = _sql(_FOR_REDEEM, {"rid": reward_id, "uid": user_id,
                                              "key": key}).first()
    if reward is None or reward.listed_at is None:
        raise _not_found()
    if reward.done is not None:
        return _reservation(REDEMPTIONS.c.id == reward.done)
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
        price = _sql_scalar(select(REWARDS.c.points_price)
                                  .where(REWARDS.c.id == reward.id))
        if price != reward.points_price:
            raise _conflict("The price changed while redeeming; look again and retry.",
                            "reward-changed")
        raise _out_of_stock()
    return Reservation(
        id=redemption_id, **values, ended_at=None, ended_by=None,
        reward=RewardRef(reward.id, reward.title_zh, reward.title_en,
                         MerchantRef(reward.merchant_id, reward.merchant_name)))


def _refusal(redemption, now: datetime) -> ApiError | None:
    """Why a redemption can no longer be fulfilled or cancelled (None: it can)."""
    if redemption.status == FULFILLED:
        return _conflict(f"This code was already used at {redemption.ended_at.isoformat()}.",
                         "already-used")
    if redemption.status == CANCELLED:
        return _conflict("This redemption was cancelled.", "redemption-cancelled")
    if redemption.status == EXPIRED or redemption.expires_at <= now:
        return ApiError(410, f"This code expired at {redemption.expires_at.isoformat()}.",
                        slug="redemption-expired")
    return None


def _reread(redemption: Reservation) -> Reservation:
    return _reservation(REDEMPTIONS.c.id == redemption.id)


def _end(redemption: Reservation, status: str, actor_id: int | None, now: datetime) -> None:
    """reserved → status, exactly once; the caller holds the user's ledger lock."""
    ended = _sql(update(REDEMPTIONS).where(
        REDEMPTIONS.c.id == redemption.id, REDEMPTIONS.c.status == RESERVED)
        .values(status=status, ended_at=now, ended_by=actor_id))
    if ended.rowcount != 1:
        raise _refusal(_reread(redemption), now) or _conflict(
            "This redemption changed meanwhile.", "conflict")
    redemption.status, redemption.ended_at, redemption.ended_by = status, now, actor_id


def _ledger_refused(redemption: Reservation, err: ApiError, now: datetime) -> ApiError:
    """A hold found ended under the lock: say why in the redemption's terms."""
    if err.slug != "hold-ended":
        return err
    return _refusal(_reread(redemption), now) or err


def _by_code(raw_code: str) -> Reservation | None:
    """The redemption a typed or scanned code names: its owner from redemption_codes,
    then the redemption among the owner's."""
    code = normalize_code(raw_code)
    owner = _sql_scalar(select(CODES.c.user_id).where(CODES.c.code == code)) if code else None
    if owner is None:
        return None
    return _reservation((REDEMPTIONS.c.user_id == owner) & (REDEMPTIONS.c.code == code))


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
    if (refused := _refusal(redemption, now)) is not None:
        raise refused
    try:  # takes the user's lock; a second verifier waits here, then finds it used
        captured = ledger.capture(redemption.hold_id, merchant_id=merchant.id,
                                  key=f"redemption:{redemption.id}:capture", actor_id=staff.id,
                                  user_id=redemption.user_id)
    except ApiError as err:
        raise _ledger_refused(redemption, err, now) from None
    # Fulfilled when captured: settlement by local day and the merchant's settlement
    # account in the journal then agree on the day, even a millisecond before midnight.
    _end(redemption, FULFILLED, staff.id, captured.created_at)
    return redemption


def merchant_code(merchant: Merchant, raw_code: str) -> Reservation | None:
    """The redemption a code names, if it is this merchant's (read only): what a refused
    verification shows at the counter (when it was used, when it expired)."""
    redemption = _by_code(raw_code)
    return redemption if redemption and redemption.merchant_id == merchant.id else None


def _give_back(redemption: Reservation, status: str, actor_id: int | None,
               now: datetime) -> None:
    """Release the hold (takes the user's lock), end the redemption, return the stock."""
    try:
        ledger.release(redemption.hold_id, key=f"redemption:{redemption.id}:release",
                       actor_id=actor_id, user_id=redemption.user_id)
    except ApiError as err:
        raise _ledger_refused(redemption, err, now) from None
    _end(redemption, status, actor_id, now)
    _sql(update(REWARDS).where(REWARDS.c.id == redemption.reward_id)
                       .values(stock_left=REWARDS.c.stock_left + 1))


def own_redemption(user_id: int, redemption_id: int) -> Redemption:
    redemption = db.session.get(Redemption, redemption_id)
    if redemption is None or redemption.user_id != user_id:
        raise _not_found("redemption")
    return redemption


def cancel(user: User, redemption_id: int, now: datetime | None = None) -> Reservation:
    """The citizen gives a reserved, unexpired redemption back: points released, stock
    restored."""
    now = now or utcnow()
    redemption = _reservation(REDEMPTIONS.c.id == redemption_id)
    if redemption is None or redemption.user_id != user.id:
        raise _not_found("redemption")
    # Past expires_at it is gone, as at the merchant's counter, whether or not the expiry
    # job has run yet: the job releases it (as expired, not cancelled).
    if (refused := _refusal(redemption, now)) is not None:
        raise refused
    _give_back(redemption, CANCELLED, user.id, now)
    return redemption


def give_back_all(user: User, now: datetime | None = None) -> None:
    """End every reservation of an account being erased, points and stock given back: one
    still valid is cancelled by its owner; one past its expiry, which the job has not
    released yet (cancel refuses it, 410), expires as the job would have it."""
    now = now or utcnow()
    for redemption_id in _sql(select(REDEMPTIONS.c.id).where(
            REDEMPTIONS.c.user_id == user.id, REDEMPTIONS.c.status == RESERVED)
            .order_by(REDEMPTIONS.c.id)).scalars().all():
        redemption = _reservation(REDEMPTIONS.c.id == redemption_id)
        if redemption.expires_at <= now:
            _give_back(redemption, EXPIRED, None, now)
        else:
            _give_back(redemption, CANCELLED, user.id, now)


def due_for_expiry(now: datetime, after_id: int = 0, limit: int = 500) -> list[int]:
    """Ids of reservations past their expiry, in id order after `after_id`."""
    return list(_sql(
        select(REDEMPTIONS.c.id).where(REDEMPTIONS.c.status == RESERVED,
                                       REDEMPTIONS.c.expires_at <= now,
                                       REDEMPTIONS.c.id > after_id)
        .order_by(REDEMPTIONS.c.id).limit(limit)).scalars())


def expire(redemption_id: int, now: datetime) -> bool:
    """Release one past-due reservation; False if it had already ended (a rerun)."""
    redemption = _reservation(REDEMPTIONS.c.id == redemption_id)
    if redemption is None or redemption.status != RESERVED or redemption.expires_at > now:
        return False
    try:
        _give_back(redemption, EXPIRED, None, now)
    except ApiError:
        # Ended meanwhile (fulfilled or cancelled under the lock): nothing to release.
        return False
    return True


def user_redemptions(user_id: int, status: str | None = None) -> Select:
    stmt = select(Redemption).where(Redemption.user_id == user_id).order_by(
        Redemption.id.desc())
    return stmt.where(Redemption.status == status) if status else stmt


def merchant_redemptions(merchant_id: int, status: str | None = None) -> Select:
    stmt = select(Redemption).where(Redemption.merchant_id == merchant_id).order_by(
        Redemption.id.desc())
    return stmt.where(Redemption.status == status) if status else stmt


# -- settlement -------------------------------------------------------------------------

def settlement_period(date_from: date | None, date_to: date | None,
                      now: datetime | None = None) -> tuple[date, date]:
    today = local_date(now or utcnow())
    date_to = date_to or today
    date_from = date_from or date_to.replace(day=1)
    if date_from > date_to:
        raise ApiError(422, "'from' must not be after 'to'.", slug="validation-error",
                       errors={"from": ["After 'to'."]})
    if (date_to - date_from).days >= MAX_SETTLEMENT_DAYS:
        raise ApiError(422, f"A settlement covers at most {MAX_SETTLEMENT_DAYS} days.",
                       slug="validation-error",
                       errors={"to": [f"At most {MAX_SETTLEMENT_DAYS} days after 'from'."]})
    return date_from, date_to


def fulfilled_in(date_from: date, date_to: date):
    """The condition of a settlement's redemptions: fulfilled (verified) in the local dates."""
    since, until = utc_bounds(date_from, date_to)
    return ((Redemption.status == FULFILLED) & (Redemption.ended_at >= since)
            & (Redemption.ended_at < until))


def settlement(date_from: date, date_to: date, merchant_id: int | None = None) -> dict:
    """Fulfilled redemptions whose verification fell in the local dates, with totals.

    With `merchant_id`, that merchant's (404 if there is none: not an empty report).
    """
    if merchant_id is not None:
        merchant_name = db.session.scalar(select(Merchant.name).where(Merchant.id == merchant_id))
        if merchant_name is None:
            raise _not_found("merchant")
    stmt = (select(Redemption.id, Redemption.merchant_id, Merchant.name, Redemption.reward_id,
                   Reward.title_zh, Reward.title_en, Redemption.points, Redemption.ended_at,
                   Redemption.ended_by)
            .join(Reward, Reward.id == Redemption.reward_id)
            .join(Merchant, Merchant.id == Redemption.merchant_id)
            .where(fulfilled_in(date_from, date_to))
            .order_by(Redemption.merchant_id, Redemption.ended_at, Redemption.id))
    if merchant_id is not None:
        stmt = stmt.where(Redemption.merchant_id == merchant_id)
    merchants: dict[int, dict] = {}
    rewards: dict[int, dict[int, dict]] = defaultdict(dict)
    lines = []
    for rid, mid, name, reward_id, title_zh, title_en, points, ended_at, ended_by in (
            db.session.execute(stmt)):
        m = merchants.setdefault(mid, {"merchant_id": mid, "name": name, "redemptions": 0,
                                       "points": 0})
        r = rewards[mid].setdefault(reward_id, {"reward_id": reward_id, "title_zh": title_zh,
                                                "title_en": title_en, "redemptions": 0,
                                                "points": 0})
        for total in (m, r):
            total["redemptions"] += 1
            total["points"] += points
        lines.append({"redemption_id": rid, "merchant_id": mid, "merchant": name,
                      "reward_id": reward_id, "title_zh": title_zh, "points": points,
                      "fulfilled_at": ended_at, "verified_by": ended_by})
    for mid, m in merchants.items():
        m["rewards"] = sorted(rewards[mid].values(), key=lambda r: r["reward_id"])
    if merchant_id is not None and merchant_id not in merchants:
        merchants[merchant_id] = {"merchant_id": merchant_id, "name": merchant_name,
                                  "redemptions": 0, "points": 0, "rewards": []}
    return {
        "date_from": date_from, "date_to": date_to,
        "timezone": str(local_zone()),
        "redemptions": len(lines), "points": sum(line["points"] for line in lines),
        "merchants": list(merchants.values()), "lines": lines,
    }


def settlement_rows(report: dict) -> list[list]:
    """One row per fulfilled redemption, then totals per reward, per merchant and overall."""
    tz = local_zone()
    rows: list[list] = [["kind", "merchant_id", "merchant", "reward_id", "reward",
                         "redemption_id", "fulfilled_at", "verified_by", "redemptions", "points"]]
    rows += [["redemption", line["merchant_id"], line["merchant"], line["reward_id"],
              line["title_zh"], line["redemption_id"],
              line["fulfilled_at"].astimezone(tz).isoformat(), line["verified_by"] or "", 1,
              line["points"]] for line in report["lines"]]
    for m in report["merchants"]:
        rows += [["reward_total", m["merchant_id"], m["name"], r["reward_id"], r["title_zh"],
                  "", "", "", r["redemptions"], r["points"]] for r in m["rewards"]]
        rows.append(["merchant_total", m["merchant_id"], m["name"], "", "", "", "", "",
                     m["redemptions"], m["points"]])
    rows.append(["total", "", "", "", "", "", "", "", report["redemptions"], report["points"]])
    return rows
