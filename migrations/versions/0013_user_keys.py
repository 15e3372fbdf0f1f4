"""Keys that lead with the user id, and postings that name a user or a system account.

Every table distributed by user (accounts, transactions, postings, lots, holds,
behaviours, redemptions) gets the primary key (user_id, id) on PostgreSQL, and every
unique key leads with user_id. System accounts (issuance, expired, merchant settlement)
belong to no user: they move, keeping their ids, from ledger_accounts into
ledger_system_accounts, and a posting names either a user account (account_id, referred
to through (user_id, account_id)) or a system account (system_account_id), never both.
A merchant's code is found through redemption_codes (code → owner and redemption).

Ids: each table keeps its own id allocator, so ids stay globally unique. On PostgreSQL
that is the column's sequence, which the new primary key leaves in place. On SQLite only
an INTEGER PRIMARY KEY autoincrements (a composite key would leave `id` without a value
on insert), so there `id` stays the primary key (the rowid) and the unique index on
(user_id, id) is the key the composite references name; the models declare (user_id, id)
as the primary key and that index on both databases, so both schemas are one.

SQLite cannot change a table's constraints in place: tables are rebuilt with foreign keys
off, in one transaction that checks every reference before it commits (as in 0009).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 23:40:00
"""
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TXS, POSTINGS, ACCOUNTS, SYSTEM = ("ledger_transactions", "ledger_postings",
                                   "ledger_accounts", "ledger_system_accounts")
OWNED = (ACCOUNTS, TXS, POSTINGS, "ledger_lots", "ledger_holds", "behaviours",
         "redemptions")
USER_KINDS = "'user_available', 'user_held', 'user_debt'"
SYSTEM_KINDS = "'issuance', 'expired', 'merchant_settlement'"
ACCOUNT_COLUMNS = ("id, code, kind, user_id, merchant_id, balance, lock_seq, "
                   "lifetime_earned, lifetime_reduction_g, created_at")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


@contextmanager
def _foreign_keys_off_on_sqlite():
    if not _sqlite():
        yield
        return
    with op.get_context().autocommit_block():
        op.execute("PRAGMA foreign_keys=OFF")
        op.execute("BEGIN")
        try:
            yield
            broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"references broken by the rebuild: {broken[:5]}")
            op.execute("COMMIT")
        except BaseException:
            op.execute("ROLLBACK")
            raise
        finally:
            op.execute("PRAGMA foreign_keys=ON")


# The journal's append-only triggers (0002): postings of system accounts are rewritten,
# and SQLite's triggers go with the tables they were on when rebuilt.
def _journal_triggers(create: bool) -> None:
    for table in (TXS, POSTINGS):
        if not _sqlite():
            op.execute(f"ALTER TABLE {table} {'ENABLE' if create else 'DISABLE'} TRIGGER "
                       f"{table}_append_only")
            continue
        for event in ("UPDATE", "DELETE"):
            name = f"{table}_no_{event.lower()}"
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            if create:
                op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                           "BEGIN SELECT RAISE(ABORT, 'the ledger journal is append-only'); END")


def _primary_keys(columns: str) -> None:
    """PostgreSQL only: SQLite keeps `id` as its primary key (see the docstring)."""
    if _sqlite():
        return
    for table in OWNED:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, "
                   f"ADD CONSTRAINT pk_{table} PRIMARY KEY ({columns})")


def _restart_sequence(table: str) -> None:
    """PostgreSQL: the table's next id follows the highest id it holds."""
    if not _sqlite():
        op.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                   f"coalesce(max(id), 0) + 1, false) FROM {table}")


def _swap_unique(table: str, old: list[str], new: list[str]) -> None:
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(f"uq_{table}_{'_'.join(old)}", type_="unique")
        batch.create_unique_constraint(f"uq_{table}_{'_'.join(new)}", new)


