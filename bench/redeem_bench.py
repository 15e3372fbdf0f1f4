"""Redemption and verification throughput on PostgreSQL, next to pgbench's TPC-B-like figure.

    python bench/redeem_bench.py                      # a scratch database, dropped at the end
    python bench/redeem_bench.py --duration 5 --workers 16
    python bench/redeem_bench.py --database-url postgresql://postgres@127.0.0.1:5432/mydb

Each operation is the service function the HTTP view calls (rewards.redeem /
rewards.verify), in its own unit of work (one commit), in N worker *processes*
(forked after seeding; Python threads would share one GIL). Scenarios, for each worker count:
redemptions spread over many rewards, redemptions all on one hot reward, a baseline of
ledger.hold alone (the ledger's share of a redemption), then verifications of the codes the
redemptions produced (spread, hot). A last "sell-out" run sends every worker at one
small-stock reward to prove it never oversells. After every run the script checks that no
stock is negative, reservations never exceed stock, and the ledger verifies clean.
pgbench (-i -s 16; -c 16 -j 2 -T 10 -b tpcb-like) runs in the same invocation on a scratch
database, as the one-commit-per-transfer ceiling of this machine.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.common import create_db, db_url, drop_db, libpq_url  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PRICE = 10
BIG_STOCK = 10_000_000
SELLOUT_STOCK = 500


# -- databases --------------------------------------------------------------------------

def create_database(server: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    create_db(server, name)
    return db_url(server, name)


def drop_database(url: str) -> None:
    drop_db(url, make_url(url).database)


# -- pgbench ----------------------------------------------------------------------------

def pgbench_binary() -> str:
    for candidate in (shutil.which("pgbench"), "/usr/lib/postgresql/15/bin/pgbench"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("pgbench not found (install postgresql-contrib or put it on PATH)")


def run_pgbench(server: str, scale: int, clients: int, seconds: int) -> float:
    url = create_database(server, "pgbench_scratch")
    try:
        binary, conninfo = pgbench_binary(), libpq_url(url)
        subprocess.run([binary, "-i", "-q", "-s", str(scale), conninfo], check=True,
                       capture_output=True)
        out = subprocess.run([binary, "-c", str(clients), "-j", "2", "-T", str(seconds),
                              "-b", "tpcb-like", conninfo], check=True, capture_output=True,
                             text=True).stdout
        match = re.search(r"tps = ([\d.]+) \((?:without initial connection time|excluding)",
                          out)
        if not match:
            raise SystemExit(f"could not read pgbench's tps from:\n{out}")
        return float(match.group(1))
    finally:
        drop_database(url)


# -- the app ----------------------------------------------------------------------------

def build_app(url: str, instance: str):
    from app import create_app

    env = {"DATABASE_URL": url, "JWT_SECRET_KEY": "bench-" + "k" * 40, "LOG_LEVEL": "ERROR",
           "DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "2"}
    return create_app(env, instance_path=instance)


@dataclass
class World:
    admin_id: int = 0
    merchants: list[int] = field(default_factory=list)  # merchant ids
    staff: dict[int, int] = field(default_factory=dict)  # merchant id -> staff user id
    spread: list[int] = field(default_factory=list)  # reward ids
    hot: int = 0
    sellout: int = 0
    users: list[int] = field(default_factory=list)


def seed(app, *, merchants: int, rewards: int, users: int) -> World:
    """Everything through the services, as the API would create it."""
    from app import ledger
    from app import rewards as reward_api
    from app.auth.passwords import hash_password
    from app.extensions import db
    from app.merchants import service as merchant_service
    from app.rewards.models import RewardRevision
    from app.uow import unit_of_work
    from app.users import service as user_service
    from app.users.models import User

    fixed = hash_password("Bench-Password-2026")
    user_service.hash_password = lambda _password: fixed  # argon2 per account is not the point
    world = World()
    with app.app_context():
        with unit_of_work():
            admin = user_service.register(email="admin@bench.test", password="x",
                                          roles=("citizen", "admin"))
            world.admin_id = admin.id
        for m in range(merchants):
            with unit_of_work():
                admin = db.session.get(User, world.admin_id)
                merchant = merchant_service.create(admin, name=f"Bench merchant {m}",
                                                   contact="bench@example.com")
                staff = user_service.register(email=f"staff{m}@bench.test", password="x",
                                              roles=("merchant",))
                merchant_service.add_staff(admin, merchant, staff)
                world.merchants.append(merchant.id)
                world.staff[merchant.id] = staff.id

        def reward(merchant_id: int, stock: int, title: str) -> int:
            with unit_of_work():
                staff = db.session.get(User, world.staff[merchant_id])
                merchant = merchant_service.get(merchant_id)
                created = reward_api.create_reward(staff, merchant, {
                    "title_zh": title, "category": "other", "points_price": PRICE,
                    "total_stock": stock})
                revision_id = db.session.scalar(select(RewardRevision.id).where(
                    RewardRevision.reward_id == created.id))
                reward_api.approve(db.session.get(User, world.admin_id), revision_id)
                return created.id

        world.spread = [reward(world.merchants[i % merchants], BIG_STOCK, f"奖品 {i}")
                        for i in range(rewards)]
        world.hot = reward(world.merchants[0], BIG_STOCK, "热门奖品 hot")
        world.sellout = reward(world.merchants[0], SELLOUT_STOCK, "限量奖品 sell-out")
        for start in range(0, users, 200):
            with unit_of_work():
                for u in range(start, min(users, start + 200)):
                    world.users.append(user_service.register(
                        email=f"citizen{u}@bench.test", password="x").id)
            with unit_of_work():
                for user_id in world.users[start:]:
                    ledger.earn(user_id, 10_000_000, key="bench-seed", cause_type="behaviour")
        db.session.remove()
        db.engine.dispose()
    return world


# -- workers ----------------------------------------------------------------------------

def _redeem_worker(app, wid, users, reward_ids, duration, barrier, results) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from app import rewards
    from app.extensions import db
    from app.http.problems import ApiError
    from app.uow import unit_of_work

    rng = random.Random(wid)
    ok, refused = 0, Counter()
    with app.app_context():
        db.engine.dispose(close=False)  # never share the parent's connections
        with unit_of_work():
            db.session.execute(text("SELECT 1"))  # connect before the clock starts
        barrier.wait()
        end = time.perf_counter() + duration
        n = 0
        while time.perf_counter() < end:
            n += 1
            user_id = users[n % len(users)]
            reward_id = reward_ids[rng.randrange(len(reward_ids))]
            try:
                with unit_of_work():
                    rewards.redeem(user_id, reward_id, request_key=f"b{wid}-{n}-{uuid.uuid4()}")
                ok += 1
            except ApiError as err:
                refused[err.slug] += 1
            except SQLAlchemyError as err:
                refused[type(err).__name__] += 1
        db.session.remove()
    results.put((ok, dict(refused), duration))


def _hold_worker(app, wid, users, _rewards, duration, barrier, results) -> None:
    """Baseline: ledger.hold alone, the part of a redemption that is the ledger's."""
    from app import ledger
    from app.extensions import db
    from app.uow import unit_of_work

    ok = 0
    with app.app_context():
        db.engine.dispose(close=False)
        with unit_of_work():
            db.session.execute(text("SELECT 1"))
        barrier.wait()
        end = time.perf_counter() + duration
        while time.perf_counter() < end:
            ok += 1
            with unit_of_work():
                ledger.hold(users[ok % len(users)], PRICE, key=f"h{wid}-{ok}-{uuid.uuid4()}",
                            cause_type="redemption", cause_id=str(ok))
        db.session.remove()
    results.put((ok, {}, duration))


