"""Does a SQL statement name the user of every user-owned row it touches?

`violations(sql)` parses the statement with PostgreSQL's own parser (pglast, libpg_query)
and returns one line per problem, none when Citus can route it by user:

- every reference to a table in `app.sharding.DISTRIBUTED_BY_USER` in a SELECT, UPDATE or
  DELETE, at any level (CTEs, subqueries, joins, INSERT … SELECT), has its `user_id`
  constrained by the WHERE or JOIN … ON conditions of its level: equal to a parameter or
  a constant, `= ANY(parameter)`, in an IN list, in a subquery's naming column, or equal
  to the `user_id` of another reference that is itself constrained (a join on `user_id`
  besides the id; a correlated subquery's outer row counts). A column of a set-returning
  function of parameters (`json_to_recordset(:rows)`), of a VALUES list, or of a CTE or
  subquery whose column itself names users, names users too. An OR constrains a
  reference when each of its branches does;
- an INSERT into such a table names `user_id` among its columns.

What it does not see: which values the parameters carry, and a LATERAL subquery's
correlation to a row constrained only later in the WHERE clause (reported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind, BoolExprType, SetOperation, SubLinkType
from pglast.parser import ParseError

from app.sharding import DISTRIBUTED_BY_USER

_PARAMETER = re.compile(r"%\([^)]*\)s|%s|%%")
_MENTIONS = re.compile(r"\b(?:" + "|".join(sorted(DISTRIBUTED_BY_USER)) + r")\b", re.I)


def mentions_user_tables(sql: str) -> bool:
    """A cheap first look: only a statement naming a distributed table needs parsing."""
    return _MENTIONS.search(sql) is not None


def to_postgresql(sql: str) -> str:
    """The driver's statement (psycopg `%(name)s`, `%s`, `%%`) with `$n`
    parameters, as the server's parser reads them."""
    numbers = iter(range(1, 1 << 30))
    return _PARAMETER.sub(lambda m: "%" if m.group() == "%%" else f"${next(numbers)}", sql)


@lru_cache(maxsize=8192)
def violations(sql: str) -> tuple[str, ...]:
    """The statement's routing problems, none when every user-owned row is named."""
    if not mentions_user_tables(sql):
        return ()
    try:
        statements = parse_sql(to_postgresql(sql))
    except ParseError as error:
        return (f"not parsed, so not checked: {error}",)
    check = _Check()
    for raw in statements:
        check.statement(raw.stmt, None, {})
    return tuple(dict.fromkeys(check.problems))


@dataclass
class _Range:
    alias: str
    table: str | None = None  # set for a distributed table
    naming: frozenset[str] = frozenset()  # a derived range's columns that name users
    every_column: bool = False  # all its columns name users (a function of parameters)


@dataclass
class _Scope:
    parent: _Scope | None
    ctes: dict[str, frozenset[str]]
    ranges: dict[str, _Range] = field(default_factory=dict)
    routed: set[str] = field(default_factory=set)


Columns = list[tuple[str, bool]]  # a query's output: (name, names users)


def _equal(left: str, right: str, column: str) -> ast.A_Expr:
    """`left.column = right.column`, which a JOIN … USING (column) means."""
    return ast.A_Expr(kind=A_Expr_Kind.AEXPR_OP, name=(ast.String(sval="="),),
                      lexpr=ast.ColumnRef(fields=(ast.String(sval=left), ast.String(sval=column))),
                      rexpr=ast.ColumnRef(fields=(ast.String(sval=right),
                                                  ast.String(sval=column))))


