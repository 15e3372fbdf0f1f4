"""Partial indexes: the review queue, transactions with a hold, merchants' accounts

Each replaced index held one entry per row although only a few rows are ever looked up
through it; every behaviour, earn and new user paid for the entries.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 10:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# (old name, table, old columns) → (new name, columns, predicate)
CHANGES = [
    (("ix_behaviours_status", "behaviours", ["status"]),
     ("ix_behaviours_pending_review", ["id"], "status = 'pending_review'")),
    (("ix_ledger_transactions_hold_id", "ledger_transactions", ["hold_id"]),
     ("ix_ledger_transactions_hold_id", ["hold_id"], "hold_id IS NOT NULL")),
    (("ix_ledger_accounts_merchant_id", "ledger_accounts", ["merchant_id"]),
     ("ix_ledger_accounts_merchant_id", ["merchant_id"], "merchant_id IS NOT NULL")),
]


def upgrade():
    for (old, table, _), (new, columns, where) in CHANGES:
        op.drop_index(old, table_name=table)
        op.create_index(new, table, columns, postgresql_where=sa.text(where),
                        sqlite_where=sa.text(where))


def downgrade():
    for (old, table, old_columns), (new, _, _) in CHANGES:
        op.drop_index(new, table_name=table)
        op.create_index(old, table, old_columns)