def _verify_worker(app, wid, jobs, duration, barrier, results) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from app import rewards
    from app.extensions import db
    from app.http.problems import ApiError
    from app.merchants import service as merchants
    from app.uow import unit_of_work
    from app.users.models import User

    ok, refused = 0, Counter()
    with app.app_context():
        db.engine.dispose(close=False)
        with unit_of_work():
            db.session.execute(text("SELECT 1"))
        barrier.wait()
        start = time.perf_counter()
        end = start + duration
        for staff_id, code in jobs:
            if time.perf_counter() >= end:
                break
            try:
                with unit_of_work():
                    staff = db.session.get(User, staff_id)  # as the view: caller, merchant
                    rewards.verify(staff, merchants.for_staff(staff, active=True), code)
                ok += 1
            except ApiError as err:
                refused[err.slug] += 1
            except SQLAlchemyError as err:
                refused[type(err).__name__] += 1
        elapsed = min(time.perf_counter() - start, duration)
        if elapsed < duration:
            refused["(ran out)"] = 1  # finished its codes early: its rate is over its time
        db.session.remove()
    results.put((ok, dict(refused), elapsed))


def run_workers(target, args_for, workers: int) -> tuple[int, dict, float]:
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for(w), barrier, results))
             for w in range(workers)]
    for p in procs:
        p.start()
    outs = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    ok = sum(o[0] for o in outs)
    refused: Counter = Counter()
    for o in outs:
        refused.update(o[1])
    return ok, dict(refused), max(o[2] for o in outs)


