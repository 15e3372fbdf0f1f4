"""The routing guard (tests/routing_guard.py): the statement checker, and the recording of
what the application issues. Parsing needs no server: these run on both databases."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import text

from app.extensions import db
from app.sharding import DISTRIBUTED_BY_USER, FAN_OUT, LOCAL, REFERENCE, fan_out
from tests import routing_guard
from tests.routing_checker import violations

ROUTED = [
    "SELECT behaviours.id FROM behaviours WHERE behaviours.user_id = %(user_id_1)s "
    "AND behaviours.id = %(id_1)s",
    "UPDATE behaviours SET status=%(status)s WHERE behaviours.user_id = %(user_id_1)s "
    "AND behaviours.id = %(id_1)s",
    "DELETE FROM credit_totals WHERE user_id = %s",
    "SELECT t.id, p.amount FROM ledger_transactions AS t JOIN ledger_postings AS p "
    "ON p.user_id = t.user_id AND p.transaction_id = t.id WHERE t.user_id = %(u)s",
    "SELECT * FROM ledger_lots WHERE ledger_lots.user_id = ANY(%(ids)s::BIGINT[])",
    "SELECT * FROM ledger_holds WHERE ledger_holds.user_id IN (%(u_1)s, %(u_2)s)",
    "SELECT * FROM ledger_lots WHERE (ledger_lots.user_id, ledger_lots.id) "
    "IN ((%(a)s, %(b)s), (%(c)s, %(d)s))",
    "SELECT * FROM ledger_lots WHERE (user_id = %(a)s AND id = 1) OR (user_id = %(b)s)",
    # A correlated subquery joined on user_id to its named outer row.
    "SELECT l.id FROM ledger_lots AS l WHERE l.user_id = %(u)s AND NOT EXISTS "
    "(SELECT 1 FROM ledger_hold_lots AS h WHERE h.user_id = l.user_id AND h.lot_id = l.id)",
    # A CTE's user_id carries its rows' naming to the statement that joins it.
    "WITH due AS (SELECT user_id, id FROM ledger_lots WHERE user_id = %(u)s) "
    "UPDATE ledger_lots SET open_amount = 0 FROM due "
    "WHERE ledger_lots.user_id = due.user_id AND ledger_lots.id = due.id",
    # Rows of a JSON parameter name their users.
    "UPDATE ledger_lots AS l SET open_amount = r.open FROM json_to_recordset(CAST(%(rows)s "
    "AS json)) AS r(user_id bigint, id bigint, open bigint) "
    "WHERE l.user_id = r.user_id AND l.id = r.id",
    "WITH new AS (SELECT n.user_id, n.rate FROM json_to_recordset(CAST(%(rows)s AS json)) "
    "AS n(user_id bigint, rate numeric)) SELECT t.points FROM credit_totals AS t "
    "JOIN new USING (user_id, rate)",
    "INSERT INTO behaviours (user_id, status) VALUES (%(user_id)s, %(status)s) "
    "RETURNING behaviours.id",
    "INSERT INTO ledger_postings (user_id, transaction_id, account_id, amount) "
    "SELECT user_id, transaction_id, account_id, amount "
    "FROM json_populate_recordset(NULL::ledger_postings, CAST(%(rows)s AS json))",
    "SELECT anon_1.n FROM (SELECT count(*) AS n FROM redemptions "
    "WHERE redemptions.user_id = %(u)s) AS anon_1",
    # Reference and local tables need no user.
    "SELECT users.id FROM users WHERE users.email = %(email)s",
    "UPDATE rewards SET stock = stock - 1 WHERE rewards.id = %(id)s",
]

UNROUTED = {
    "UPDATE behaviours SET status=%(status)s WHERE behaviours.id = %(id_1)s":
        "updates or deletes behaviours without naming its user_id",
    "SELECT t.id FROM ledger_transactions AS t JOIN ledger_postings AS p "
    "ON p.transaction_id = t.id WHERE t.user_id = %(u)s":
        "reads ledger_postings AS p without naming its user_id",
    "SELECT count(*) FROM behaviours WHERE behaviours.status = %(s)s":
        "reads behaviours without naming its user_id",
    "SELECT * FROM ledger_lots WHERE (user_id = %(a)s AND id = 1) OR id = 2":
        "reads ledger_lots without naming its user_id",
    "SELECT l.id FROM ledger_lots AS l WHERE l.user_id = %(u)s AND EXISTS "
    "(SELECT 1 FROM ledger_hold_lots AS h WHERE h.lot_id = l.id)":
        "reads ledger_hold_lots AS h without naming its user_id",
    "SELECT * FROM redemptions WHERE redemptions.user_id IN "
    "(SELECT user_roles.user_id FROM user_roles WHERE user_roles.role = %(r)s)":
        "reads redemptions without naming its user_id",
    "WITH x AS (SELECT 1) SELECT * FROM ledger_lots WHERE user_id = %(a)s "
    "UNION ALL SELECT * FROM ledger_holds":
        "reads ledger_holds without naming its user_id",
    "SELECT t.points FROM user_roles AS r JOIN credit_totals AS t USING (user_id) "
    "WHERE r.role = %(r)s": "reads credit_totals AS t without naming its user_id",
    "INSERT INTO behaviours (id, status) VALUES (%(id)s, %(status)s)":
        "INSERT INTO behaviours does not name user_id",
}


@pytest.mark.parametrize("sql", ROUTED)
def test_routed_statements_pass(sql):
    assert violations(sql) == ()


@pytest.mark.parametrize("sql", UNROUTED)
def test_unrouted_statements_are_named(sql):
    assert violations(sql) == (UNROUTED[sql],)


def test_every_table_has_one_kind():
    kinds = [DISTRIBUTED_BY_USER, REFERENCE, LOCAL]
    for i, kind in enumerate(kinds):
        for other in kinds[i + 1:]:
            assert not kind & other


def test_an_unknown_fan_out_raises_at_once():
    with pytest.raises(KeyError, match="FAN_OUT"):
        fan_out("whatever-i-like")
    assert all(reason for reason in FAN_OUT.values())


# App-like code: functions whose frames are under app/ (and one under migrations/), as
# the application's and a migration's are.
PLANTED_APP = '''
def issue(statement):
    observe(statement, sys._getframe())


def mark_reviewed(behaviour_id):
    db.session.execute(text("UPDATE behaviours SET status = status WHERE id = :id"),
                       {"id": behaviour_id})
'''

PLANTED_MIGRATION = '''
def upgrade(statement):
    issue(statement)
'''


def _planted(source: str, path: str, **names) -> dict:
    namespace = {"sys": sys, "observe": routing_guard.observe, "db": db, "text": text,
                 **names}
    exec(compile(source, str(routing_guard.ROOT / path), "exec"), namespace)
    return namespace


APP = _planted(PLANTED_APP, "app/behaviours/planted_by_test.py")
MIGRATION = _planted(PLANTED_MIGRATION, "migrations/versions/planted_by_test.py",
                     issue=APP["issue"])
ID_ONLY = "UPDATE behaviours SET status=%(status)s WHERE behaviours.id = %(id_1)s"


def test_a_statement_the_app_issues_is_recorded_with_its_site():
    APP["issue"](ID_ONLY)
    [found] = routing_guard.recorder.take()
    assert found.site == "app/behaviours/planted_by_test.py:3"
    assert found.function == "issue"
    assert found.problems == ("updates or deletes behaviours without naming its user_id",)
    assert found.statement == "UPDATE behaviours SET status=? WHERE behaviours.id = ?"


def test_test_code_migrations_and_fan_outs_are_not_checked():
    routing_guard.observe(ID_ONLY, sys._getframe())
    MIGRATION["upgrade"](ID_ONLY)
    with fan_out("owner-probe"):
        APP["issue"](ID_ONLY)
    assert routing_guard.recorder.take() == []


@pytest.mark.skipif(routing_guard.MODE == "off", reason="ROUTING_GUARD=off")
def test_the_guard_records_an_id_only_update_the_app_runs(app, is_postgres):
    if not is_postgres:
        pytest.skip("the guard watches PostgreSQL runs")
    with app.app_context():
        APP["mark_reviewed"](1)
        db.session.rollback()
    [found] = routing_guard.recorder.take()
    assert found.site == "app/behaviours/planted_by_test.py:7"
    assert found.function == "mark_reviewed"
    assert found.statement == "UPDATE behaviours SET status = status WHERE id = ?"
