"""Behaviour ingestion throughput on PostgreSQL, each figure next to a same-run baseline.

    .venv/bin/python bench/ingest_bench.py            # about 2 minutes; needs wrk (apt)

1. Partner batches: data partners send signed batches of 500 mixed records
   (green travel, clean plate, recycling, paperless) for 10,000 linked users through
   gunicorn, one client per worker (--clients); reported as records credited per second,
   with the CPU per record of the workers, the database's backends and this client.
2. Citizen POSTs: wrk sends self-reported trips (POST /api/v1/behaviours, a fresh
   Idempotency-Key and trip each time) as many citizens; requests per second.
3. Baseline: bench/bare_app.py under the same gunicorn settings, one ledger-style
   transfer per request, driven by the same wrk settings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    PASSWORD,
    backends,
    call,
    children,
    create_db,
    db_url,
    drop_db,
    env_for,
    libpq_url,
    machine_busy,
    process_cpu,
    serve,
    serve_bare,
)

USERS = 10_000
PORT, BARE_PORT = 8091, 8099


def seed(url: str, citizens: int = USERS) -> None:
    """Migrate; approve the built-in methodologies; `citizens` users c1@bench.test, c2@…,
    written in bulk but left as registration leaves a citizen (role, empty accounts)."""
    from flask_migrate import upgrade

    from app import create_app, ledger
    from app.auth.passwords import hash_password
    from app.extensions import db
    from app.methodology import service as methodology
    from app.uow import unit_of_work
    from app.users import service as users

    app = create_app(env_for(url), instance_path=str(ROOT / "instance" / "bench"))
    with app.app_context():
        upgrade()
        with unit_of_work():
            admin = users.register(email="admin@bench.test", password=PASSWORD,
                                   roles=("citizen", "admin"))
            methodology.sync_discovered()
            # Release 1.0.0, which the figures in docs/benchmarks.md were measured under.
            for v in methodology.discovered_pending("1.0.0"):
                methodology.approve(admin, v.id, datetime.now(UTC) - timedelta(days=400))
        pw = hash_password(PASSWORD)
        raw = psycopg.connect(libpq_url(url), autocommit=True)
        raw.execute("INSERT INTO users (email, password_hash, display_name, token_epoch, "
                    "created_at, updated_at) SELECT 'c' || g || '@bench.test', %s, 'c' || g, "
                    "0, now(), now() FROM generate_series(1, %s) g", (pw, citizens))
        raw.execute("INSERT INTO user_roles (user_id, role, granted_at) SELECT id, 'citizen', "
                    "now() FROM users WHERE email LIKE 'c%%@bench.test'")
        citizen_ids = [row[0] for row in raw.execute(
            "SELECT id FROM users WHERE email LIKE 'c%%@bench.test'")]
        raw.close()
        with unit_of_work():
            ledger.open_books(citizen_ids)  # as users.register does
        db.engine.dispose()


def setup_partner(base: str, url: str) -> tuple[str, str, list[int]]:
    token = call("POST", f"{base}/api/v1/auth/login",
                 {"identifier": "admin@bench.test", "password": PASSWORD})["access_token"]
    made = call("POST", f"{base}/api/v1/admin/partners",
                {"name": "Bench Transit", "methodologies": ["green_travel", "clean_plate",
                                                            "recycling", "paperless"]},
                {"Authorization": f"Bearer {token}"})
    partner_id = made["partner"]["id"]
    with psycopg.connect(libpq_url(url), autocommit=True) as raw:
        raw.execute("INSERT INTO partner_links (partner_id, user_id, partner_user_ref, status, "
                    "created_at) SELECT %s, id, 'u' || id, 'active', now() FROM users "
                    "WHERE email LIKE 'c%%@bench.test'", (partner_id,))
        user_ids = [r[0] for r in raw.execute(
            "SELECT id FROM users WHERE email LIKE 'c%%@bench.test' ORDER BY id")]
    return made["key_id"], made["secret"], user_ids


def drop_foreign_keys(url: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as raw:
        for table, name in raw.execute(
                "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' "
                "AND conrelid::regclass::text IN ('behaviours', 'ledger_transactions', "
                "'ledger_postings', 'ledger_lots', 'ledger_accounts')").fetchall():
            raw.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')


def record(i: int, user_id: int, base_time: datetime) -> dict:
    # Spread over many days and users: each record is a distinct act, under the caps.
    at = base_time - timedelta(minutes=7 * i)
    kind = i % 4
    if kind == 0:
        data = {"mode": "metro", "distance_km": "8.5", "started_at": at.isoformat(),
                "ended_at": (at + timedelta(minutes=20)).isoformat()}
        methodology = "green_travel"
    elif kind == 1:
        data, methodology = {"meals": 1}, "clean_plate"
    elif kind == 2:
        data, methodology = {"items": [{"material": "paper", "kg": "1.5"}]}, "recycling"
    else:
        data, methodology = {"kind": "e_invoice", "sheets": 2}, "paperless"
    return {"external_id": f"rec-{i}", "user_ref": f"u{user_id}", "methodology": methodology,
            "occurred_at": (at + timedelta(minutes=20)).isoformat(), "data": data}


def partner_batches(base: str, key_id: str, secret: str, user_ids: list[int], batches: int,
                    size: int, clients: int) -> tuple[float, dict]:
    from app.partners.signing import sign

    base_time = datetime.now(UTC) - timedelta(hours=1)
    counts: dict[str, int] = {}
    lock = threading.Lock()
    todo = list(range(batches))

    def work() -> None:
        while True:
            with lock:
                if not todo:
                    return
                b = todo.pop()
            recs = [record(b * size + j, user_ids[(b * size + j) % len(user_ids)], base_time)
                    for j in range(size)]
            body = json.dumps({"records": recs}).encode()
            path = "/api/v1/partner/behaviours"
            headers = sign(secret, "POST", path, body, int(time.time()), key_id=key_id)
            result = call("POST", base + path, headers=headers, raw=body)
            with lock:
                for status, n in result["counts"].items():
                    counts[status] = counts.get(status, 0) + n

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, counts


WRK_CITIZEN = """
-- Each wrk thread gets its own id, so threads never send the same key or the same trip.
local tokens = {%(tokens)s}
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local n = 0
request = function()
  n = n + 1
  local k = n * 2 + id
  local t = %(start)d - k * 1800 - math.random(0, 600)
  local s = os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", t)
  local e = os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", t + 1200)
  local body = '{"methodology":"green_travel","occurred_at":"' .. e .. '",' ..
    '"data":{"mode":"metro","started_at":"' .. s .. '","ended_at":"' .. e .. '",' ..
    '"start":{"lat":32.0,"lon":118.8},"end":{"lat":32.05,"lon":118.8}}}'
  local headers = {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[(k %% #tokens) + 1],
    ["Idempotency-Key"] = "wrk-" .. id .. "-" .. n}
  return wrk.format("POST", "/api/v1/behaviours", headers, body)
end
"""

WRK_BARE = """
request = function()
  return wrk.format("POST", "/transfer", {["Content-Type"] = "application/json"}, "{}")
end
"""


def wrk(port: int, script: str, seconds: int, connections: int) -> tuple[float, int, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s",
                          fh.name, f"http://127.0.0.1:{port}"], capture_output=True, text=True,
                         check=True).stdout
    os.unlink(fh.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return rps, non2xx, errors


def citizen_tokens(base: str, user_ids: list[int], count: int) -> list[str]:
    tokens = []
    for uid in user_ids[:count]:
        tokens.append(call("POST", f"{base}/api/v1/auth/login",
                           {"identifier": f"c{uid - user_ids[0] + 1}@bench.test",
                            "password": PASSWORD})["access_token"])
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--without-foreign-keys", action="store_true",
                        help="experiment: drop the foreign keys of behaviours and the ledger "
                             "tables in the scratch database first (what do they cost?)")
    parser.add_argument("--clients", type=int, default=None,
                        help="partners sending batches at once (default: one per worker)")
    args = parser.parse_args()
    clients = args.clients or args.workers

    name, bare_name = (f"ingest_bench_{uuid.uuid4().hex[:8]}",
                       f"bare_bench_{uuid.uuid4().hex[:8]}")
    create_db(args.server, name)
    create_db(args.server, bare_name)
    url = db_url(args.server, name)
    procs = []
    try:
        seed(url)
        app_proc = serve("wsgi:app", env_for(url), PORT, args.workers)
        procs.append(app_proc)
        base = f"http://127.0.0.1:{PORT}"
        key_id, secret, user_ids = setup_partner(base, url)
        if args.without_foreign_keys:
            drop_foreign_keys(url)
        # CPU of the app's workers and of the database's backends over the batch run.
        # (a backend that connects during the run counts from zero)
        before = {p: process_cpu(p) for p in children(app_proc.pid) + backends(url)}
        busy, client_cpu = machine_busy(), time.process_time()
        elapsed, counts = partner_batches(base, key_id, secret, user_ids, args.batches,
                                          args.batch_size, clients=clients)
        client_cpu = time.process_time() - client_cpu
        busy = [after - start for after, start in zip(machine_busy(), busy, strict=True)]
        app_cpu, db_cpu = (sum(process_cpu(p) - before.get(p, 0) for p in pids) for pids in
                           (children(app_proc.pid), backends(url)))
        total = sum(counts.values())
        tokens = citizen_tokens(base, user_ids, 200)
        script = WRK_CITIZEN % {"tokens": ",".join(f'"{t}"' for t in tokens),
                                "start": int(time.time()) - 3600}
        citizen = wrk(PORT, script, args.seconds, args.connections)

        bare_proc = serve_bare(args.server, bare_name, BARE_PORT, args.workers)
        procs.append(bare_proc)
        bare = wrk(BARE_PORT, WRK_BARE, args.seconds, args.connections)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        drop_db(args.server, name)
        drop_db(args.server, bare_name)

    print(f"\ningest benchmark, PostgreSQL, gunicorn {args.workers} workers, "
          f"{os.cpu_count()} cores"
          + (" — EXPERIMENT: foreign keys dropped" if args.without_foreign_keys else ""))
    print(f"partner batches: {args.batches} × {args.batch_size} records from {clients} clients "
          f"in {elapsed:.1f} s "
          f"→ {total / elapsed:.0f} records/s ({counts.get('credited', 0) / elapsed:.0f} "
          f"credited/s); outcomes {counts}")
    print(f"CPU per record: app workers {app_cpu / total * 1000:.3f} ms, PostgreSQL client "
          f"backends {db_cpu / total * 1000:.3f} ms, bench client {client_cpu / total * 1000:.3f}"
          f" ms; the machine was {busy[0] / busy[1]:.0%} busy during the run (all processes)")
    print(f"{'endpoint':<34}{'req/s':>9}{'non-2xx':>9}{'errors':>8}{'vs bare':>9}")
    print(f"{'POST /api/v1/behaviours':<34}{citizen[0]:>9.0f}{citizen[1]:>9}{citizen[2]:>8}"
          f"{citizen[0] / bare[0]:>8.0%}")
    print(f"{'bare Flask+SQLAlchemy transfer':<34}{bare[0]:>9.0f}{bare[1]:>9}{bare[2]:>8}"
          f"{'100%':>9}")


if __name__ == "__main__":
    main()