# -- checks -----------------------------------------------------------------------------

def oversold(app) -> str:
    """'no' when every invariant holds; otherwise what is wrong."""
    from app.extensions import db
    from app.ledger.verify import verify
    from app.rewards.models import Redemption, Reward

    with app.app_context():
        taken = (select(Redemption.reward_id, func.count().label("n"))
                 .where(Redemption.status.in_(("reserved", "fulfilled")))
                 .group_by(Redemption.reward_id).subquery())
        bad = db.session.execute(
            select(Reward.id, Reward.total_stock, Reward.stock_left,
                   func.coalesce(taken.c.n, 0))
            .outerjoin(taken, taken.c.reward_id == Reward.id)
            .where((Reward.stock_left < 0) | (func.coalesce(taken.c.n, 0) > Reward.total_stock)
                   | (Reward.total_stock - Reward.stock_left != func.coalesce(taken.c.n, 0))))
        problems = [f"reward {r}: stock {t}, left {left}, taken {n}" for r, t, left, n in bad]
        negative = db.session.scalar(text(
            "SELECT count(*) FROM ledger_accounts WHERE kind IN ('user_available', 'user_held') "
            "AND balance < 0"))
        if negative:
            problems.append(f"{negative} negative balances")
        problems += verify()
        db.session.remove()
        db.engine.dispose()
    return "no" if not problems else "YES: " + "; ".join(problems[:3])


def reserved_codes(app, reward_ids: list[int]) -> list[tuple[int, str]]:
    from app.extensions import db
    from app.rewards.models import Redemption

    with app.app_context():
        rows = db.session.execute(select(Redemption.merchant_id, Redemption.code).where(
            Redemption.status == "reserved", Redemption.reward_id.in_(reward_ids))
            .order_by(Redemption.id)).all()
        db.session.remove()
        db.engine.dispose()
    return [(m, c) for m, c in rows]


