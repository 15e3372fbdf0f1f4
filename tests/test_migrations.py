"""`flask db upgrade` on an empty database gives exactly the models' schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import event, inspect, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import Pool

from app import create_app, ledger
from app.extensions import db
from app.ledger.verify import verify
from app.ops.views import migration_heads
from app.uow import unit_of_work
from app.users import service as users
from tests.conftest import TEST_JWT_SECRET, scratch_database
from tests.helpers import PASSWORD


def test_migrated_schema_equals_models(app):
    with app.app_context(), db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, db.metadata) == []
        assert set(ctx.get_current_heads()) == migration_heads()


def test_create_app_does_not_touch_the_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    app = create_app({"DATABASE_URL": url, "JWT_SECRET_KEY": "k" * 40},
                     instance_path=str(tmp_path / "i"))
    with app.app_context():
        from sqlalchemy import inspect

        assert inspect(db.engine).get_table_names() == []
        db.engine.dispose()


def test_create_app_opens_no_database_connection(db_url, tmp_path):
    """Building the app (each worker, each CLI call) writes nothing and reads nothing: not
    even on a migrated database, where a write would be possible."""
    opened = []

    def count(dbapi_connection, record) -> None:
        opened.append(dbapi_connection)

    event.listen(Pool, "connect", count)
    try:
        app = create_app({"DATABASE_URL": db_url, "JWT_SECRET_KEY": TEST_JWT_SECRET},
                         instance_path=str(tmp_path / "i"))
    finally:
        event.remove(Pool, "connect", count)
    assert opened == []
    with app.app_context():
        db.engine.dispose()


def test_owner_in_ledger_keys_migrates_existing_ledger_both_ways(database, tmp_path):
    """0009 on a ledger with history: down to 0008 and up again, every row keeps its
    owner, the journal stays append-only, and the ledger verifies clean."""
    with scratch_database(database["server"], tmp_path) as url:
        app = create_app({"DATABASE_URL": url, "JWT_SECRET_KEY": TEST_JWT_SECRET},
                         instance_path=str(tmp_path / "instance"))
        with app.app_context():
            upgrade()
            for n in range(2):
                with unit_of_work():
                    u = users.register(email=f"m{n}@example.com", password=PASSWORD).id
                with unit_of_work():
                    earned = ledger.earn(u, 10, key="e1", cause_type="behaviour").id
                    ledger.earn(u, 5, key="e2", cause_type="behaviour")
                with unit_of_work():
                    held = ledger.hold(u, 12, key="h", cause_type="redemption").id
                with unit_of_work():
                    ledger.capture(held, merchant_id=1, key="c", amount=8)
                with unit_of_work():
                    ledger.reverse(earned, key="r", reason="test", actor_id=None)
            assert verify() == []
            db.session.remove()  # its read locks would keep the migration waiting
            downgrade(revision="0008")
            assert "user_id" not in {c["name"] for c in inspect(db.engine).get_columns(
                "ledger_postings")}
            upgrade()
            assert verify() == []
            db.session.remove()
            with db.engine.connect() as conn:
                for table, owner, via in (("ledger_postings", "ledger_transactions",
                                           "transaction_id"),
                                          ("ledger_hold_lots", "ledger_holds", "hold_id")):
                    rows = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                    owned = conn.execute(text(
                        f"SELECT count(*) FROM {table} r JOIN {owner} o "
                        f"ON o.id = r.{via} AND o.user_id = r.user_id")).scalar()
                    assert owned == rows > 0, table
            for table in ("ledger_postings", "ledger_transactions"):
                with db.engine.connect() as conn:
                    try:
                        conn.execute(text(f"DELETE FROM {table}"))
                        raise AssertionError(f"{table} accepted a DELETE")
                    except DatabaseError as err:
                        assert "append-only" in str(err)
            db.engine.dispose()
