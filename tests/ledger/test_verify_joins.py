"""`ledger verify` reads every user's rows (a fan-out the routing guard lets through), but
Citus still refuses a join between two user-owned tables on the id alone: each of the
checks' joins must name `user_id` on both sides. Parsing needs no server: this runs on
both databases."""

from __future__ import annotations

from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind
from pglast.visitors import Visitor
from sqlalchemy.dialects import postgresql

from app.ledger import verify as verify_module
from tests.routing_checker import to_postgresql


def _column(node: ast.Node) -> str | None:
    if isinstance(node, ast.ColumnRef):
        return node.fields[-1].sval
    return None


def _joins_on_user_id(quals: ast.Node | None) -> bool:
    """An `a.user_id = b.user_id` among the join's ANDed conditions."""
    if isinstance(quals, ast.BoolExpr):
        return any(_joins_on_user_id(arg) for arg in quals.args)
    return (isinstance(quals, ast.A_Expr) and quals.kind == A_Expr_Kind.AEXPR_OP
            and quals.name[0].sval == "="
            and _column(quals.lexpr) == _column(quals.rexpr) == "user_id")


class _Joins(Visitor):
    def __init__(self) -> None:
        self.joins: list[ast.JoinExpr] = []

    def visit_JoinExpr(self, ancestors, node: ast.JoinExpr) -> None:
        self.joins.append(node)


def _statements(monkeypatch) -> list[str]:
    issued: list[str] = []

    def record(statement):
        issued.append(str(statement.compile(dialect=postgresql.dialect())))
        return []

    monkeypatch.setattr(verify_module, "_rows", record)
    assert verify_module.verify() == []
    return issued


def test_every_join_of_the_checks_names_user_id(monkeypatch):
    statements = _statements(monkeypatch)
    assert len(statements) == 8
    joins = 0
    for sql in statements:
        found = _Joins()
        for raw in parse_sql(to_postgresql(sql)):
            found(raw.stmt)
        for join in found.joins:
            joins += 1
            assert _joins_on_user_id(join.quals), sql
    assert joins == 6
