"""Where a single write's database time goes: each SQL statement of a behaviour POST, of a
redemption and of its verification (核销), timed in-process on a scratch PostgreSQL database.

    .venv/bin/python bench/statements.py [--citizens 2000] [--requests 1000]

Seeds like bench/http_bench.py (approved methodologies, citizens with points and tokens,
listed rewards), then sends the requests through Flask's test client: no HTTP server, so
the figures are the app's own. For each kind it prints the wall time and this process's CPU
per request, the statements per request and the time spent executing them, and the
statements that took most of it. A statement's time is the driver's round trip: the
server's work plus the network plus the client's execution path, so compare statements with
each other, and runs of this script with each other, rather than with a server-side figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import instructions  # noqa: E402

WARM_UP = 300  # requests of each kind before timing: prepared statements, caches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--citizens", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--top", type=int, default=14)
    args = parser.parse_args()
    with instructions.seeded(args.server, "statements", args.citizens) as (
            url, token_file, reward_ids):
        from sqlalchemy import event

        from app.extensions import db

        app = instructions.bench_app(url)
        timings: dict[str, list] = defaultdict(lambda: [0, 0.0])
        with app.app_context():
            engine = db.engine

        @event.listens_for(engine, "before_cursor_execute")
        def _started(conn, cursor, statement, parameters, context, executemany):
            conn.info["statement_started"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _ended(conn, cursor, statement, parameters, context, executemany):
            entry = timings[" ".join(statement.split())[:150]]
            entry[0] += 1
            entry[1] += time.perf_counter() - conn.info["statement_started"]

        send_kind = instructions.senders(app, token_file, reward_ids)
        send_kind["verify"].prepare(WARM_UP + args.requests)

        n = args.requests
        for kind in ("behaviour", "redemption", "verify"):
            send = send_kind[kind]
            for i in range(WARM_UP):
                send(i)
            timings.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(WARM_UP, WARM_UP + n):
                send(i)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            executing = sum(seconds for _, seconds in timings.values())
            print(f"{kind}: {1000 * wall / n:.2f} ms wall, {1000 * cpu / n:.2f} ms CPU a request; "
                  f"{sum(count for count, _ in timings.values()) / n:.1f} statements, "
                  f"{1000 * executing / n:.2f} ms executing them")
            for statement, (count, seconds) in sorted(timings.items(),
                                                      key=lambda kv: -kv[1][1])[:args.top]:
                print(f"  {count / n:5.2f}× {1000 * seconds / n:6.3f} ms  {statement}")
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
