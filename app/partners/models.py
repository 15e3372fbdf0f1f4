"""Partners, their signing keys, replay nonces, and the citizens' consent links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import BigIntId, UtcDateTime, utcnow
from app.extensions import db

ACTIVE, SUSPENDED, REVOKED = "active", "suspended", "revoked"
PARTNER_STATUSES = (ACTIVE, SUSPENDED)
LINK_STATUSES = (ACTIVE, REVOKED)
MAX_USER_REF = 128
_ACTIVE_ROW = text("status = 'active'")


class Partner(db.Model):
    __tablename__ = "partners"
    __table_args__ = (CheckConstraint("status IN ('active', 'suspended')", name="status"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(10), default=ACTIVE)
    # Methodology codes this partner may report, e.g. ["green_travel"].
    methodologies: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    keys: Mapped[list[PartnerKey]] = relationship(
        back_populates="partner", order_by="PartnerKey.created_at", lazy="selectin")

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


class PartnerKey(db.Model):
    """A signing key. The secret is kept (HMAC needs it) but only ever shown once."""

    __tablename__ = "partner_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Set on the old key when a new one is issued: both work until then.
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    partner: Mapped[Partner] = relationship(back_populates="keys")

    def __repr__(self) -> str:  # never the secret
        return f"<PartnerKey {self.key_id} partner={self.partner_id}>"

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class PartnerRequestNonce(db.Model):
    """Signatures already accepted: a replayed request is refused (kept 15 minutes)."""

    __tablename__ = "partner_request_nonces"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"),
                                            primary_key=True)
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class PartnerLinkCode(db.Model):
    """A one-time code a citizen hands to a partner; only its SHA-256 is stored."""

    __tablename__ = "partner_link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    used_by_partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))


class PartnerLink(db.Model):
    """Consent: this citizen is the partner's user `partner_user_ref`."""

    __tablename__ = "partner_links"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'revoked')", name="status"),
        # At most one active link per partner account and per citizen, for each partner.
        Index("ux_partner_links_active_ref", "partner_id", "partner_user_ref", unique=True,
              postgresql_where=_ACTIVE_ROW, sqlite_where=_ACTIVE_ROW),
        Index("ux_partner_links_active_user", "partner_id", "user_id", unique=True,
              postgresql_where=_ACTIVE_ROW, sqlite_where=_ACTIVE_ROW),
        Index("ix_partner_links_partner_id_partner_user_ref", "partner_id", "partner_user_ref"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    partner_user_ref: Mapped[str] = mapped_column(String(MAX_USER_REF))
    status: Mapped[str] = mapped_column(String(10), default=ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    partner: Mapped[Partner] = relationship(lazy="joined")


class PartnerBatch(db.Model):
    """One accepted submission of behaviour records and how its records ended.

    Kept because behaviours cannot tell it: a record refused for consent or methodology,
    or invalid, never becomes a behaviour, and behaviours do not say which request
    brought them. A replayed request (same Idempotency-Key) is answered from the stored
    response and adds no row.
    """

    __tablename__ = "partner_batches"
    __table_args__ = (Index("ix_partner_batches_partner_id_id", "partner_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    records: Mapped[int] = mapped_column(Integer)
    # Records per outcome status, e.g. {"credited": 3, "rejected": 1}.
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
