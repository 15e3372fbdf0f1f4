"""Failed logins counted in the database the workers share, so the per-account and
per-address limits hold exactly across every worker whatever the rate-limit storage does.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_failures")),
    )
    op.create_index(op.f("ix_login_failures_window_start"), "login_failures",
                    ["window_start"])


def downgrade() -> None:
    op.drop_index(op.f("ix_login_failures_window_start"), table_name="login_failures")
    op.drop_table("login_failures")