class _Check:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.dry = 0  # > 0 while conditions are being evaluated: problems are not recorded

    def problem(self, text: str) -> None:
        if not self.dry:
            self.problems.append(text)

    def dry_statement(self, node, parent: _Scope | None, ctes) -> Columns:
        self.dry += 1
        try:
            return self.statement(node, parent, ctes)
        finally:
            self.dry -= 1

    # -- statements ------------------------------------------------------------------

    def statement(self, node, parent: _Scope | None, ctes: dict[str, frozenset[str]]
                  ) -> Columns:
        if not isinstance(node, ast.SelectStmt | ast.UpdateStmt | ast.DeleteStmt
                          | ast.InsertStmt):
            return []
        ctes = self.with_clause(node.withClause, parent, ctes)
        if isinstance(node, ast.SelectStmt):
            return self.select(node, parent, ctes)
        scope = _Scope(parent, ctes)
        if isinstance(node, ast.InsertStmt):
            return self.insert(node, scope)
        target = self.add_table(scope, node.relation)
        quals: list = []
        extra = node.fromClause if isinstance(node, ast.UpdateStmt) else node.usingClause
        self.add_from(scope, extra, quals)
        self.route(scope, [node.whereClause, *quals])
        self.report(scope, target)
        self.sublinks(scope, node.whereClause, quals,
                      getattr(node, "targetList", None), node.returningClause)
        return self.outputs(node.returningClause, scope)

    def with_clause(self, clause, parent, ctes):
        if clause is None:
            return ctes
        ctes = dict(ctes)
        for cte in clause.ctes:
            columns = self.statement(cte.ctequery, parent, ctes)
            if cte.aliascolnames:
                columns = [(name.sval, ok) for name, (_, ok)
                           in zip(cte.aliascolnames, columns, strict=False)]
            ctes[cte.ctename] = frozenset(name for name, ok in columns if ok)
        return ctes

    def select(self, node: ast.SelectStmt, parent, ctes) -> Columns:
        if node.op != SetOperation.SETOP_NONE:
            left = self.statement(node.larg, parent, ctes)
            right = self.statement(node.rarg, parent, ctes)
            return [(name, a and b) for (name, a), (_, b) in zip(left, right, strict=False)]
        scope = _Scope(parent, ctes)
        if node.valuesLists:
            self.sublinks(scope, node.valuesLists)
            return [(f"column{i + 1}", all(self.names_users(row[i], scope)
                                           for row in node.valuesLists))
                    for i in range(len(node.valuesLists[0]))]
        quals: list = []
        self.add_from(scope, node.fromClause, quals)
        self.route(scope, [node.whereClause, *quals])
        self.report(scope)
        self.sublinks(scope, node.targetList, node.whereClause, quals, node.havingClause,
                      node.groupClause, node.sortClause)
        return self.outputs(node.targetList, scope)

    def insert(self, node: ast.InsertStmt, scope: _Scope) -> Columns:
        table = node.relation.relname
        if node.selectStmt is not None:
            self.statement(node.selectStmt, scope.parent, scope.ctes)
        target = self.add_table(scope, node.relation)
        if table in DISTRIBUTED_BY_USER:
            named = {col.name for col in node.cols or ()}
            if "user_id" in named:
                scope.routed.add(target)
            else:
                self.problem(f"INSERT INTO {table} does not name user_id")
        self.sublinks(scope, node.onConflictClause, node.returningClause)
        return self.outputs(node.returningClause, scope)

    # -- FROM ------------------------------------------------------------------------

    def add_table(self, scope: _Scope, rel: ast.RangeVar) -> str:
        alias = rel.alias.aliasname if rel.alias else rel.relname
        if rel.schemaname is None and rel.relname in scope.ctes:
            scope.ranges[alias] = _Range(alias, naming=scope.ctes[rel.relname])
        elif rel.relname in DISTRIBUTED_BY_USER:
            scope.ranges[alias] = _Range(alias, table=rel.relname)
        else:
            scope.ranges[alias] = _Range(alias)
        return alias

    def add_from(self, scope: _Scope, items, quals: list) -> None:
        for item in items or ():
            if isinstance(item, ast.RangeVar):
                self.add_table(scope, item)
            elif isinstance(item, ast.JoinExpr):
                before = set(scope.ranges)
                self.add_from(scope, (item.larg,), quals)
                left = set(scope.ranges) - before
                self.add_from(scope, (item.rarg,), quals)
                right = set(scope.ranges) - before - left
                if item.quals is not None:
                    quals.append(item.quals)
                for name in item.usingClause or ():
                    quals += [_equal(a, b, name.sval) for a in left for b in right]
            elif isinstance(item, ast.RangeSubselect):
                columns = self.statement(item.subquery, scope if item.lateral
                                         else scope.parent, scope.ctes)
                if item.alias.colnames:
                    columns = [(name.sval, ok) for name, (_, ok)
                               in zip(item.alias.colnames, columns, strict=False)]
                alias = item.alias.aliasname
                scope.ranges[alias] = _Range(alias, naming=frozenset(n for n, ok in columns
                                                                     if ok))
            elif isinstance(item, ast.RangeFunction):
                calls = [f[0] for f in item.functions]
                alias = (item.alias.aliasname if item.alias
                         else calls[0].funcname[-1].sval if isinstance(calls[0], ast.FuncCall)
                         else "function")
                by_parameters = all(self.names_users(arg, scope) for call in calls
                                    for arg in getattr(call, "args", None) or ())
                scope.ranges[alias] = _Range(alias, every_column=by_parameters)

    # -- conditions ------------------------------------------------------------------

    def route(self, scope: _Scope, conditions: list) -> None:
        """Mark the distributed references the conditions name users for, to a fixpoint
        (a join on user_id names a row once the other side is named)."""
        self.dry += 1
        try:
            while True:
                before = len(scope.routed)
                for condition in conditions:
                    scope.routed |= self.constrained(condition, scope)
                if len(scope.routed) == before:
                    return
        finally:
            self.dry -= 1

    def constrained(self, cond, scope: _Scope) -> set[str]:
        if isinstance(cond, ast.BoolExpr):
            parts = [self.constrained(arg, scope) for arg in cond.args]
            if cond.boolop == BoolExprType.AND_EXPR:
                return set().union(*parts)
            if cond.boolop == BoolExprType.OR_EXPR:
                return set.intersection(*parts)
            return set()
        if isinstance(cond, ast.SubLink) and cond.subLinkType == SubLinkType.ANY_SUBLINK:
            alias = self.user_column(cond.testexpr, scope)
            columns = self.dry_statement(cond.subselect, scope, scope.ctes)
            return {alias} if alias and columns and columns[0][1] else set()
        if not isinstance(cond, ast.A_Expr) or [n.sval for n in cond.name] != ["="]:
            return set()
        found: set[str] = set()
        if cond.kind == A_Expr_Kind.AEXPR_OP:
            left, right = cond.lexpr, cond.rexpr
            pairs = (zip(left.args, right.args, strict=False)
                     if isinstance(left, ast.RowExpr) and isinstance(right, ast.RowExpr)
                     else [(left, right)])
            for a, b in pairs:
                for column, value in ((a, b), (b, a)):
                    alias = self.user_column(column, scope)
                    if alias and self.names_users(value, scope):
                        found.add(alias)
        elif cond.kind == A_Expr_Kind.AEXPR_OP_ANY:
            alias = self.user_column(cond.lexpr, scope)
            if alias and self.names_users(cond.rexpr, scope):
                found.add(alias)
        elif cond.kind == A_Expr_Kind.AEXPR_IN:
            items = cond.lexpr.args if isinstance(cond.lexpr, ast.RowExpr) else [cond.lexpr]
            for i, item in enumerate(items):
                alias = self.user_column(item, scope)
                values = [(v.args[i] if isinstance(v, ast.RowExpr) else v) if len(items) > 1
                          else v for v in cond.rexpr]
                if alias and all(self.names_users(v, scope) for v in values):
                    found.add(alias)
        return found

    def user_column(self, expr, scope: _Scope) -> str | None:
        """The alias of this level's distributed reference whose user_id `expr` is."""
        while isinstance(expr, ast.TypeCast):
            expr = expr.arg
        if not isinstance(expr, ast.ColumnRef):
            return None
        found = self.resolve(expr, scope)
        if found and found[2] is scope and found[0].table and found[1] == "user_id":
            return found[0].alias
        return None

    def resolve(self, ref: ast.ColumnRef, scope: _Scope | None):
        """(range, column, the scope it is in) for a column reference, if known."""
        names = [f.sval for f in ref.fields if isinstance(f, ast.String)]
        if len(names) != len(ref.fields):
            return None  # a star
        column = names[-1]
        while scope is not None:
            if len(names) > 1:
                if names[-2] in scope.ranges:
                    return scope.ranges[names[-2]], column, scope
            elif scope.ranges:
                ranges = list(scope.ranges.values())
                owners = [r for r in ranges if r.table] if column == "user_id" else []
                if len(owners) == 1:
                    return owners[0], column, scope
                if len(ranges) == 1:
                    return ranges[0], column, scope
                return None
            scope = scope.parent
        return None

    def names_users(self, expr, scope: _Scope) -> bool:
        """Whether `expr`'s value comes from the statement's parameters or constants, or
        from a reference already named."""
        if isinstance(expr, ast.ParamRef | ast.A_Const):
            return True
        if isinstance(expr, ast.TypeCast):
            return self.names_users(expr.arg, scope)
        if isinstance(expr, ast.A_ArrayExpr):
            return all(self.names_users(e, scope) for e in expr.elements or ())
        if isinstance(expr, ast.RowExpr):
            return all(self.names_users(e, scope) for e in expr.args or ())
        if isinstance(expr, ast.SubLink) and expr.subLinkType in (
                SubLinkType.EXPR_SUBLINK, SubLinkType.ARRAY_SUBLINK):
            columns = self.dry_statement(expr.subselect, scope, scope.ctes)
            return bool(columns) and columns[0][1]
        if isinstance(expr, ast.ColumnRef):
            found = self.resolve(expr, scope)
            if found is None:
                return False
            source, column, where = found
            if source.table:
                return column == "user_id" and source.alias in where.routed
            return source.every_column or column in source.naming
        return False

    # -- results ---------------------------------------------------------------------

    def report(self, scope: _Scope, target: str | None = None) -> None:
        for alias, source in scope.ranges.items():
            if source.table and alias not in scope.routed:
                named = source.table if alias == source.table else f"{source.table} AS {alias}"
                verb = "updates or deletes" if alias == target else "reads"
                self.problem(f"{verb} {named} without naming its user_id")

    def sublinks(self, scope: _Scope, *nodes) -> None:
        """Check the subqueries inside expressions, with this level as their outer one."""
        for node in nodes:
            if isinstance(node, tuple | list):
                self.sublinks(scope, *node)
            elif isinstance(node, ast.SubLink):
                self.sublinks(scope, node.testexpr)
                self.statement(node.subselect, scope, scope.ctes)
            elif isinstance(node, ast.Node):
                self.sublinks(scope, *(getattr(node, name) for name in node.__slots__))

    def outputs(self, targets, scope: _Scope) -> Columns:
        if isinstance(targets, ast.ReturningClause):
            targets = targets.exprs
        columns: Columns = []
        for target in targets or ():
            value = target.val
            if isinstance(value, ast.ColumnRef) and isinstance(value.fields[-1], ast.A_Star):
                qualifier = value.fields[0].sval if len(value.fields) > 1 else None
                for alias, source in scope.ranges.items():
                    if qualifier in (None, alias):
                        columns += ([("user_id", alias in scope.routed)] if source.table
                                    else [(n, True) for n in source.naming])
                continue
            name = target.name or (value.fields[-1].sval if isinstance(value, ast.ColumnRef)
                                   else "?column?")
            columns.append((name, self.names_users(value, scope)))
        return columns
