"""`flask db upgrade` on an empty database gives exactly the models' schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from app.extensions import db
from app.ops.views import migration_heads


def test_migrated_schema_equals_models(app):
    with app.app_context(), db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, db.metadata) == []
        assert set(ctx.get_current_heads()) == migration_heads()


def test_create_app_does_not_touch_the_schema(tmp_path):
    from app import create_app

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    app = create_app({"DATABASE_URL": url, "JWT_SECRET_KEY": "k" * 40},
                     instance_path=str(tmp_path / "i"))
    with app.app_context():
        from sqlalchemy import inspect

        assert inspect(db.engine).get_table_names() == []
        db.engine.dispose()
