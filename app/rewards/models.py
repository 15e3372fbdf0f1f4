"""Rewards catalogue, the approval queue for changes, and redemptions.

A reward row carries the *listed* (approved) values; a change to its price, stock or
availability window waits in `reward_revisions` until an administrator approves it.
`stock_left` is decremented by a conditional UPDATE (never below zero) when a
redemption is reserved and given back when one is cancelled or expires, so
`total_stock - stock_left` always equals the number of reserved + fulfilled redemptions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import BigIntId, UtcDateTime, utcnow
from app.extensions import db
from app.merchants.models import Merchant

CATEGORIES = ("food_drink", "transport", "shopping", "services", "culture", "charity",
              "other")
PERIODS = ("day", "week", "month")
# Changing these on a listed reward needs an administrator's approval.
REVIEWED_FIELDS = ("points_price", "total_stock", "available_from", "available_until")

RESERVED, FULFILLED, CANCELLED, EXPIRED = "reserved", "fulfilled", "cancelled", "expired"
REDEMPTION_STATUSES = (RESERVED, FULFILLED, CANCELLED, EXPIRED)
PENDING, APPROVED, REJECTED, SUPERSEDED = "pending", "approved", "rejected", "superseded"
REVISION_STATUSES = (PENDING, APPROVED, REJECTED, SUPERSEDED)
REVISION_KINDS = ("create", "change")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Reward(db.Model):
    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("points_price > 0", name="price_positive"),
        CheckConstraint("stock_left >= 0 AND stock_left <= total_stock", name="stock_in_range"),
        CheckConstraint("limit_total IS NULL OR limit_total > 0", name="limit_total_positive"),
        CheckConstraint("(limit_per_period IS NULL) = (limit_period IS NULL)",
                        name="limit_period_pair"),
        CheckConstraint("limit_per_period IS NULL OR limit_per_period > 0",
                        name="limit_per_period_positive"),
        CheckConstraint(f"limit_period IS NULL OR {_in('limit_period', PERIODS)}",
                        name="limit_period"),
        CheckConstraint("available_until IS NULL OR available_until > available_from",
                        name="window_ordered"),
        Index("ix_rewards_listed_at", "listed_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    title_zh: Mapped[str] = mapped_column(String(120))
    title_en: Mapped[str | None] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(String(500))
    points_price: Mapped[int] = mapped_column(BigInteger)
    total_stock: Mapped[int] = mapped_column(Integer)
    stock_left: Mapped[int] = mapped_column(Integer)
    limit_total: Mapped[int | None] = mapped_column(Integer)
    limit_per_period: Mapped[int | None] = mapped_column(Integer)
    limit_period: Mapped[str | None] = mapped_column(String(8))
    available_from: Mapped[datetime] = mapped_column(UtcDateTime)
    available_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set by the first approval; a reward is never listed before it.
    listed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    merchant: Mapped[Merchant] = relationship(lazy="joined", innerjoin=True)
    pending_revisions: Mapped[list[RewardRevision]] = relationship(
        primaryjoin="and_(RewardRevision.reward_id == Reward.id, "
                    "RewardRevision.status == 'pending')",
        viewonly=True, lazy="select", order_by="RewardRevision.id")

    @property
    def listed(self) -> bool:
        return self.listed_at is not None

    @property
    def pending(self) -> RewardRevision | None:
        return self.pending_revisions[-1] if self.pending_revisions else None

    def available_at(self, now: datetime) -> bool:
        return self.available_from <= now and (self.available_until is None
                                               or now < self.available_until)


class RewardRevision(db.Model):
    """A proposed reward, or a proposed change to a listed one, awaiting a decision."""

    __tablename__ = "reward_revisions"
    __table_args__ = (
        CheckConstraint(_in("status", REVISION_STATUSES), name="status"),
        CheckConstraint("kind IN ('create', 'change')", name="kind"),
        Index("ix_reward_revisions_status_id", "status", "id"),
        Index("ix_reward_revisions_reward_id_status", "reward_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"))
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    # The proposed reviewed fields (JSON: datetimes as ISO 8601 strings, null = no end).
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    proposed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(Text)

    reward: Mapped[Reward] = relationship(lazy="joined", innerjoin=True)


class Redemption(db.Model):
    """A reward reserved by a citizen: points held, one unit of stock taken, a code issued.

    It leaves `reserved` exactly once (conditional UPDATE), to fulfilled (the merchant
    verified the code: the hold is captured), cancelled or expired (the hold is released
    and the stock given back). `ended_by` / `ended_at` record who and when.
    """

    __tablename__ = "redemptions"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "id"),
        CheckConstraint(_in("status", REDEMPTION_STATUSES), name="status"),
        CheckConstraint("points > 0", name="points_positive"),
        # A merchant's code is found through redemption_codes, then among its owner's.
        UniqueConstraint("user_id", "code"),
        CheckConstraint("(status = 'reserved') = (ended_at IS NULL)", name="ended_iff_final"),
        UniqueConstraint("user_id", "request_key"),
        Index("ix_redemptions_user_id_reward_id_created_at", "user_id", "reward_id",
              "created_at"),
        Index("ix_redemptions_user_id_id", "user_id", "id"),
        Index("ix_redemptions_status_expires_at", "status", "expires_at"),
        Index("ix_redemptions_merchant_id_status_ended_at", "merchant_id", "status",
              "ended_at"),
        # A hold is the user's: the reference carries the user id, as the ledger's own do.
        UniqueConstraint("user_id", "hold_id"),
        ForeignKeyConstraint(["user_id", "hold_id"], ["ledger_holds.user_id", "ledger_holds.id"]),
    )
    # Ids are globally unique: the ORM knows a redemption by its id alone.
    __mapper_args__ = {"primary_key": ["id"]}

    id: Mapped[int] = mapped_column(BigIntId, autoincrement=True)
    code: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    hold_id: Mapped[int] = mapped_column(BigIntId)
    status: Mapped[str] = mapped_column(String(10), default=RESERVED)
    # The ledger key of the hold: one redemption per client request.
    request_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    reward: Mapped[Reward] = relationship(lazy="joined", innerjoin=True)


class RedemptionCode(db.Model):
    """Which user's redemption a code is: the lookup a merchant's code goes through first
    (the redemptions are kept by user; this table is kept by code). Written in the
    redemption's transaction."""

    __tablename__ = "redemption_codes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    redemption_id: Mapped[int] = mapped_column(BigIntId)
