"""ops/citus/distribute.sql distributes the tables as app/sharding.py says they are laid out:
the routing guard checks statements against app/sharding.py, and the procedure is what makes
the layout real, so the two name every table of the schema, each with the same kind."""

from __future__ import annotations

import re
from pathlib import Path

import app.models  # noqa: F401  (every model module, so the metadata holds every table)
from app.extensions import db
from app.sharding import DISTRIBUTED_BY_CODE, DISTRIBUTED_BY_USER, LOCAL, REFERENCE

SCRIPT = Path(__file__).resolve().parent.parent / "ops" / "citus" / "distribute.sql"
# Tables that are not models: Alembic's revision table (APScheduler's has a model).
OUTSIDE_THE_METADATA = {"alembic_version"}

_PLAN = re.compile(r"INSERT INTO citus_distribute\.plan VALUES\s*(.*?);", re.S)
_ROW = re.compile(r"\(\s*(\d+)\s*,\s*'(\w+)'\s*,\s*'(\w+)'\s*,\s*(NULL|'\w+')\s*,"
                  r"\s*(NULL|'\w+')\s*\)")


def _plan() -> dict[str, tuple[str, str | None]]:
    """table → (kind, distribution column) from the procedure's plan."""
    values = _PLAN.search(SCRIPT.read_text(encoding="utf-8"))
    assert values, "the plan's INSERT is not found in distribute.sql"
    body = "\n".join(line.split("--", 1)[0] for line in values.group(1).splitlines())
    rows = _ROW.findall(body)
    # Every row of the INSERT was read: as many rows as opening parentheses.
    assert len(rows) == body.count("(")
    plan = {}
    for _position, table, kind, column, _colocate in rows:
        assert table not in plan, f"{table} is planned twice"
        plan[table] = (kind, None if column == "NULL" else column.strip("'"))
    return plan


def _sharding() -> dict[str, tuple[str, str | None]]:
    """table → (kind, distribution column) as app/sharding.py lays them out."""
    kinds = [(DISTRIBUTED_BY_USER, ("distributed", "user_id")),
             (DISTRIBUTED_BY_CODE, ("distributed", "code")),
             (REFERENCE, ("reference", None)), (LOCAL, ("local", None))]
    layout: dict[str, tuple[str, str | None]] = {}
    for tables, kind in kinds:
        for table in tables:
            assert table not in layout, f"{table} has two kinds in app/sharding.py"
            layout[table] = kind
    return layout


def test_the_procedures_plan_is_the_layout_of_app_sharding():
    assert _plan() == _sharding()


def test_every_table_of_the_metadata_is_classified_in_both():
    tables = set(db.metadata.tables)
    assert tables - set(_plan()) == set()
    assert tables - set(_sharding()) == set()
    # Nothing classified that the schema does not have.
    assert set(_plan()) - tables == OUTSIDE_THE_METADATA
