"""Ledger throughput on PostgreSQL next to pgbench's TPC-B-like figure from the same run.

    .venv/bin/python bench/ledger_bench.py            # about 2 minutes
    .venv/bin/python bench/ledger_bench.py --seconds 5 --workers 1 4

Creates a scratch database on the server (and drops it), migrates it, seeds users, then
for each worker count N runs N concurrent workers for a fixed time. Workers are threads,
each with its own session and connection, spread over as many processes as the machine
has cores (each process its own app and pool, as gunicorn's threaded workers would be):
the shape pgbench itself runs in (`-c N -j 2`: N sessions driven by 2 threads). Where N
is larger than that, the same scenarios run again as N single-threaded processes, the
shape a naive deployment with one process per connection would have. The workers do:
  earn          one earn per unit of work (2 postings: issuance -> user)
  hold+capture  a hold then its capture, two units of work (4 postings)
  bare transfer the floor of any Python ledger here: one SQLAlchemy Core transaction of
                a conditional debit, a credit and an insert (pgbench's shape), no app code
Each worker has its own users, so the figures measure the ledger, not lock waits on one
user (the concurrency tests cover that). pgbench runs against its own scratch database
on the same server with the same client counts. The ledger must verify clean afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import create_db, db_url, drop_db, libpq_url  # noqa: E402

USERS_PER_WORKER = 20


def make_app(url: str, pool_size: int = 2):
    from app import create_app

    env = {"DATABASE_URL": url, "JWT_SECRET_KEY": "bench-" + "k" * 40, "LOG_LEVEL": "WARNING",
           "DB_POOL_SIZE": str(pool_size)}
    return create_app(env, instance_path=str(ROOT / "instance" / "bench"))


def seed(url: str, workers: int) -> list[int]:
    from flask_migrate import upgrade

    from app.auth.passwords import hash_password
    from app.extensions import db
    from app.users.models import User, UserRole

    app = make_app(url)
    with app.app_context():
        upgrade()
        pw = hash_password("Bench-password-1")
        users = [User(email=f"bench{i}@example.com", password_hash=pw, display_name="b",
                      roles=[UserRole(role="citizen")])
                 for i in range(workers * USERS_PER_WORKER)]
        db.session.add_all(users)
        db.session.commit()
        ids = [u.id for u in users]
        db.engine.dispose()
    return ids


def worker_process(url: str, scenario: str, pools: list[list[int]], seconds: float,
                   start_at: float, out: mp.Queue) -> None:
    """One process running one worker thread per pool of users; puts (ops, postings)."""
    app = None if scenario == "bare transfer" else make_app(url, pool_size=len(pools))
    results: list[tuple[int, int]] = []

    def run(user_ids: list[int]) -> None:
        if app is None:
            results.append(bare_transfers(url, user_ids, seconds, start_at))
        else:
            results.append(worker(app, scenario, user_ids, seconds, start_at))

    threads = [threading.Thread(target=run, args=(pool,)) for pool in pools]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((sum(r[0] for r in results), sum(r[1] for r in results)))


def worker(app, scenario: str, user_ids: list[int], seconds: float,
           start_at: float) -> tuple[int, int]:
    from app import ledger
    from app.uow import unit_of_work

    with app.app_context():
        # Each user starts with enough points for every hold this worker can make.
        for uid in user_ids:
            with unit_of_work():
                ledger.earn(uid, 10**9, key=f"seed:{scenario}:{uuid.uuid4()}",
                            cause_type="bench")
        while time.time() < start_at:
            time.sleep(0.001)
        ops = postings = 0
        deadline = start_at + seconds
        i = 0
        while time.time() < deadline:
            uid = user_ids[i % len(user_ids)]
            i += 1
            if scenario == "earn":
                with unit_of_work():
                    ledger.earn(uid, 10, key=str(uuid.uuid4()), cause_type="bench")
                postings += 2
            else:
                with unit_of_work():
                    hold_id = ledger.hold(uid, 10, key=str(uuid.uuid4()),
                                          cause_type="bench").id
                with unit_of_work():
                    ledger.capture(hold_id, merchant_id=1, key=str(uuid.uuid4()))
                postings += 4
            ops += 1
    return ops, postings


def bare_transfers(url: str, user_ids: list[int], seconds: float,
                   start_at: float) -> tuple[int, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"), pool_size=1)
    debit = text("UPDATE bench_bare SET balance = balance - 1 WHERE id = :id AND balance >= 1")
    credit = text("UPDATE bench_bare SET balance = balance + 1 WHERE id = :id")
    log = text("INSERT INTO bench_bare_log (debit, credit, amount) VALUES (:d, :c, 1)")
    while time.time() < start_at:
        time.sleep(0.001)
    ops, deadline, i = 0, start_at + seconds, 0
    while time.time() < deadline:
        a, b = user_ids[i % len(user_ids)], user_ids[(i + 1) % len(user_ids)]
        i += 1
        with engine.begin() as conn:
            if conn.execute(debit, {"id": a}).rowcount:
                conn.execute(credit, {"id": b})
                conn.execute(log, {"d": a, "c": b})
        ops += 1
    engine.dispose()
    return ops, ops * 2


def create_bare_tables(url: str, user_ids: list[int]) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_bare (id bigint PRIMARY KEY, balance bigint NOT NULL "
                     "CHECK (balance >= 0))")
        conn.execute("CREATE TABLE bench_bare_log (id bigserial PRIMARY KEY, debit bigint, "
                     "credit bigint, amount bigint, at timestamptz DEFAULT now())")
        conn.execute("INSERT INTO bench_bare SELECT unnest(%s::bigint[]), 1000000000",
                     (user_ids,))


def run_scenario(url: str, scenario: str, pools: list[list[int]], seconds: float,
                 processes: int) -> tuple:
    """`pools` (one per worker) shared out over `processes` processes."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 4 + processes * 0.75  # all workers start together
    procs = [ctx.Process(target=worker_process,
                         args=(url, scenario, pools[k::processes], seconds, start_at, out))
             for k in range(processes)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    ops = sum(r[0] for r in results)
    postings = sum(r[1] for r in results)
    return ops / seconds, postings / seconds


def pgbench(server: str, clients: int, seconds: int) -> float:
    exe = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
    name = f"pgbench_{uuid.uuid4().hex[:8]}"
    create_db(server, name)
    u = make_url(server)
    conn_args = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U",
                 u.username or "postgres"]
    env = dict(os.environ, PGPASSWORD=u.password or "")
    try:
        subprocess.run([exe, *conn_args, "-i", "-q", "-s", "16", name], check=True,
                       capture_output=True, env=env)
        done = subprocess.run([exe, *conn_args, "-c", str(clients), "-j", "2", "-T",
                               str(seconds), "-b", "tpcb-like", name],
                              check=True, capture_output=True, text=True, env=env)
    finally:
        drop_db(server, name)
    return float(re.search(r"tps = ([\d.]+)", done.stdout).group(1))


