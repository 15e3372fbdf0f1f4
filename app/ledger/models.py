"""Double-entry points ledger.

Accounts: each user has three — available points, held (reserved for pending
redemptions) and debt (a receivable: negative when the user owes points after a
reversal), named by (user_id, kind). The user's posted balance is available + held.
System accounts (issuance, expired, merchant settlement) belong to no user and live in
their own table; they never carry a cached balance: it is derived from their postings,
so no single hot row serialises earning. A posting names exactly one account: a user
account of the transaction's owner (account_id) or a system account (system_account_id).

Journal: transactions and postings are append-only (PostgreSQL and SQLite triggers
refuse UPDATE and DELETE). Every transaction's postings sum to zero.

Ownership: every row but a system account's belongs to one user, and its user id leads
each of its keys: the primary key is (user_id, id), and the ledger's tables refer to each
other through (user_id, <id>). The database so refuses a posting, a lot or a hold's lot
filed under another user than its transaction, account or hold; and the tables can be
distributed by user (docs/operations.md, "Sharding by user") without a key that spans
users. Ids stay globally unique (each table has one allocator), so the ORM knows a row by
its id alone; SQLite keeps `id` as its primary key, the only column it autoincrements,
and the unique (user_id, id) index is the key references name (migration 0013).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
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
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import BigIntId, UtcDateTime, utcnow
from app.extensions import db

TX_TYPES = ("earn", "hold", "capture", "release", "expire", "reversal", "adjustment")
USER_AVAILABLE, USER_HELD, USER_DEBT = "user_available", "user_held", "user_debt"
ISSUANCE, EXPIRED, MERCHANT_SETTLEMENT = "issuance", "expired", "merchant_settlement"
CACHED_KINDS = (USER_AVAILABLE, USER_HELD, USER_DEBT)
SYSTEM_KINDS = (ISSUANCE, EXPIRED, MERCHANT_SETTLEMENT)
ACCOUNT_KINDS = CACHED_KINDS + SYSTEM_KINDS


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class LedgerAccount(db.Model):
    """A user's account: available, held or debt, with its cached balance."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "id"),
        CheckConstraint(_in("kind", CACHED_KINDS), name="kind"),
        CheckConstraint(f"kind NOT IN ('{USER_AVAILABLE}', '{USER_HELD}') OR balance >= 0",
                        name="user_not_negative"),
        CheckConstraint(f"kind <> '{USER_DEBT}' OR balance <= 0", name="debt_not_positive"),
        # A user's account is named by its kind.
        UniqueConstraint("user_id", "kind"),
        # The key postings refer to (SQLite's primary key stays `id`: migration 0013).
        Index("uq_ledger_accounts_user_id_id", "user_id", "id", unique=True),
    )
    __mapper_args__ = {"primary_key": ["id"]}

    id: Mapped[int] = mapped_column(BigIntId, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(24))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    balance: Mapped[int] = mapped_column(BigInteger)
    # Bumped to take the per-user lock: every change to a user's points starts there.
    lock_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_earned: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_reduction_g: Mapped[Decimal] = mapped_column(Numeric(20, 3), default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LedgerSystemAccount(db.Model):
    """Issuance, expired points, or a merchant's settlement: no owner, no cached balance
    (it is the sum of its postings, so no single hot row serialises earning)."""

    __tablename__ = "ledger_system_accounts"
    __table_args__ = (
        CheckConstraint(_in("kind", SYSTEM_KINDS), name="kind"),
        Index("ix_ledger_system_accounts_merchant_id", "merchant_id",
              postgresql_where=text("merchant_id IS NOT NULL"),
              sqlite_where=text("merchant_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    merchant_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LedgerTransaction(db.Model):
    __tablename__ = "ledger_transactions"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "id"),
        UniqueConstraint("user_id", "idempotency_key"),
        CheckConstraint(_in("type", TX_TYPES), name="type"),
        # Also the entries listing's order (a user's transactions by id).
        Index("uq_ledger_transactions_user_id_id", "user_id", "id", unique=True),
        UniqueConstraint("user_id", "reverses_id"),
        ForeignKeyConstraint(["user_id", "reverses_id"], ["ledger_transactions.user_id",
                                                          "ledger_transactions.id"]),
        ForeignKeyConstraint(["user_id", "hold_id"], ["ledger_holds.user_id", "ledger_holds.id"]),
        # Only hold, capture and release carry a hold: earns, the bulk, stay out of the index.
        Index("ix_ledger_transactions_hold_id", "hold_id",
              postgresql_where=text("hold_id IS NOT NULL"),
              sqlite_where=text("hold_id IS NOT NULL")),
        # An administrator's reversal names the transaction alone: its owner is found here.
        Index("ix_ledger_transactions_id", "id"),
    )
    __mapper_args__ = {"primary_key": ["id"]}

    id: Mapped[int] = mapped_column(BigIntId, autoincrement=True)
    type: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    # Net change to the user's posted and available balances, and both after it.
    posted_delta: Mapped[int] = mapped_column(BigInteger)
    available_delta: Mapped[int] = mapped_column(BigInteger)
    posted_after: Mapped[int] = mapped_column(BigInteger)
    available_after: Mapped[int] = mapped_column(BigInteger)
    cause_type: Mapped[str] = mapped_column(String(32))
    cause_id: Mapped[str | None] = mapped_column(String(64))
    reverses_id: Mapped[int | None] = mapped_column(BigIntId)
    hold_id: Mapped[int | None] = mapped_column(BigIntId)
    reduction_g: Mapped[Decimal] = mapped_column(Numeric(20, 3), default=Decimal(0))
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LedgerPosting(db.Model):
    __tablename__ = "ledger_postings"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "id"),
        CheckConstraint("amount <> 0", name="non_zero"),
        CheckConstraint("(account_id IS NULL) <> (system_account_id IS NULL)",
                        name="one_account"),
        Index("ix_ledger_postings_account_id_id", "account_id", "id"),
        Index("ix_ledger_postings_system_account_id_id", "system_account_id", "id",
              postgresql_where=text("system_account_id IS NOT NULL"),
              sqlite_where=text("system_account_id IS NOT NULL")),
        Index("ix_ledger_postings_user_id_transaction_id", "user_id", "transaction_id"),
        ForeignKeyConstraint(["user_id", "transaction_id"], ["ledger_transactions.user_id",
                                                             "ledger_transactions.id"]),
        ForeignKeyConstraint(["user_id", "account_id"], ["ledger_accounts.user_id",
                                                         "ledger_accounts.id"]),
    )
    __mapper_args__ = {"primary_key": ["id"]}

    id: Mapped[int] = mapped_column(BigIntId, autoincrement=True)
    # The transaction's owner, on its postings to system accounts too: a transaction and
    # its postings stay together when the journal is distributed by user.
    user_id: Mapped[int] = mapped_column(BigIntId)
    transaction_id: Mapped[int] = mapped_column(BigIntId)
    # Exactly one of them: a user account (the owner's) or a system account.
    account_id: Mapped[int | None] = mapped_column(BigIntId)
    system_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_system_accounts.id"))
    # Signed: positive raises the account's balance, negative lowers it.
    amount: Mapped[int] = mapped_column(BigInteger)


