"""Methodology versions: which parameter sets may credit, from when, approved by whom."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import BigIntId, UtcDateTime, utcnow
from app.extensions import db

VERSION_STATUSES = ("pending", "approved", "superseded", "rejected", "retired")
_IN_FORCE = "status = 'approved' AND effective_until IS NULL"


class MethodologyVersion(db.Model):
    """One parameter set of one methodology module version.

    It credits behaviours that occurred in [effective_from, effective_until) while it is
    approved or superseded (superseded = a newer version took over from a date).
    """

    __tablename__ = "methodology_versions"
    __table_args__ = (
        UniqueConstraint("code", "version", "parameters_hash"),
        CheckConstraint("status IN ('pending', 'approved', 'superseded', 'rejected', "
                        "'retired')", name="status"),
        Index("ix_methodology_versions_code_status", "code", "status"),
        # One version in force per methodology (approvals also queue on a lock per code).
        Index("uq_methodology_versions_in_force", "code", unique=True,
              postgresql_where=text(_IN_FORCE), sqlite_where=text(_IN_FORCE)),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    # {name: {value, unit, source, description}}; the hash covers the values only.
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    parameters_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    effective_from: Mapped[datetime | None] = mapped_column(UtcDateTime)
    effective_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    proposed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    @property
    def label(self) -> str:
        return f"{self.version}+{self.parameters_hash[:8]}"


class ReferenceGeneration(db.Model):
    """A counter moved in the same transaction as any change to the reference data judging
    reads (methodology versions, conversion rates): a process that cached them reads it
    after the user's lock and reloads when it moved (app/methodology/generation.py)."""

    __tablename__ = "reference_generation"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)
