"""At most one version of a methodology in force: a unique partial index on its code

The approvals queue on a lock per methodology (app.methodology.service); the index is the
database's own guarantee of what that lock keeps.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 16:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

IN_FORCE = "status = 'approved' AND effective_until IS NULL"


def upgrade():
    op.create_index("uq_methodology_versions_in_force", "methodology_versions", ["code"],
                    unique=True, postgresql_where=sa.text(IN_FORCE),
                    sqlite_where=sa.text(IN_FORCE))


def downgrade():
    op.drop_index("uq_methodology_versions_in_force", table_name="methodology_versions")
