"""A redemption as the hot paths read and end it, and the lists of redemptions.

The hot paths (redeem, verify, cancel, expire) use Core statements on the tables and
return plain `Reservation` records: the ORM's identity map and flush machinery cost more
than the round trips they wrap. Lists and single reads stay with the ORM.

Lock order, everywhere: the user's ledger lock first (ledger.hold / capture / release take
it), then the redemption row, then the reward row (stock). Nothing holds a reward row and
then waits for a user, so redemptions cannot deadlock. Every redemption state change is a
conditional UPDATE (`WHERE status = 'reserved'`) under the user's lock, so it happens
exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, update

from app.extensions import db
from app.http.problems import ApiError
from app.merchants.models import Merchant
from app.rewards.models import CANCELLED, EXPIRED, FULFILLED, RESERVED, Redemption, Reward
from app.sql import execute as _sql

REWARDS, REDEMPTIONS, MERCHANTS = Reward.__table__, Redemption.__table__, Merchant.__table__


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


RESERVATION = (select(REDEMPTIONS, REWARDS.c.title_zh, REWARDS.c.title_en,
                       MERCHANTS.c.name.label("merchant_name"))
                .join(REWARDS, REWARDS.c.id == REDEMPTIONS.c.reward_id)
                .join(MERCHANTS, MERCHANTS.c.id == REDEMPTIONS.c.merchant_id))


def find_reservation(where) -> Reservation | None:
    row = _sql(RESERVATION.where(where)).first()
    return None if row is None else reservation_of(row)


def reservation_of(row) -> Reservation:
    """A Reservation from a row holding RESERVATION's columns (by name)."""
    m = row._mapping
    return Reservation(
        **{c.name: m[c.name] for c in REDEMPTIONS.c},
        reward=RewardRef(m["reward_id"], m["title_zh"], m["title_en"],
                         MerchantRef(m["merchant_id"], m["merchant_name"])))


def reservation(user_id: int, redemption_id: int) -> Reservation | None:
    """One of the user's redemptions, by id."""
    return find_reservation((REDEMPTIONS.c.user_id == user_id)
                            & (REDEMPTIONS.c.id == redemption_id))


def refusal(redemption, now: datetime) -> ApiError | None:
    """Why a redemption can no longer be fulfilled or cancelled (None: it can)."""
    if redemption.status == FULFILLED:
        return ApiError(409, f"This code was already used at {redemption.ended_at.isoformat()}.",
                        slug="already-used")
    if redemption.status == CANCELLED:
        return ApiError(409, "This redemption was cancelled.", slug="redemption-cancelled")
    if redemption.status == EXPIRED or redemption.expires_at <= now:
        return ApiError(410, f"This code expired at {redemption.expires_at.isoformat()}.",
                        slug="redemption-expired")
    return None


def _reread(redemption: Reservation) -> Reservation:
    return reservation(redemption.user_id, redemption.id)


def end_reservation(redemption: Reservation, status: str, actor_id: int | None,
                    now: datetime) -> None:
    """reserved → status, exactly once; the caller holds the user's ledger lock."""
    ended = _sql(update(REDEMPTIONS).where(
        REDEMPTIONS.c.user_id == redemption.user_id, REDEMPTIONS.c.id == redemption.id,
        REDEMPTIONS.c.status == RESERVED)
        .values(status=status, ended_at=now, ended_by=actor_id))
    if ended.rowcount != 1:
        raise refusal(_reread(redemption), now) or ApiError(
            409, "This redemption changed meanwhile.", slug="conflict")
    redemption.status, redemption.ended_at, redemption.ended_by = status, now, actor_id


def ledger_refusal(redemption: Reservation, err: ApiError, now: datetime) -> ApiError:
    """A hold found ended under the lock: say why in the redemption's terms."""
    if err.slug != "hold-ended":
        return err
    return refusal(_reread(redemption), now) or err


def own_redemption(user_id: int, redemption_id: int) -> Redemption:
    redemption = db.session.scalar(select(Redemption).where(
        Redemption.user_id == user_id, Redemption.id == redemption_id))
    if redemption is None:
        raise ApiError.not_found("redemption")
    return redemption


def user_redemptions(user_id: int, status: str | None = None) -> Select:
    stmt = select(Redemption).where(Redemption.user_id == user_id).order_by(
        Redemption.id.desc())
    return stmt.where(Redemption.status == status) if status else stmt


def merchant_redemptions(merchant_id: int, status: str | None = None) -> Select:
    stmt = select(Redemption).where(Redemption.merchant_id == merchant_id).order_by(
        Redemption.id.desc())
    return stmt.where(Redemption.status == status) if status else stmt


def verified_redemptions(user_id: int) -> Select:
    """Redemptions of others that the user fulfilled as a merchant's staff, in id order:
    what they did at the counter, for the copy of what the platform holds on them."""
    return select(Redemption).where(
        Redemption.ended_by == user_id, Redemption.user_id != user_id).order_by(Redemption.id)
