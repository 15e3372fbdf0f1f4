"""The administrators' dashboard: time and statements of its assembly, in-process.

    .venv/bin/python bench/dashboard_bench.py                       # SQLite scratch file
    .venv/bin/python bench/dashboard_bench.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

Builds a scratch database with the demo data (`flask seed-demo`) and times
app.reports.service.dashboard() for the last 30 local days; then adds --behaviours credited
behaviours (default 100,000) spread over --days (90) for --citizens (3,000) citizens,
each with its ledger earn written at the behaviour's moment, from three partners and
self-reports, and --redemptions redemptions (half of them verified), and times it again,
for the last 30 and the last 90 days. Each figure is the median of --runs runs after one
warm-up, with the statements it sent. Beside each, the console's dashboard page (GET
/console/admin for the same dates, charts' JSON and tables rendered) through the test
client, signed in as the demo administrator. The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import create_db, db_url, drop_db, env_for  # noqa: E402

METHODOLOGIES = ("green_travel", "clean_plate", "recycling", "paperless")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite)")
    parser.add_argument("--behaviours", type=int, default=100_000)
    parser.add_argument("--citizens", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--redemptions", type=int, default=600)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.database_url:
            name = f"dashboard_{uuid.uuid4().hex[:8]}"
            create_db(args.database_url, name)
            url = db_url(args.database_url, name)
        else:
            url = f"sqlite:///{folder}/dashboard.db"
        try:
            run(args, url, folder)
        finally:
            if args.database_url:
                drop_db(args.database_url, name)


def run(args: argparse.Namespace, url: str, folder: str) -> None:
    from flask_migrate import upgrade

    from app import create_app
    from app.demo.cli import seed_demo
    from app.extensions import db

    app = create_app(env_for(url), instance_path=folder)
    with app.app_context():
        upgrade()
    result = app.test_cli_runner().invoke(seed_demo)
    assert result.exit_code == 0, result.output
    kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    page = console_client(app, result.output)
    print(f"dashboard assembly and page, {kind}, median of {args.runs} runs (in-process)")
    measure(app, args.runs, "demo data, last 30 days", 30)
    measure(app, args.runs, "  page: demo data, last 30 days", 30, page)
    started = time.perf_counter()
    seed(app, args)
    print(f"  (seeded {args.behaviours:,} behaviours, {args.citizens:,} citizens, "
          f"{args.redemptions} redemptions in {time.perf_counter() - started:.0f} s)")
    for days in (30, 90):
        measure(app, args.runs, f"+{args.behaviours:,} behaviours, last {days} days", days)
        measure(app, args.runs, f"  page: +{args.behaviours:,}, last {days} days", days, page)
    with app.app_context():
        db.engine.dispose()


def console_client(app, demo_output: str):
    """A test client signed in to the console as the demo administrator (its password is
    in `flask seed-demo`'s output)."""
    import re

    from app.demo.cli import DEMO_ACCOUNTS

    email = DEMO_ACCOUNTS[0][0]
    password = re.search(rf"{re.escape(email)}\s+(\S+)", demo_output).group(1)
    client = app.test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"',
                      client.get("/console/login").get_data(as_text=True)).group(1)
    resp = client.post("/console/login", data={"identifier": email, "password": password,
                                                "csrf_token": token})
    assert resp.status_code == 302, resp.status_code
    return client


def measure(app, runs: int, label: str, days: int, page=None) -> None:
    """The median time of reports.dashboard() for the last `days` local days or, with a
    signed-in console client as `page`, of the dashboard page for the same dates."""
    from sqlalchemy import event

    from app.db_types import utcnow
    from app.extensions import db
    from app.localtime import local_date
    from app.reports import service as reports

    with app.app_context():
        engine = db.engine
        today = local_date(utcnow())
    sent: list[list] = []  # [statement, seconds] of the last run

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append([statement, time.perf_counter()])

    def ended(conn, cursor, statement, parameters, context, executemany):
        sent[-1][1] = time.perf_counter() - sent[-1][1]

    times, in_sql = [], []
    for i in range(runs + 1):
        with app.app_context():
            sent.clear()
            event.listen(engine, "before_cursor_execute", count)
            event.listen(engine, "after_cursor_execute", ended)
            date_from = today - timedelta(days=days - 1)
            started = time.perf_counter()
            if page is None:
                reports.dashboard(date_from, today)
            else:
                resp = page.get("/console/admin", query_string={
                    "period": "custom", "from": date_from.isoformat(), "to": today.isoformat()})
                assert resp.status_code == 200, resp.status_code
            elapsed = time.perf_counter() - started
            event.remove(engine, "before_cursor_execute", count)
            event.remove(engine, "after_cursor_execute", ended)
            db.session.rollback()
        if i:  # the first run warms caches and prepares statements
            times.append(elapsed)
            in_sql.append(sum(seconds for _statement, seconds in sent))
    print(f"  {label:<40} {1000 * statistics.median(times):8.1f} ms  "
          f"(min {1000 * min(times):.1f}, max {1000 * max(times):.1f}; outside SQL "
          f"{1000 * statistics.median(t - q for t, q in zip(times, in_sql, strict=True)):.1f})"
          f"  {len(sent)} statements; the slowest of the last run:")
    for statement, seconds in sorted(sent, key=lambda s: -s[1])[:3]:
        print(f"    {1000 * seconds:7.1f} ms  {' '.join(statement.split())[:110]}")


