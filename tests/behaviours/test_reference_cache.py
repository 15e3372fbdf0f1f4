"""Versions and conversion rates are kept per process between requests: another process's
change reaches the next credit, because the reference generation moves with it and is read
after the user's lock."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from tests.behaviours.test_crediting import partner_submit
from tests.conftest import TEST_JWT_SECRET, run_sql

# Run by a second Python process against the same database.
OTHER_PROCESS = """
import os
import sys
from datetime import timedelta
from decimal import Decimal

from app import create_app
from app.behaviours import rates
from app.db_types import utcnow
from app.extensions import db
from app.methodology import service as methodology
from app.uow import unit_of_work
from app.users.models import User

url, secret, instance, admin_id, what = sys.argv[1:6]
app = create_app({"DATABASE_URL": url, "JWT_SECRET_KEY": secret}, instance_path=instance)
with app.app_context():
    with unit_of_work():
        admin = db.session.get(User, int(admin_id))
        if what == "rate":
            rates.set_rate(admin, Decimal("0.5"), utcnow() - timedelta(hours=2), "budget")
        else:
            methodology.retire(admin, int(what), "withdrawn")
    db.session.remove()
    db.engine.dispose()
# The in-memory rate-limit storage (limits' MemoryStorage) keeps re-arming a non-daemon
# timer thread; leave without waiting for it (it never fires under a faked clock).
os._exit(0)
"""


@pytest.fixture(autouse=True)
def _approved(approve_all):
    approve_all()


def in_other_process(db_url: str, tmp_path, admin_id: int, what: str) -> None:
    script = tmp_path / "other_process.py"
    script.write_text(OTHER_PROCESS)
    subprocess.run([sys.executable, str(script), db_url, TEST_JWT_SECRET,
                    str(tmp_path / "other"), str(admin_id), what], check=True, timeout=120)


def kept_by_this_process(app) -> set[str]:
    """The methodologies whose versions this process keeps (and whether rates are kept)."""
    kept = app.extensions["behaviour_reference"]
    return set(kept.versions) | ({"rates"} if kept.rates is not None else set())


def test_a_rate_set_by_another_process_is_the_next_credits_rate(app, api, partner_id,
                                                               db_url, tmp_path):
    from app.db_types import utcnow

    me, admin_id = api.caller(), api.create_user("admin")
    at = utcnow() - timedelta(hours=1)
    first = partner_submit(app, me.id, "clean_plate", {"meals": 1}, at, "m1", partner_id)
    assert first["points"] == 144  # 1 point per gram: no rate set
    assert kept_by_this_process(app) >= {"clean_plate", "rates"}
    in_other_process(db_url, tmp_path, admin_id, "rate")
    second = partner_submit(app, me.id, "clean_plate", {"meals": 1},
                            at + timedelta(minutes=1), "m2", partner_id)
    assert second["points"] == 72  # 144 g × 0.5


def test_a_version_retired_by_another_process_credits_nothing_more(app, api, partner_id,
                                                                  db_url, tmp_path):
    from app.db_types import utcnow

    me, admin_id = api.caller(), api.create_user("admin")
    at = utcnow() - timedelta(hours=1)
    first = partner_submit(app, me.id, "clean_plate", {"meals": 1}, at, "m1", partner_id)
    assert first["status"] == "credited"
    assert "clean_plate" in kept_by_this_process(app)
    [(version,)] = run_sql(app, "SELECT id FROM methodology_versions WHERE code = "
                                "'clean_plate' AND status = 'approved'")
    in_other_process(db_url, tmp_path, admin_id, str(version))
    second = partner_submit(app, me.id, "clean_plate", {"meals": 1},
                            at + timedelta(minutes=1), "m2", partner_id)
    assert second["status"] == "rejected" and second["points"] == 0
    assert "no approved version" in second["reasons"][0]


def test_an_unchanged_generation_reads_no_reference_data(app, api, partner_id):
    """The second credit reads neither versions nor rates: the generation says they hold."""
    from app.db_types import utcnow
    from tests.helpers import counting_statements

    me = api.caller()
    at = utcnow() - timedelta(hours=1)
    partner_submit(app, me.id, "clean_plate", {"meals": 1}, at, "m1", partner_id)
    with counting_statements(app) as sent:
        out = partner_submit(app, me.id, "clean_plate", {"meals": 2},
                             at + timedelta(minutes=1), "m2", partner_id)
    assert out["status"] == "credited"
    assert not [s for s in sent if "FROM methodology_versions" in s
                or "FROM conversion_rates" in s]
