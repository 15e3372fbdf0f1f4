"""`flask db upgrade` on an empty database gives exactly the models' schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import event, inspect, select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import Pool

from app import create_app, ledger, rewards
from app.behaviours.models import Behaviour
from app.db_types import utcnow
from app.extensions import db
from app.ledger.verify import verify
from app.merchants import service as merchants
from app.merchants.models import Merchant
from app.ops.views import migration_heads
from app.partners.models import Partner
from app.uow import unit_of_work
from app.users import service as users
from tests.conftest import TEST_JWT_SECRET, scratch_database
from tests.helpers import PASSWORD


def _journal_refuses_deletes() -> None:
    """The journal's append-only triggers survived the migration's table rewrites."""
    for table in ("ledger_postings", "ledger_transactions"):
        with db.engine.connect() as conn:
            try:
                conn.execute(text(f"DELETE FROM {table}"))
                raise AssertionError(f"{table} accepted a DELETE")
            except DatabaseError as err:
                assert "append-only" in str(err)


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
            _journal_refuses_deletes()
            db.engine.dispose()


OWNED = ("ledger_accounts", "ledger_transactions", "ledger_postings", "ledger_lots",
         "ledger_holds", "behaviours", "redemptions")
SAME_ROWS = {  # tables 0013 re-keys but whose rows it leaves as they are
    "ledger_transactions": "id, user_id, type, idempotency_key, reverses_id, hold_id",
    "ledger_lots": "id, user_id, transaction_id, amount, open_amount",
    "ledger_holds": "id, user_id, amount, status",
    "ledger_hold_lots": "user_id, hold_id, lot_id, amount",
    "behaviours": "id, user_id, partner_id, external_id, status",
    "redemptions": "id, code, user_id, hold_id, status",
    "credit_totals": "user_id, points_per_gram, points",
}
POSTINGS_AT = {
    "0013": "SELECT p.id, p.user_id, p.transaction_id, coalesce(a.code, s.code), p.amount "
            "FROM ledger_postings p LEFT JOIN ledger_accounts a ON a.user_id = p.user_id "
            "AND a.id = p.account_id LEFT JOIN ledger_system_accounts s "
            "ON s.id = p.system_account_id",
    "0012": "SELECT p.id, p.user_id, p.transaction_id, a.code, p.amount "
            "FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id",
}
ACCOUNTS_AT = {
    "0013": "SELECT code, kind, user_id, NULL, balance FROM ledger_accounts UNION ALL "
            "SELECT code, kind, NULL, merchant_id, NULL FROM ledger_system_accounts",
    "0012": "SELECT code, kind, user_id, merchant_id, balance FROM ledger_accounts",
}


def _snapshot(revision: str) -> dict[str, list[tuple]]:
    """Every affected row, accounts named by code (a system account's id may move when
    0013 is undone: see its downgrade)."""
    queries = {table: f"SELECT {columns} FROM {table}" for table, columns in SAME_ROWS.items()}
    queries |= {"postings": POSTINGS_AT[revision], "accounts": ACCOUNTS_AT[revision]}
    with db.engine.connect() as conn:
        return {name: sorted(tuple(row) for row in conn.execute(text(sql)))
                for name, sql in queries.items()}


def _ledger_history() -> None:
    """Two citizens' earns, a hold captured, a reversal, a redemption and behaviours."""
    admin = users.register(email="admin@example.com", password=PASSWORD, roles=("admin",))
    merchant = merchants.create(admin, name="Green Cafe", contact="cafe@example.com")
    reward = rewards.create_reward(admin, merchant, {
        "title_zh": "咖啡", "category": "food_drink", "points_price": 3, "total_stock": 5})
    rewards.approve(admin, reward.pending.id)
    partner = Partner(name="Metro", created_by=admin.id)
    db.session.add(partner)
    db.session.flush()
    now = utcnow()
    for n in range(2):
        u = users.register(email=f"k{n}@example.com", password=PASSWORD).id
        earned = ledger.earn(u, 10, key="e1", cause_type="behaviour").id
        ledger.earn(u, 5, key="e2", cause_type="behaviour")
        held = ledger.hold(u, 6, key="h", cause_type="test").id
        ledger.capture(held, merchant_id=merchant.id, key="c", amount=4)
        rewards.redeem(u, reward.id, request_key="once", now=now)
        ledger.reverse(earned, key="r", reason="test", actor_id=None)
        db.session.add(Behaviour(
            user_id=u, methodology="clean_plate", source="partner", partner_id=partner.id,
            external_id=f"trip-{n}", occurred_at=now, local_date=now.date(),
            window_start=now, window_end=now, data={}, status="rejected", reasons=[],
            ledger_tx_id=earned))
    db.session.flush()


def test_user_keys_migrate_existing_ledger_both_ways(database, tmp_path):
    """0013 on data in every table it re-keys: down to 0012 (system accounts and their
    postings back in ledger_accounts) and up again, every row is where it was, the keys
    lead with user_id, codes are found through redemption_codes, and the ledger verifies."""
    with scratch_database(database["server"], tmp_path) as url:
        app = create_app({"DATABASE_URL": url, "JWT_SECRET_KEY": TEST_JWT_SECRET},
                         instance_path=str(tmp_path / "instance"))
        with app.app_context():
            upgrade()
            with unit_of_work():
                _ledger_history()
            assert verify() == []
            before = _snapshot("0013")
            db.session.remove()  # its read locks would keep the migration waiting
            downgrade(revision="0012")
            tables = set(inspect(db.engine).get_table_names())
            assert not tables & {"ledger_system_accounts", "redemption_codes"}
            assert _snapshot("0012") == before
            upgrade()
            assert _snapshot("0013") == before
            inspector = inspect(db.engine)
            for table in OWNED:
                key = inspector.get_pk_constraint(table)["constrained_columns"]
                assert key == (["id"] if database["server"] is None else ["user_id", "id"])
            assert {tuple(u["column_names"]) for u in inspector.get_unique_constraints(
                "behaviours")} == {("user_id", "partner_id", "external_id")}
            with db.engine.connect() as conn:
                codes = conn.execute(text("SELECT code, user_id, redemption_id "
                                          "FROM redemption_codes")).all()
                assert sorted(map(tuple, codes)) == sorted(
                    (code, user, rid) for rid, code, user, _, _ in before["redemptions"])
                assert conn.execute(text("SELECT count(*) FROM ledger_accounts WHERE kind "
                                         "IN ('issuance', 'expired', 'merchant_settlement')")
                                    ).scalar() == 0
            assert verify() == []
            # A system account's id may have moved in the round trip; a restarted app
            # would not remember the old one, nor does this one.
            app.extensions.pop("ledger_system_accounts", None)
            # The migrated data takes new writes: ids still come on insert, codes are found.
            merchant = db.session.scalars(select(Merchant)).one()
            [(tx_id, user, *_)] = [tx for tx in before["ledger_transactions"]
                                   if tx[3] == "e2"][:1]
            with unit_of_work():
                ledger.earn(user, 7, key="after", cause_type="behaviour")
                ledger.reverse(tx_id, key="r2", reason="test", actor_id=None)
            code = before["redemptions"][0][1]
            found = rewards.merchant_code(merchant, code)
            assert found is not None and found.code == code
            assert verify() == []
            db.session.remove()
            _journal_refuses_deletes()
            db.engine.dispose()
