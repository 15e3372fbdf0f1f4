"""Behaviours: one reported low-carbon act, its computed reduction and its credit."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import BigIntId, UtcDateTime, utcnow
from app.extensions import db
from app.methodology.models import MethodologyVersion

STATUSES = ("credited", "pending_review", "capped", "rejected", "reversed")
SOURCES = ("partner", "self_report")


class Behaviour(db.Model):
    __tablename__ = "behaviours"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "id"),
        # A partner's resend of the same record finds this row instead of crediting again;
        # a partner's record id is per the partner's user.
        UniqueConstraint("user_id", "partner_id", "external_id"),
        CheckConstraint("status IN ('credited', 'pending_review', 'capped', 'rejected', "
                        "'reversed')", name="status"),
        CheckConstraint("source IN ('partner', 'self_report')", name="source"),
        Index("ix_behaviours_user_id_methodology_local_date", "user_id", "methodology",
              "local_date"),
        Index("ix_behaviours_user_id_window_start", "user_id", "window_start"),
        Index("ix_behaviours_local_date", "local_date"),
        # The review queue, oldest first; the other statuses are the bulk and need no index.
        Index("ix_behaviours_pending_review", "id",
              postgresql_where=text("status = 'pending_review'"),
              sqlite_where=text("status = 'pending_review'")),
        # An administrator's review names the behaviour alone: its owner is found here.
        Index("ix_behaviours_id", "id"),
        # The earn is the user's: the reference carries the user id, as the ledger's own do.
        ForeignKeyConstraint(["user_id", "ledger_tx_id"], ["ledger_transactions.user_id",
                                                           "ledger_transactions.id"]),
    )
    # Ids are globally unique: the ORM knows a behaviour by its id alone.
    __mapper_args__ = {"primary_key": ["id"]}

    id: Mapped[int] = mapped_column(BigIntId, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    methodology: Mapped[str] = mapped_column(String(64))
    methodology_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("methodology_versions.id"))
    parameters_hash: Mapped[str | None] = mapped_column(String(64))
    conversion_rate_id: Mapped[int | None] = mapped_column(ForeignKey("conversion_rates.id"))
    source: Mapped[str] = mapped_column(String(12))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    external_id: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    local_date: Mapped[date] = mapped_column(Date)
    # The span the act covered (a trip's start and end); duplicates overlap in it.
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime)
    dedupe_group: Mapped[str] = mapped_column(String(64), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # {mechanism, reference}: the reporter says this reduction was already claimed in
    # another mechanism, so it is recorded and refused (one reduction is filed once).
    claimed_elsewhere: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    reduction_g: Mapped[Decimal] = mapped_column(Numeric(20, 3), default=Decimal(0))
    credited_g: Mapped[Decimal] = mapped_column(Numeric(20, 3), default=Decimal(0))
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    ledger_tx_id: Mapped[int | None] = mapped_column(BigIntId)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    version: Mapped[MethodologyVersion | None] = relationship(lazy="joined")

    @property
    def methodology_version(self) -> str | None:
        return self.version.label if self.version else None


class ConversionRate(db.Model):
    """Points per gram CO2e, versioned: a credit records the rate it used."""

    __tablename__ = "conversion_rates"
    __table_args__ = (CheckConstraint("points_per_gram > 0", name="positive"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    points_per_gram: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    effective_from: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CreditTotal(db.Model):
    """A user's credited grams and the points issued for them, under one conversion rate.

    A credit's points are floor(credited grams so far × rate) minus the points issued so
    far (app/behaviours/totals.py), so sub-point remainders carry forward. Written only
    under the user's ledger lock, in the transaction of the credit or reversal it counts.
    """

    __tablename__ = "credit_totals"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    points_per_gram: Mapped[Decimal] = mapped_column(Numeric(12, 6), primary_key=True)
    credited_g: Mapped[Decimal] = mapped_column(Numeric(20, 3))
    points: Mapped[int] = mapped_column(BigInteger)
