"""Where an earn's time goes: client CPU, server (backend) CPU and wall time per operation,
next to the bare transfer, with one client on a scratch PostgreSQL database.

    .venv/bin/python bench/cpu_per_op.py [--ops 6000]

Client CPU is this process's; server CPU is read from /proc for the connection's backend
(PostgreSQL on the same machine), so the split shows which side a change helps.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import create_db, db_url, drop_db, process_cpu  # noqa: E402
from bench.ledger_bench import create_bare_tables, make_app, seed  # noqa: E402


def measure(label: str, run, backend_pid: int, ops: int) -> None:
    run(200)  # warm: prepared statements, caches
    server, client, wall = process_cpu(backend_pid), time.process_time(), time.perf_counter()
    run(ops)
    print(f"{label:<14} client {1000 * (time.process_time() - client) / ops:.3f} ms  "
          f"server {1000 * (process_cpu(backend_pid) - server) / ops:.3f} ms  "
          f"wall {1000 * (time.perf_counter() - wall) / ops:.3f} ms")


def main() -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--ops", type=int, default=6000)
    args = parser.parse_args()
    name = f"cpu_per_op_{uuid.uuid4().hex[:8]}"
    create_db(args.server, name)
    url = db_url(args.server, name)
    try:
        users = seed(url, 1)
        create_bare_tables(url, users)
        app = make_app(url, pool_size=1)
        from app import ledger
        from app.extensions import db
        from app.uow import unit_of_work

        with app.app_context():
            pid = db.session.scalar(text("SELECT pg_backend_pid()"))
            db.session.commit()

            def earns(n: int) -> None:
                for i in range(n):
                    with unit_of_work():
                        ledger.earn(users[i % len(users)], 10, key=str(uuid.uuid4()),
                                    cause_type="bench")

            measure("earn", earns, pid, args.ops)
            db.engine.dispose()

        engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"), pool_size=1)
        debit = text("UPDATE bench_bare SET balance = balance - 1 WHERE id = :id "
                     "AND balance >= 1")
        credit = text("UPDATE bench_bare SET balance = balance + 1 WHERE id = :id")
        log = text("INSERT INTO bench_bare_log (debit, credit, amount) VALUES (:d, :c, 1)")
        with engine.connect() as conn:
            pid = conn.scalar(text("SELECT pg_backend_pid()"))

        def transfers(n: int) -> None:
            for i in range(n):
                a, b = users[i % len(users)], users[(i + 1) % len(users)]
                with engine.begin() as conn:
                    if conn.execute(debit, {"id": a}).rowcount:
                        conn.execute(credit, {"id": b})
                        conn.execute(log, {"d": a, "c": b})

        measure("bare transfer", transfers, pid, args.ops)
        engine.dispose()
    finally:
        drop_db(args.server, name)


if __name__ == "__main__":
    main()