# -- main -------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="an existing, empty database to use (kept); "
                        "default: a fresh one on --server, dropped at the end")
    parser.add_argument("--server", default=SERVER, help="where scratch databases go")
    parser.add_argument("--workers", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per run")
    parser.add_argument("--rewards", type=int, default=200, help="rewards to spread over")
    parser.add_argument("--merchants", type=int, default=8)
    parser.add_argument("--users-per-worker", type=int, default=16)
    parser.add_argument("--pgbench-scale", type=int, default=16)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--pgbench-clients", type=int, default=16)
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the ledger.hold-alone rows")
    args = parser.parse_args()

    began = time.perf_counter()
    url = args.database_url or create_database(args.server, "redeem_bench")
    instance = tempfile.mkdtemp(prefix="redeem_bench_")
    try:
        print(f"pgbench -i -s {args.pgbench_scale}; -c {args.pgbench_clients} -j 2 "
              f"-T {args.pgbench_seconds} -b tpcb-like …", flush=True)
        tps = run_pgbench(args.server if not args.database_url else url, args.pgbench_scale,
                          args.pgbench_clients, args.pgbench_seconds)
        app = build_app(url, instance)
        from flask_migrate import upgrade

        from app.extensions import db
        with app.app_context():
            upgrade()
            db.engine.dispose()
        most = max(args.workers)
        print(f"seeding {args.merchants} merchants, {args.rewards} rewards, "
              f"{most * args.users_per_worker} users …", flush=True)
        world = seed(app, merchants=args.merchants, rewards=args.rewards,
                     users=most * args.users_per_worker)
        rows = []

        def redeem_run(name: str, reward_ids: list[int], workers: int,
                       target=_redeem_worker) -> None:
            per = args.users_per_worker

            def args_for(w):  # each worker has its own users: no lock shared across workers
                return (app, w, world.users[w * per:(w + 1) * per], reward_ids, args.duration)

            ok, refused, seconds = run_workers(target, args_for, workers)
            rows.append((name, workers, ok, seconds, refused, oversold(app)))
            print(f"  {name:<22} {workers:>3} workers: {ok / seconds:8.0f} ops/s", flush=True)

        def verify_run(name: str, jobs: list[tuple[int, str]], workers: int) -> None:
            random.Random(7).shuffle(jobs)
            ok, refused, seconds = run_workers(
                _verify_worker, lambda w: (app, w, jobs[w::workers], args.duration), workers)
            if ran_out := refused.pop("(ran out)", 0):
                refused[f"codes ran out in {ran_out} workers"] = 0
            rows.append((name, workers, ok, seconds, refused, oversold(app)))
            print(f"  {name:<22} {workers:>3} workers: {ok / seconds:8.0f} ops/s", flush=True)

        print("running …", flush=True)
        for workers in args.workers:
            redeem_run("redeem, spread", world.spread, workers)
            redeem_run("redeem, one hot reward", [world.hot], workers)
            if not args.no_baseline:
                redeem_run("baseline: ledger.hold", [], workers, _hold_worker)
        # Verification runs take the codes still reserved (each run leaves the rest).
        for workers in args.workers:
            for name, reward_ids in (("verify, spread", world.spread),
                                     ("verify, one hot reward", [world.hot])):
                codes = [(world.staff[m], c) for m, c in reserved_codes(app, reward_ids)]
                verify_run(name, codes, workers)
        redeem_run(f"sell-out, stock {SELLOUT_STOCK}", [world.sellout], most)
        with app.app_context():
            from app.rewards.models import Redemption, Reward

            sold = db.session.scalar(select(func.count()).select_from(Redemption).where(
                Redemption.reward_id == world.sellout))
            left = db.session.get(Reward, world.sellout).stock_left
            db.session.remove()
            db.engine.dispose()
        rows[-1] = (*rows[-1][:5], f"{rows[-1][5]} ({sold} sold, {left} left)")

        print()
        print(f"PostgreSQL, {os.cpu_count()} CPUs; pgbench TPC-B-like, {args.pgbench_clients} "
              f"clients: {tps:,.0f} tps; {args.duration:g} s per run")
        header = (f"| {'scenario':<24} | {'workers':>7} | {'ops':>7} | {'ops/s':>7} | "
                  f"{'% pgbench':>9} | {'refused':<28} | oversold? |")
        print(header)
        print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
        for name, workers, ok, seconds, refused, check in rows:
            rate = ok / seconds if seconds else 0
            refused_text = ", ".join(f"{k} {v}" if v else k for k, v in refused.items()) or "-"
            shown = (f"{rate:>7.0f} | {100 * rate / tps:>8.0f}%" if not name.startswith("sell")
                     else f"{'-':>7} | {'-':>9}")  # sold out early: a correctness run
            print(f"| {name:<24} | {workers:>7} | {ok:>7} | {shown} | {refused_text:<28} | "
                  f"{check} |")
        print(f"\ntotal time {time.perf_counter() - began:.0f} s")
    finally:
        shutil.rmtree(instance, ignore_errors=True)
        if not args.database_url:
            drop_database(url)


if __name__ == "__main__":
    main()
