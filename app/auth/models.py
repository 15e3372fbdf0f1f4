from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UtcDateTime, utcnow
from app.extensions import db


class RevokedToken(db.Model):
    """JWT blocklist by jti; rows can be purged once the token would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_type: Mapped[str] = mapped_column(String(8))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LoginFailure(db.Model):
    """Failed logins counted per account and per client address, in a fixed window that
    starts at the first failure. `key` is a keyed hash (app/http/limit_keys.py), never the
    login or the address itself. Rows whose window has passed count for nothing and are
    purged by the nightly purge_expired_keys job."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    failures: Mapped[int] = mapped_column(Integer)