class Lot(db.Model):
    """Points from one earn, with their expiry; `open_amount` is the part still available."""

    __tablename__ = "ledger_lots"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "id"),
        CheckConstraint("open_amount >= 0 AND open_amount <= amount", name="open_in_range"),
        CheckConstraint("amount > 0", name="positive"),
        # Spending walks a user's open lots by expiry; spent lots drop out of the index.
        Index("ix_ledger_lots_open", "user_id", "expires_at", "id",
              postgresql_where=text("open_amount > 0"), sqlite_where=text("open_amount > 0")),
        Index("ix_ledger_lots_expires_at", "expires_at"),
        Index("uq_ledger_lots_user_id_id", "user_id", "id", unique=True),
        ForeignKeyConstraint(["user_id", "transaction_id"], ["ledger_transactions.user_id",
                                                             "ledger_transactions.id"]),
    )
    __mapper_args__ = {"primary_key": ["id"]}

    id: Mapped[int] = mapped_column(BigIntId, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    transaction_id: Mapped[int] = mapped_column(BigIntId)
    amount: Mapped[int] = mapped_column(BigInteger)
    open_amount: Mapped[int] = mapped_column(BigInteger)
    expired_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Hold(db.Model):
    """Points reserved for a pending redemption; ends exactly once (captured or released)."""

    __tablename__ = "ledger_holds"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "id"),
        CheckConstraint("status IN ('open', 'captured', 'released')", name="status"),
        CheckConstraint("amount > 0", name="positive"),
        CheckConstraint("captured_amount >= 0 AND captured_amount <= amount",
                        name="captured_in_range"),
        Index("ix_ledger_holds_user_id_status", "user_id", "status"),
        Index("uq_ledger_holds_user_id_id", "user_id", "id", unique=True),
    )
    __mapper_args__ = {"primary_key": ["id"]}

    id: Mapped[int] = mapped_column(BigIntId, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    captured_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10), default="open")
    cause_type: Mapped[str] = mapped_column(String(32))
    cause_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class HoldLot(db.Model):
    """Which lots a hold took its points from, so a release gives back the same lots."""

    __tablename__ = "ledger_hold_lots"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "hold_id", "lot_id"),
        ForeignKeyConstraint(["user_id", "hold_id"], ["ledger_holds.user_id", "ledger_holds.id"]),
        ForeignKeyConstraint(["user_id", "lot_id"], ["ledger_lots.user_id", "ledger_lots.id"]),
    )

    user_id: Mapped[int] = mapped_column(BigIntId)
    hold_id: Mapped[int] = mapped_column(BigIntId)
    lot_id: Mapped[int] = mapped_column(BigIntId)
    amount: Mapped[int] = mapped_column(BigInteger)
