"""The user id in every ledger key: postings and hold lots carry their owner, and the
ledger's references (and those into it from behaviours and redemptions) go through
(user_id, id), so the journal can be distributed by user without a key that spans users.

On PostgreSQL these are plain ALTERs. SQLite cannot add a constraint to a table, so the
tables are rebuilt; a rebuilt table is dropped while others still refer to it, which
SQLite allows only with foreign keys off, and that takes effect only outside a
transaction: the rebuild runs in its own transaction with them off, and checks every
reference before it commits.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 22:45:00
"""
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TXS, HOLDS, LOTS = "ledger_transactions", "ledger_holds", "ledger_lots"


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


# The journal's append-only triggers (0002): the owner is written into postings that
# already exist, and SQLite's triggers go with the tables they were on when rebuilt.
def _journal_triggers(create: bool, tables=(TXS, "ledger_postings")) -> None:
    for table in tables:
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


def _owner_column(table: str, source: str, via: str) -> None:
    """Add user_id to `table`, filled from `source` through `table.via`."""
    op.add_column(table, sa.Column("user_id", ID, nullable=True))
    op.execute(f"UPDATE {table} SET user_id = (SELECT s.user_id FROM {source} s "
               f"WHERE s.id = {table}.{via})")


def _refer(batch, table: str, column: str, parent: str, *, old: bool = True) -> None:
    """Replace `table.column` → `parent.id` by (user_id, column) → parent (user_id, id)."""
    if old:
        batch.drop_constraint(f"fk_{table}_{column}_{parent}", type_="foreignkey")
    batch.create_foreign_key(f"fk_{table}_user_id_{parent}", parent, ["user_id", column],
                             ["user_id", "id"])


def upgrade():
    with _foreign_keys_off_on_sqlite():
        for table in (TXS, HOLDS, LOTS):
            op.create_index(f"uq_{table}_user_id_id", table, ["user_id", "id"], unique=True)
        op.drop_index("ix_ledger_transactions_user_id_id", table_name=TXS)

        _journal_triggers(create=False)
        _owner_column("ledger_postings", TXS, "transaction_id")
        _owner_column("ledger_hold_lots", HOLDS, "hold_id")

        with op.batch_alter_table(TXS) as batch:
            batch.drop_constraint("uq_ledger_transactions_reverses_id", type_="unique")
            batch.create_unique_constraint("uq_ledger_transactions_user_id_reverses_id",
                                           ["user_id", "reverses_id"])
            _refer(batch, TXS, "reverses_id", TXS)
            _refer(batch, TXS, "hold_id", HOLDS)
        with op.batch_alter_table(LOTS) as batch:
            _refer(batch, LOTS, "transaction_id", TXS)
        with op.batch_alter_table("ledger_postings") as batch:
            batch.alter_column("user_id", existing_type=ID, nullable=False)
            batch.drop_index("ix_ledger_postings_transaction_id")
            batch.create_index("ix_ledger_postings_user_id_transaction_id",
                               ["user_id", "transaction_id"])
            _refer(batch, "ledger_postings", "transaction_id", TXS)
        with op.batch_alter_table("ledger_hold_lots") as batch:
            batch.alter_column("user_id", existing_type=ID, nullable=False)
            batch.drop_constraint("pk_ledger_hold_lots", type_="primary")
            batch.create_primary_key("pk_ledger_hold_lots", ["user_id", "hold_id", "lot_id"])
            _refer(batch, "ledger_hold_lots", "hold_id", HOLDS)
            _refer(batch, "ledger_hold_lots", "lot_id", LOTS)
        with op.batch_alter_table("redemptions") as batch:
            batch.drop_constraint("uq_redemptions_hold_id", type_="unique")
            batch.create_unique_constraint("uq_redemptions_user_id_hold_id",
                                           ["user_id", "hold_id"])
            _refer(batch, "redemptions", "hold_id", HOLDS)
        with op.batch_alter_table("behaviours") as batch:
            _refer(batch, "behaviours", "ledger_tx_id", TXS)
        _journal_triggers(create=True)


def downgrade():
    with _foreign_keys_off_on_sqlite():
        _journal_triggers(create=False)
        with op.batch_alter_table("behaviours") as batch:
            batch.drop_constraint("fk_behaviours_user_id_ledger_transactions", type_="foreignkey")
            batch.create_foreign_key("fk_behaviours_ledger_tx_id_ledger_transactions", TXS,
                                     ["ledger_tx_id"], ["id"])
        with op.batch_alter_table("redemptions") as batch:
            batch.drop_constraint("fk_redemptions_user_id_ledger_holds", type_="foreignkey")
            batch.drop_constraint("uq_redemptions_user_id_hold_id", type_="unique")
            batch.create_unique_constraint("uq_redemptions_hold_id", ["hold_id"])
            batch.create_foreign_key("fk_redemptions_hold_id_ledger_holds", HOLDS, ["hold_id"],
                                     ["id"])
        with op.batch_alter_table("ledger_hold_lots") as batch:
            batch.drop_constraint("fk_ledger_hold_lots_user_id_ledger_lots", type_="foreignkey")
            batch.drop_constraint("fk_ledger_hold_lots_user_id_ledger_holds", type_="foreignkey")
            batch.drop_constraint("pk_ledger_hold_lots", type_="primary")
            batch.create_primary_key("pk_ledger_hold_lots", ["hold_id", "lot_id"])
            batch.drop_column("user_id")
            batch.create_foreign_key("fk_ledger_hold_lots_hold_id_ledger_holds", HOLDS,
                                     ["hold_id"], ["id"])
            batch.create_foreign_key("fk_ledger_hold_lots_lot_id_ledger_lots", LOTS, ["lot_id"],
                                     ["id"])
        with op.batch_alter_table("ledger_postings") as batch:
            batch.drop_constraint("fk_ledger_postings_user_id_ledger_transactions",
                                  type_="foreignkey")
            batch.drop_index("ix_ledger_postings_user_id_transaction_id")
            batch.drop_column("user_id")
            batch.create_index("ix_ledger_postings_transaction_id", ["transaction_id"])
            batch.create_foreign_key("fk_ledger_postings_transaction_id_ledger_transactions",
                                     TXS, ["transaction_id"], ["id"])
        with op.batch_alter_table(LOTS) as batch:
            batch.drop_constraint("fk_ledger_lots_user_id_ledger_transactions", type_="foreignkey")
            batch.create_foreign_key("fk_ledger_lots_transaction_id_ledger_transactions", TXS,
                                     ["transaction_id"], ["id"])
        with op.batch_alter_table(TXS) as batch:
            batch.drop_constraint("fk_ledger_transactions_user_id_ledger_holds", type_="foreignkey")
            batch.drop_constraint("fk_ledger_transactions_user_id_ledger_transactions",
                                  type_="foreignkey")
            batch.drop_constraint("uq_ledger_transactions_user_id_reverses_id", type_="unique")
            batch.create_unique_constraint("uq_ledger_transactions_reverses_id", ["reverses_id"])
            batch.create_foreign_key("fk_ledger_transactions_reverses_id_ledger_transactions", TXS,
                                     ["reverses_id"], ["id"])
            batch.create_foreign_key("fk_ledger_transactions_hold_id_ledger_holds", HOLDS,
                                     ["hold_id"], ["id"])
        op.create_index("ix_ledger_transactions_user_id_id", TXS, ["user_id", "id"])
        for table in (LOTS, HOLDS, TXS):
            op.drop_index(f"uq_{table}_user_id_id", table_name=table)
        _journal_triggers(create=True)
