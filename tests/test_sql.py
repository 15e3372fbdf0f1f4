"""app.sql helpers that behave differently on the two databases."""

from __future__ import annotations

from sqlalchemy import text

from app.extensions import db
from app.sql import planned_for_its_values


def plan_cache_mode() -> str:
    return db.session.execute(text("SHOW plan_cache_mode")).scalar_one()


def test_statements_inside_are_planned_for_their_values_and_only_those(app, is_postgres):
    with app.app_context():
        if not is_postgres:
            with planned_for_its_values():  # nothing to do on SQLite, and nothing fails
                assert db.session.execute(text("SELECT 1")).scalar_one() == 1
            return
        assert plan_cache_mode() == "auto"
        with planned_for_its_values():
            assert plan_cache_mode() == "force_custom_plan"
        assert plan_cache_mode() == "auto"  # the later statements of the transaction
        db.session.rollback()
