"""Exact points and claims elsewhere: each user's running credited grams and issued points
per conversion rate (credit_totals), and a behaviour's declaration that its reduction was
already claimed in another mechanism (behaviours.claimed_elsewhere).

The totals start from every credited behaviour so far, per user and rate (a credit without
a rate was made at the default 1 point per gram): the points each was given were rounded
down one by one, so the first credit after this migration also pays out the remainders
they left.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "credit_totals",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=False),
        sa.Column("points_per_gram", sa.Numeric(precision=12, scale=6), nullable=False),
        sa.Column("credited_g", sa.Numeric(precision=20, scale=3), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_credit_totals_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "points_per_gram", name=op.f("pk_credit_totals")),
    )
    with op.batch_alter_table("behaviours", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_elsewhere", sa.JSON(), nullable=True))
    op.execute(
        "INSERT INTO credit_totals (user_id, points_per_gram, credited_g, points) "
        "SELECT b.user_id, COALESCE(r.points_per_gram, 1), SUM(b.credited_g), SUM(b.points) "
        "FROM behaviours b LEFT JOIN conversion_rates r ON r.id = b.conversion_rate_id "
        "WHERE b.status = 'credited' "
        "GROUP BY b.user_id, COALESCE(r.points_per_gram, 1)")


def downgrade():
    with op.batch_alter_table("behaviours", schema=None) as batch_op:
        batch_op.drop_column("claimed_elsewhere")
    op.drop_table("credit_totals")