def upgrade():
    with _foreign_keys_off_on_sqlite():
        _journal_triggers(create=False)
        op.create_table(
            SYSTEM,
            sa.Column("id", ID, nullable=False),
            sa.Column("code", sa.String(length=64), nullable=False),
            sa.Column("kind", sa.String(length=24), nullable=False),
            sa.Column("merchant_id", sa.BigInteger(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.CheckConstraint(f"kind IN ({SYSTEM_KINDS})", name=op.f(f"ck_{SYSTEM}_kind")),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{SYSTEM}")),
            sa.UniqueConstraint("code", name=op.f(f"uq_{SYSTEM}_code")),
        )
        op.create_index(f"ix_{SYSTEM}_merchant_id", SYSTEM, ["merchant_id"],
                        postgresql_where=sa.text("merchant_id IS NOT NULL"),
                        sqlite_where=sa.text("merchant_id IS NOT NULL"))
        op.execute(f"INSERT INTO {SYSTEM} (id, code, kind, merchant_id, created_at) "
                   f"SELECT id, code, kind, merchant_id, created_at FROM {ACCOUNTS} "
                   f"WHERE kind IN ({SYSTEM_KINDS})")
        _restart_sequence(SYSTEM)

        with op.batch_alter_table(POSTINGS) as batch:
            batch.add_column(sa.Column("system_account_id", ID, nullable=True))
            batch.alter_column("account_id", existing_type=ID, nullable=True)
            batch.drop_constraint(f"fk_{POSTINGS}_account_id_{ACCOUNTS}", type_="foreignkey")
        op.execute(f"UPDATE {POSTINGS} SET system_account_id = account_id, account_id = NULL "
                   f"WHERE account_id IN (SELECT id FROM {SYSTEM})")
        op.execute(f"DELETE FROM {ACCOUNTS} WHERE kind IN ({SYSTEM_KINDS})")

        with op.batch_alter_table(ACCOUNTS) as batch:
            batch.drop_index(f"ix_{ACCOUNTS}_merchant_id")
            batch.drop_index(f"ix_{ACCOUNTS}_user_id")
            batch.drop_constraint(f"uq_{ACCOUNTS}_code", type_="unique")
            batch.drop_constraint(op.f(f"ck_{ACCOUNTS}_kind"), type_="check")
            batch.drop_constraint(op.f(f"ck_{ACCOUNTS}_cached_balance"), type_="check")
            batch.drop_column("merchant_id")
            batch.alter_column("user_id", existing_type=ID, nullable=False)
            batch.alter_column("balance", existing_type=sa.BigInteger(), nullable=False)
            batch.create_check_constraint(op.f(f"ck_{ACCOUNTS}_kind"), f"kind IN ({USER_KINDS})")
            batch.create_unique_constraint(f"uq_{ACCOUNTS}_user_id_kind", ["user_id", "kind"])
        op.create_index(f"uq_{ACCOUNTS}_user_id_id", ACCOUNTS, ["user_id", "id"], unique=True)

        with op.batch_alter_table(POSTINGS) as batch:
            batch.create_check_constraint(
                op.f(f"ck_{POSTINGS}_one_account"),
                "(account_id IS NULL) <> (system_account_id IS NULL)")
            batch.create_foreign_key(f"fk_{POSTINGS}_user_id_{ACCOUNTS}", ACCOUNTS,
                                     ["user_id", "account_id"], ["user_id", "id"])
            batch.create_foreign_key(f"fk_{POSTINGS}_system_account_id_{SYSTEM}", SYSTEM,
                                     ["system_account_id"], ["id"])
            batch.create_index(f"ix_{POSTINGS}_system_account_id_id",
                               ["system_account_id", "id"],
                               postgresql_where=sa.text("system_account_id IS NOT NULL"),
                               sqlite_where=sa.text("system_account_id IS NOT NULL"))

        _swap_unique("behaviours", ["partner_id", "external_id"],
                     ["user_id", "partner_id", "external_id"])
        _swap_unique("redemptions", ["code"], ["user_id", "code"])
        # An administrator's request names a transaction or a behaviour by id alone: the
        # owner is found first, through these.
        op.create_index(f"ix_{TXS}_id", TXS, ["id"])
        op.create_index("ix_behaviours_id", "behaviours", ["id"])
        _primary_keys("user_id, id")

        op.create_table(
            "redemption_codes",
            sa.Column("code", sa.String(length=16), nullable=False),
            sa.Column("user_id", ID, nullable=False),
            sa.Column("redemption_id", ID, nullable=False),
            sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                    name=op.f("fk_redemption_codes_user_id_users")),
            sa.PrimaryKeyConstraint("code", name=op.f("pk_redemption_codes")),
        )
        op.execute("INSERT INTO redemption_codes (code, user_id, redemption_id) "
                   "SELECT code, user_id, id FROM redemptions")
        _journal_triggers(create=True)


def downgrade():
    with _foreign_keys_off_on_sqlite():
        _journal_triggers(create=False)
        op.drop_table("redemption_codes")
        with op.batch_alter_table(POSTINGS) as batch:
            batch.drop_index(f"ix_{POSTINGS}_system_account_id_id")
            batch.drop_constraint(f"fk_{POSTINGS}_system_account_id_{SYSTEM}",
                                  type_="foreignkey")
            batch.drop_constraint(f"fk_{POSTINGS}_user_id_{ACCOUNTS}", type_="foreignkey")
            batch.drop_constraint(op.f(f"ck_{POSTINGS}_one_account"), type_="check")
        _primary_keys("id")
        op.drop_index("ix_behaviours_id", table_name="behaviours")
        op.drop_index(f"ix_{TXS}_id", table_name=TXS)
        _swap_unique("redemptions", ["user_id", "code"], ["code"])
        _swap_unique("behaviours", ["user_id", "partner_id", "external_id"],
                     ["partner_id", "external_id"])

        op.drop_index(f"uq_{ACCOUNTS}_user_id_id", table_name=ACCOUNTS)
        with op.batch_alter_table(ACCOUNTS) as batch:
            batch.drop_constraint(f"uq_{ACCOUNTS}_user_id_kind", type_="unique")
            batch.drop_constraint(op.f(f"ck_{ACCOUNTS}_kind"), type_="check")
            batch.add_column(sa.Column("merchant_id", sa.BigInteger(), nullable=True))
            batch.alter_column("user_id", existing_type=ID, nullable=True)
            batch.alter_column("balance", existing_type=sa.BigInteger(), nullable=True)
            batch.create_check_constraint(op.f(f"ck_{ACCOUNTS}_kind"),
                                          f"kind IN ({USER_KINDS}, {SYSTEM_KINDS})")
            batch.create_check_constraint(
                op.f(f"ck_{ACCOUNTS}_cached_balance"),
                f"(kind IN ({USER_KINDS})) = (balance IS NOT NULL)")
            batch.create_unique_constraint(f"uq_{ACCOUNTS}_code", ["code"])
            batch.create_index(f"ix_{ACCOUNTS}_user_id", ["user_id"])
            batch.create_index(f"ix_{ACCOUNTS}_merchant_id", ["merchant_id"],
                               postgresql_where=sa.text("merchant_id IS NOT NULL"),
                               sqlite_where=sa.text("merchant_id IS NOT NULL"))

        # A system account created since the upgrade may have an id a user account took
        # meanwhile: it moves above every id of both tables, its postings with it.
        clash = f"IN (SELECT id FROM {ACCOUNTS})"
        above = (f"(SELECT max(m) FROM (SELECT max(id) AS m FROM {ACCOUNTS} "
                 f"UNION ALL SELECT max(id) FROM {SYSTEM}) AS ids)")
        op.execute(f"UPDATE {POSTINGS} SET system_account_id = system_account_id + {above} "
                   f"WHERE system_account_id {clash}")
        op.execute(f"UPDATE {SYSTEM} SET id = id + {above} WHERE id {clash}")
        op.execute(f"INSERT INTO {ACCOUNTS} ({ACCOUNT_COLUMNS}) "
                   "SELECT id, code, kind, NULL, merchant_id, NULL, 0, 0, 0, created_at "
                   f"FROM {SYSTEM}")
        _restart_sequence(ACCOUNTS)
        op.execute(f"UPDATE {POSTINGS} SET account_id = system_account_id "
                   "WHERE system_account_id IS NOT NULL")
        with op.batch_alter_table(POSTINGS) as batch:
            batch.drop_column("system_account_id")
            batch.alter_column("account_id", existing_type=ID, nullable=False)
            batch.create_foreign_key(f"fk_{POSTINGS}_account_id_{ACCOUNTS}", ACCOUNTS,
                                     ["account_id"], ["id"])
        op.drop_index(f"ix_{SYSTEM}_merchant_id", table_name=SYSTEM)
        op.drop_table(SYSTEM)
        _journal_triggers(create=True)
