"""partner_batches: each accepted submission of behaviour records and its outcome counts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "partner_batches",
        sa.Column("id", ID, nullable=False),
        sa.Column("partner_id", ID, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"],
                                name=op.f("fk_partner_batches_partner_id_partners")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_batches")),
    )
    op.create_index("ix_partner_batches_partner_id_id", "partner_batches",
                    ["partner_id", "id"], unique=False)


def downgrade():
    op.drop_index("ix_partner_batches_partner_id_id", table_name="partner_batches")
    op.drop_table("partner_batches")