def seed(app, args: argparse.Namespace) -> None:
    """Citizens, partners and behaviours written straight to the tables (the crediting
    rules are not what is measured here), with their earns through the ledger at the
    behaviours' moments, then redemptions through the rewards service."""
    from sqlalchemy import select

    from app import ledger, rewards
    from app.auth.passwords import hash_password
    from app.behaviours.models import Behaviour
    from app.db_types import utcnow
    from app.extensions import db
    from app.localtime import local_date
    from app.merchants.models import Merchant
    from app.partners.models import Partner
    from app.rewards.models import Reward
    from app.sql import insert_rows
    from app.uow import unit_of_work
    from app.users.models import User, UserRole

    rng = random.Random(19)
    now = utcnow()
    with app.app_context():
        with unit_of_work():
            password = hash_password("Bench-password-1")
            first = (db.session.scalar(select(db.func.max(User.id))) or 0) + 1
            ids = list(range(first, first + args.citizens))
            insert_rows(User.__table__, [
                {"id": uid, "email": f"d{uid}@bench.test", "mobile": None,
                 "password_hash": password, "display_name": f"Bench {uid}", "token_epoch": 0,
                 "disabled_at": None, "deleted_at": None,
                 "created_at": now - timedelta(days=rng.uniform(0, args.days + 30)),
                 "updated_at": now} for uid in ids])
            insert_rows(UserRole.__table__, [
                {"user_id": uid, "role": "citizen", "granted_by": None, "granted_at": now}
                for uid in ids])
            if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
                db.session.execute(db.text(
                    "SELECT setval(pg_get_serial_sequence('users', 'id'), max(id)) FROM users"))
            admin_id = db.session.scalar(select(User.id).where(User.email.like("admin@demo%")))
            partners = []
            for i in range(3):
                partner = Partner(name=f"Bench partner {i}", status="active",
                                  methodologies=list(METHODOLOGIES), created_by=admin_id)
                db.session.add(partner)
                db.session.flush()
                partners.append(partner.id)
        per_day = args.behaviours // args.days
        for day in range(args.days):
            moments = sorted(now - timedelta(days=day, seconds=rng.uniform(60, 86_000))
                             for _ in range(per_day))
            users = [rng.choice(ids) for _ in moments]
            with unit_of_work(), mock.patch.object(ledger, "utcnow", lambda m=moments[0]: m):
                books = ledger.lock_books(users)
                earnings = [ledger.Earning(uid, rng.randint(10, 400), f"bench:{day}:{i}",
                                           "behaviour", None, Decimal(0))
                            for i, uid in enumerate(users)]
                txs = ledger.earn_many(earnings, books)
                rows = []
                for i, (uid, moment, earning, tx) in enumerate(
                        zip(users, moments, earnings, txs, strict=True)):
                    partner = rng.choice([*partners, None])
                    rows.append({
                        "user_id": uid, "methodology": rng.choice(METHODOLOGIES),
                        "methodology_version_id": None, "parameters_hash": None,
                        "conversion_rate_id": None,
                        "source": "partner" if partner else "self_report",
                        "partner_id": partner,
                        "external_id": f"{day}-{i}" if partner else None,
                        "occurred_at": moment, "local_date": local_date(moment),
                        "window_start": moment, "window_end": moment, "dedupe_group": "",
                        "data": {}, "evidence": None, "reduction_g": earning.points,
                        "credited_g": earning.points, "points": earning.points,
                        "status": "credited", "reasons": [], "ledger_tx_id": tx.id,
                        "reviewed_by": None, "reviewed_at": None, "review_note": None,
                        "created_at": moment})
                insert_rows(Behaviour.__table__, rows)
        with unit_of_work():
            reward_id, merchant_id = db.session.execute(
                select(Reward.id, Reward.merchant_id).limit(1)).one()
            db.session.execute(db.update(Reward).where(Reward.id == reward_id).values(
                total_stock=Reward.total_stock + args.redemptions,
                stock_left=Reward.stock_left + args.redemptions))
        codes = []
        for i in range(args.redemptions):
            with unit_of_work():
                codes.append(rewards.redeem(rng.choice(ids), reward_id,
                                            request_key=f"bench-{i}").code)
        merchant = db.session.get(Merchant, merchant_id)
        staff = db.session.scalar(select(User).where(User.email.like("staff@demo%")))
        for code in codes[::2]:
            with unit_of_work():
                rewards.verify(staff, merchant, code)


if __name__ == "__main__":
    main()