def verify_clean(url: str) -> list[str]:
    from app.extensions import db
    from app.ledger.verify import verify

    app = make_app(url)
    with app.app_context():
        problems = verify()
        db.engine.dispose()
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()

    name = f"ledger_bench_{uuid.uuid4().hex[:8]}"
    create_db(args.server, name)
    url = db_url(args.server, name)
    rows = []
    try:
        user_ids = seed(url, max(args.workers))
        create_bare_tables(url, user_ids)
        cores = os.cpu_count() or 1
        for n in args.workers:
            pools = [user_ids[i::n][:USERS_PER_WORKER] for i in range(n)]
            tps = pgbench(args.server, n, int(args.seconds))
            shapes = [(min(n, cores), ("earn", "hold+capture", "bare transfer"))]
            if n > cores:
                shapes.append((n, ("earn", "bare transfer")))
            for processes, scenarios in shapes:
                shape = f"{processes}×{n // processes}"
                for scenario in scenarios:
                    ops, postings = run_scenario(url, scenario, pools, args.seconds, processes)
                    rows.append((scenario, n, shape, ops, postings, tps))
        problems = verify_clean(url)
    finally:
        drop_db(args.server, name)

    print(f"\nledger benchmark, PostgreSQL, {args.seconds:g} s per run, {os.cpu_count()} cores;"
          f" pgbench -c N -j 2; shape = processes × threads")
    print(f"{'scenario':<14}{'workers':>8}{'shape':>7}{'ops/s':>9}{'postings/s':>12}"
          f"{'pgbench tps':>13}{'postings/pgbench':>18}{'ops/pgbench':>13}")
    for scenario, n, shape, ops, postings, tps in rows:
        print(f"{scenario:<14}{n:>8}{shape:>7}{ops:>9.0f}{postings:>12.0f}{tps:>13.0f}"
              f"{postings / tps:>17.0%}{ops / tps:>12.0%}")
    for scenario, n, shape, _ops, postings, tps in rows:
        if scenario == "earn" and n == 16:
            verdict = "met" if postings / tps >= 0.6 else "NOT met"
            print(f"target (issue 3): earn postings/s at 16 workers ({shape}) >= 60% of "
                  f"pgbench: {postings / tps:.0%}, {verdict}")
    print(f"ledger verify after the runs: {'clean' if not problems else problems[:5]}")


if __name__ == "__main__":
    main()
