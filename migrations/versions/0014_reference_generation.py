"""reference_generation: moved with every change to methodology versions or conversion
rates, so that processes caching them know when to reload

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 00:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reference_generation",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_reference_generation_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_generation")),
    )


def downgrade():
    op.drop_table("reference_generation")
