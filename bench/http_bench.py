"""Mixed HTTP load through gunicorn on PostgreSQL, next to the bare Flask endpoint (same run).

    .venv/bin/python bench/http_bench.py              # about 2 minutes; needs wrk (apt)
    .venv/bin/python bench/http_bench.py --seconds 30 --workers 4

Creates two scratch databases (dropped at the end): the app's, migrated, with the built-in
methodologies approved (effective 400 days ago), 2,000 citizens each holding 1,000,000
points (ledger.earn), one merchant with 20 approved rewards of 10 points and 10,000,000 in
stock each, and an access token per citizen minted in an app context with the same JWT key
as the served app; and bench/bare_app.py's. Both are served by gunicorn with the project's
gunicorn.conf.py and the same settings (--workers, default 4 sync workers; pool of 2 per
worker), over loopback, one after the other. GUNICORN_MAX_REQUESTS=0 for both: no worker
is recycled during the runs, so the memory read afterwards is that of workers that served
every request (the production setting recycles after about 5,000 requests).

The mix (reads and redemptions as a random citizen of the 2,000, behaviours going round
them, so per-user locks never dominate; bench/mixed.lua builds wrk's requests, Load.requests
the open-loop client's, the same way):
  70 % reads   30 % GET /api/v1/account, 20 % GET /api/v1/account/entries,
               20 % GET /api/v1/rewards (catalogue, first page)
  20 % POST /api/v1/behaviours: a self-reported 20-minute metro trip (discounted credit), a
       fresh Idempotency-Key each; a citizen's trips are 2 h apart and never overlap, so
       none is a duplicate or implausible, and at most 12 a local day stay under the caps
  10 % POST /api/v1/rewards/{id}/redemptions on a random reward, a fresh Idempotency-Key
What counts as an error: every answer that is not 2xx, plus socket errors and timeouts.
The seeding leaves no room for business refusals (points for 100,000 redemptions per
citizen, stock for millions, no per-user limits, trips that pass every check), so a 409,
422 or any 5xx is a failure, not an expected outcome. A behaviour that was recorded but
not credited (rejected, capped, pending) is still a 201: the script counts behaviour
statuses in the database afterwards and shows them under "app checks".

Runs (after a 3 s warm-up of each server, discarded):
1. Peak: wrk (2 threads, --connections, default 16; bench/mixed.lua) for --seconds,
   closed loop: each connection sends its next request as soon as the last one is
   answered. req/s is the peak throughput; its latencies are those of a saturated server.
2. Half rate: the same mix at half of run 1's req/s, open loop, for --seconds.
   Plain wrk cannot hold a rate, and pacing its connections with wrk's delay() hook would
   not make the latency honest: a delay only starts after the previous answer, so a slow
   answer postpones the requests that should have been sent meanwhile and their waiting is
   never measured (coordinated omission). So this run is a Python open-loop client:
   arrival times are drawn in advance as a Poisson process at the target rate (independent
   citizens; --uniform for evenly spaced arrivals, as wrk2 does), 64 threads each with its
   own http.client connection take the next arrival, sleep until it is due and send it, and
   latency is measured from when the request was *due*, not from when it was sent. If the
   server falls behind and every thread is busy, the backlog waits and that wait is counted.
   The client shares the cores with the server, so its own overhead and scheduling delays
   are counted too (erring on the slow side): "send lag p99" is how late the sends started
   after they were due, "client CPU" how much of a core the client used.
3. Bare: bench/bare_app.py (one ledger-style transfer per request) driven like run 1.
4. With --by-kind SECONDS: each kind of request alone (after the app's runs) and the bare
   transfer again (after its run), closed loop like run 1, each with the CPU it cost per
   request in the gunicorn workers, the database's backends and wrk (/proc and getrusage).
   On a machine whose cores are all busy, throughput is the inverse of that cost, so the
   table shows where the mix's gap to the bare transfer comes from, and how far the mix
   could go if every read cost no more than one bare transfer.
gunicorn's sync workers close the connection after every answer, so in every run each
request includes a TCP connect over loopback.
Worker memory: VmRSS from /proc/<pid>/status of every gunicorn worker (children of the
master), read after each run; max and mean per read.

Targets (issue): mixed peak ≥ 70 % of bare throughput; p99 < 50 ms at half the peak rate;
no errors; < 150 MB per worker.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import random
import re
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    PASSWORD,
    backends,
    children,
    create_db,
    db_url,
    drop_db,
    env_for,
    libpq_url,
    process_cpu,
    serve,
    serve_bare,
)
from bench.ingest_bench import seed as seed_citizens  # noqa: E402
from bench.ledger_bench import verify_clean  # noqa: E402

LUA = ROOT / "bench" / "mixed.lua"
READS = ("account", "entries", "catalogue")
MIX = (("account", 30), ("entries", 20), ("catalogue", 20), ("behaviour", 20),
       ("redemption", 10))
REWARDS, PRICE, STOCK, POINTS = 20, 10, 10_000_000, 1_000_000
WRK_THREADS = 2
OPEN_LOOP_CLIENTS = 64
WARMUP_SECONDS = 3
TARGET_VS_BARE, TARGET_P99_MS, TARGET_RSS_MB = 0.70, 50.0, 150.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- seeding ----------------------------------------------------------------------------

def seed(url: str, citizens: int, token_file: Path) -> list[int]:
    """Citizens with points and tokens (written one per line), approved rewards with stock.

    Returns the reward ids."""
    from sqlalchemy import select

    from app import create_app, ledger, rewards
    from app.auth.service import issue_tokens
    from app.extensions import db
    from app.merchants import service as merchants
    from app.rewards.schemas import RewardCreateSchema
    from app.uow import unit_of_work
    from app.users import service as users
    from app.users.models import User

    seed_citizens(url, citizens)  # migrate, approve the methodologies, c1@bench.test …
    app = create_app(app_env(url), instance_path=str(ROOT / "instance" / "bench"))
    with app.app_context():
        with unit_of_work():
            admin = db.session.scalar(select(User).where(User.email == "admin@bench.test"))
            merchant = merchants.create(admin, name="Bench merchant", contact="bench@example.com")
            staff = users.register(email="staff@bench.test", password=PASSWORD,
                                   roles=("merchant",))
            merchants.add_staff(admin, merchant, staff)
            reward_ids = []
            for i in range(REWARDS):
                reward = rewards.create_reward(staff, merchant, RewardCreateSchema().load({
                    "title_zh": f"低碳奖品 {i}", "title_en": f"Bench reward {i}",
                    "category": "other", "points_price": PRICE, "total_stock": STOCK}))
                reward_ids.append(reward.id)
            for revision in db.session.scalars(rewards.revisions(status="pending")).all():
                rewards.approve(admin, revision.id)
        ids = db.session.scalars(select(User.id).where(User.email.like("c%@bench.test"))
                                 .order_by(User.id)).all()
        for start in range(0, len(ids), 200):
            with unit_of_work():
                for user_id in ids[start:start + 200]:
                    ledger.earn(user_id, POINTS, key="bench-seed", cause_type="bench")
        with unit_of_work():
            tokens = [issue_tokens(user)["access_token"] for user in db.session.scalars(
                select(User).where(User.id.in_(ids)).order_by(User.id))]
        token_file.write_text("\n".join(tokens) + "\n")
        db.session.remove()
        db.engine.dispose()
    return reward_ids


NO_RECYCLING = {"GUNICORN_MAX_REQUESTS": "0"}


def app_env(url: str) -> dict[str, str]:
    # Tokens outlive any run; no worker recycling (see the module docstring).
    return {**env_for(url), "JWT_ACCESS_TOKEN_SECONDS": "21600", **NO_RECYCLING}


# -- load -------------------------------------------------------------------------------

class Load:
    """What a run needs to build requests: tokens, rewards, trip times, key prefix."""

    def __init__(self, token_file: Path, reward_ids: list[int]) -> None:
        self.token_file = token_file
        self.tokens = token_file.read_text().split()
        self.reward_ids = reward_ids
        self.runs = 0

    def next_run(self) -> tuple[int, str]:
        """Each run's trips end before a base 10 days earlier than the previous run's
        (so runs never report overlapping trips), and its keys have their own prefix."""
        self.runs += 1
        return int(time.time()) - 3600 - self.runs * 10 * 86400, f"r{self.runs}"

    def wrk_args(self, mix: tuple[tuple[str, int], ...] = MIX) -> list[str]:
        base, prefix = self.next_run()
        return ["mixed", str(self.token_file), ",".join(map(str, self.reward_ids)),
                ",".join(f"{k}:{w}" for k, w in mix), str(base), prefix, str(WRK_THREADS)]

    def requests(self, count: int, rng: random.Random) -> list[tuple]:
        """The open-loop client's requests, built like bench/mixed.lua builds them."""
        base, prefix = self.next_run()
        kinds, weights = zip(*MIX, strict=True)
        out, behaviours = [], 0
        for i, kind in enumerate(rng.choices(kinds, weights, k=count)):
            if kind == "behaviour":
                g = behaviours
                behaviours += 1
                end = base - (g // len(self.tokens)) * 7200
                token = self.tokens[g % len(self.tokens)]
            else:
                token = rng.choice(self.tokens)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            body = None
            if kind == "account":
                path = "/api/v1/account"
            elif kind == "entries":
                path = "/api/v1/account/entries"
            elif kind == "catalogue":
                path = "/api/v1/rewards"
            elif kind == "behaviour":
                path = "/api/v1/behaviours"
                headers["Idempotency-Key"] = f"{prefix}-b-{i}"
                body = json.dumps({"methodology": "green_travel", "occurred_at": iso(end),
                                   "data": {"mode": "metro", "started_at": iso(end - 1200),
                                            "ended_at": iso(end),
                                            "start": {"lat": 32.0, "lon": 118.8},
                                            "end": {"lat": 32.05, "lon": 118.8}}}).encode()
            else:
                path = f"/api/v1/rewards/{rng.choice(self.reward_ids)}/redemptions"
                headers["Idempotency-Key"] = f"{prefix}-r-{i}"
            out.append((kind, "POST" if kind in ("behaviour", "redemption") else "GET", path,
                        headers, body))
        return out


def iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def wrk(port: int, seconds: int, connections: int, script_args: list[str]) -> dict:
    cmd = ["wrk", "-t", str(WRK_THREADS), "-c", str(connections), "-d", f"{seconds}s",
           "--timeout", "10s", "-s", str(LUA.relative_to(ROOT)), f"http://127.0.0.1:{port}",
           "--", *script_args]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    m = re.search(r"^RESULT (.*)$", out, re.M)
    if not m:
        raise SystemExit(f"no RESULT line from wrk:\n{out}")
    r = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    statuses = {int(c): int(n) for c, n in re.findall(r"^STATUS (\d+) (\d+)$", out, re.M)}
    socket_errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {"rps": r["requests"] / (r["duration_us"] / 1e6), "requests": r["requests"],
            "p50": r["p50"] / 1000, "p95": r["p95"] / 1000, "p99": r["p99"] / 1000,
            "errors": socket_errors + sum(n for c, n in statuses.items() if not 200 <= c < 300),
            "statuses": statuses, "socket_errors": socket_errors,
            "kinds": dict(re.findall(r"^KIND (\w+) (\d+)$", out, re.M)),
            "samples": re.findall(r"^SAMPLE (.*)$", out, re.M),
            "cmd": shlex.join(cmd)}


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest rank."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def open_loop(port: int, rate: float, seconds: int, load: Load, poisson: bool,
              seed: int = 2026) -> dict:
    """Requests due at fixed times (see the module docstring); latency from when due."""
    rng = random.Random(seed)
    due, t = [], 0.0
    while True:
        t += rng.expovariate(rate) if poisson else 1 / rate
        if t >= seconds:
            break
        due.append(t)
    reqs = load.requests(len(due), rng)
    results: list[tuple | None] = [None] * len(due)
    counter = itertools.count()
    start = time.perf_counter() + 0.5
    cpu = time.process_time()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (i := next(counter)) < len(due):
            at = start + due[i]
            if (wait := at - time.perf_counter()) > 0:
                time.sleep(wait)
            sent = time.perf_counter()
            kind, method, path, headers, body = reqs[i]
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data, status = resp.read(), resp.status
            except (OSError, http.client.HTTPException) as err:
                conn.close()
                data, status = repr(err).encode(), 0
            done = time.perf_counter()
            results[i] = (kind, status, (done - at) * 1000, (sent - at) * 1000,
                          b"" if 200 <= status < 300 else data[:400])
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(OPEN_LOOP_CLIENTS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    done = [r for r in results if r is not None]
    lat = sorted(r[2] for r in done)
    lag = sorted(r[3] for r in done)
    statuses: dict[int, int] = {}
    for r in done:
        statuses[r[1]] = statuses.get(r[1], 0) + 1
    by_kind = {}
    for kind, _ in MIX:
        ks = sorted(r[2] for r in done if r[0] == kind)
        by_kind[kind] = {"n": len(ks), "p50": percentile(ks, 50), "p99": percentile(ks, 99),
                         "errors": sum(1 for r in done if r[0] == kind
                                       and not 200 <= r[1] < 300)}
    samples = [f"{r[1]} {r[0]} {r[4].decode(errors='replace')}" for r in done
               if not 200 <= r[1] < 300][:5]
    return {"rps": len(done) / elapsed, "requests": len(done), "target": rate,
            "p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99),
            "lag_p99": percentile(lag, 99), "client_cpu": cpu / elapsed,
            "errors": sum(n for c, n in statuses.items() if not 200 <= c < 300),
            "statuses": statuses, "by_kind": by_kind, "samples": samples}


# -- CPU per request, by kind ------------------------------------------------------------

def cpu_per_request(port: int, master: int, url: str, seconds: int, connections: int,
                    script_args: list[str]) -> dict:
    """One closed-loop wrk run of a single kind of request: req/s and the CPU each request
    cost the gunicorn workers, the PostgreSQL backends and wrk itself, in ms."""
    wrk(port, WARMUP_SECONDS, connections, script_args)  # connections in the pools, warm
    workers, pg = children(master), backends(url)
    w0, p0 = sum(map(process_cpu, workers)), sum(map(process_cpu, pg))
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = wrk(port, seconds, connections, script_args)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    n = r["requests"]
    cost = {"workers": (sum(map(process_cpu, workers)) - w0) / n * 1000,
            "postgres": (sum(map(process_cpu, pg)) - p0) / n * 1000,
            "wrk": ((c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)) / n * 1000}
    cost["total"] = sum(cost.values())
    return {"rps": r["rps"], "errors": r["errors"], **cost}


def print_costs(costs: dict[str, dict], bare: dict) -> None:
    """The by-kind table, and what the mix would cost with reads as cheap as the bare."""
    print("CPU per request by kind (each kind alone, closed loop; ms of CPU per request):")
    print(f"  {'kind':<12}{'req/s':>7}{'workers':>9}{'postgres':>10}{'wrk':>7}{'total':>8}"
          f"{'× bare':>8}{'errors':>8}")
    for kind, c in (*costs.items(), ("bare", bare)):
        print(f"  {kind:<12}{c['rps']:>7.0f}{c['workers']:>9.2f}{c['postgres']:>10.2f}"
              f"{c['wrk']:>7.2f}{c['total']:>8.2f}{c['total'] / bare['total']:>8.1f}"
              f"{c['errors']:>8}")
    weights = dict(MIX)
    share = sum(weights.values())
    mixed = sum(costs[k]["total"] * w for k, w in weights.items()) / share
    reads_as_bare = sum((bare["total"] if k in READS else costs[k]["total"]) * w
                        for k, w in weights.items()) / share
    print(f"  the mix, weighted: {mixed:.2f} ms a request = {bare['total'] / mixed:.0%} of the "
          f"bare transfer's requests per CPU-second; with every read costing no more than a "
          f"bare transfer: {reads_as_bare:.2f} ms = {bare['total'] / reads_as_bare:.0%}")


# -- memory, checks ---------------------------------------------------------------------

def worker_rss_mb(master: int) -> list[float]:
    """VmRSS of each gunicorn worker (the master's children), in MB."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        children = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()
                    and _ppid(p.name) == master]
    sizes = []
    for pid in children:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if m := re.search(r"^VmRSS:\s+(\d+) kB", status, re.M):
            sizes.append(int(m.group(1)) / 1024)
    return sizes


def _ppid(pid: str) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def rss_text(sizes: list[float]) -> str:
    if not sizes:
        return "n/a"
    return f"max {max(sizes):.0f} / mean {sum(sizes) / len(sizes):.0f} MB ({len(sizes)} workers)"


def app_checks(url: str) -> tuple[dict[str, int], int, list[str]]:
    with psycopg.connect(libpq_url(url)) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM behaviours "
                                     "GROUP BY status ORDER BY status").fetchall())
        redemptions = conn.execute("SELECT count(*) FROM redemptions").fetchone()[0]
    return statuses, redemptions, verify_clean(url)


def log_problems(path: Path) -> list[str]:
    """gunicorn's and the app's log lines at ERROR or worse (the app logs at WARNING)."""
    lines = path.read_text(errors="replace").splitlines()
    return [line for line in lines if re.search(r'"level": "(ERROR|CRITICAL)"|\[(ERROR|CRITICAL)\]'
                                                r"|Traceback", line)]


# -- main -------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (both servers)")
    parser.add_argument("--seconds", type=int, default=30, help="length of each measured run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (peak)")
    parser.add_argument("--users", type=int, default=2000, help="citizens")
    parser.add_argument("--uniform", action="store_true",
                        help="half-rate run: evenly spaced arrivals instead of Poisson")
    parser.add_argument("--by-kind", type=int, default=0, metavar="SECONDS",
                        help="also run each kind of request alone (and the bare transfer "
                             "again) for SECONDS, and print the CPU each request costs")
    args = parser.parse_args()
    command = shlex.join([os.path.relpath(sys.executable, ROOT), "bench/http_bench.py",
                          "--seconds", str(args.seconds), "--workers", str(args.workers),
                          "--connections", str(args.connections), "--users", str(args.users)]
                         + (["--uniform"] if args.uniform else [])
                         + (["--by-kind", str(args.by_kind)] if args.by_kind else []))

    began = time.perf_counter()
    name, bare_name = f"http_bench_{uuid.uuid4().hex[:8]}", f"bare_bench_{uuid.uuid4().hex[:8]}"
    scratch = Path(tempfile.mkdtemp(prefix="http_bench_"))
    app_log, bare_log = scratch / "app.log", scratch / "bare.log"
    create_db(args.server, name)
    create_db(args.server, bare_name)
    url = db_url(args.server, name)
    procs: list[subprocess.Popen] = []
    try:
        print(f"seeding {args.users} citizens, {REWARDS} rewards …", flush=True)
        reward_ids = seed(url, args.users, scratch / "tokens.txt")
        load = Load(scratch / "tokens.txt", reward_ids)

        port = free_port()
        with app_log.open("w") as log:
            app = serve("wsgi:app", app_env(url), port, args.workers, log)
        procs.append(app)
        print(f"app on :{port}; warm-up {WARMUP_SECONDS} s, then peak {args.seconds} s …",
              flush=True)
        wrk(port, WARMUP_SECONDS, args.connections, load.wrk_args())
        peak = wrk(port, args.seconds, args.connections, load.wrk_args())
        rss_peak = worker_rss_mb(app.pid)
        rate = peak["rps"] / 2
        print(f"peak {peak['rps']:.0f} req/s; open loop at {rate:.0f} req/s for "
              f"{args.seconds} s …", flush=True)
        half = open_loop(port, rate, args.seconds, load, poisson=not args.uniform)
        rss_half = worker_rss_mb(app.pid)
        costs = {}
        for kind, _ in MIX if args.by_kind else ():
            print(f"{kind} alone for {args.by_kind} s …", flush=True)
            costs[kind] = cpu_per_request(port, app.pid, url, args.by_kind, args.connections,
                                          load.wrk_args(((kind, 100),)))
        app.terminate()
        app.wait(30)
        procs.remove(app)

        bare_port = free_port()
        with bare_log.open("w") as log:
            bare_proc = serve_bare(args.server, bare_name, bare_port, args.workers, log,
                                   NO_RECYCLING)
        procs.append(bare_proc)
        print(f"bare on :{bare_port}; warm-up {WARMUP_SECONDS} s, then {args.seconds} s …",
              flush=True)
        wrk(bare_port, WARMUP_SECONDS, args.connections, ["bare"])
        bare = wrk(bare_port, args.seconds, args.connections, ["bare"])
        rss_bare = worker_rss_mb(bare_proc.pid)
        if args.by_kind:
            bare_cost = cpu_per_request(bare_port, bare_proc.pid, db_url(args.server, bare_name),
                                        args.by_kind, args.connections, ["bare"])
        behaviours, redemptions, problems = app_checks(url)
        logged = log_problems(app_log)
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
        drop_db(args.server, name)
        drop_db(args.server, bare_name)
        shutil.rmtree(scratch, ignore_errors=True)  # the tokens, the servers' logs

    cores = os.cpu_count()
    print(f"\nHTTP benchmark, PostgreSQL, gunicorn {args.workers} sync workers, {cores} cores, "
          f"{args.users:,} citizens, {args.seconds} s per run")
    print("mix: " + ", ".join(f"{w} % {k}" for k, w in MIX))
    print(f"{'run':<42}{'req/s':>7}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'errors':>8}"
          f"{'vs bare':>9}")
    rows = ((f"mixed, peak (wrk, {args.connections} connections)", peak,
             f"{peak['rps'] / bare['rps']:.0%}"),
            (f"mixed, open loop at {rate:.0f}/s (half peak)", half, "-"),
            (f"bare transfer, peak (wrk, {args.connections} conn.)", bare, "100%"))
    for label, r, vs in rows:
        print(f"{label:<42}{r['rps']:>7.0f}{r['p50']:>8.1f}{r['p95']:>8.1f}{r['p99']:>8.1f}"
              f"{r['errors']:>8}{vs:>9}")
    print(f"open loop by request ({'Poisson' if not args.uniform else 'uniform'} arrivals, "
          f"{OPEN_LOOP_CLIENTS} client threads; send lag p99 {half['lag_p99']:.1f} ms, "
          f"client CPU {half['client_cpu']:.0%} of a core):")
    for kind, k in half["by_kind"].items():
        print(f"  {kind:<12}{k['n']:>6} requests  p50 {k['p50']:6.1f} ms  p99 {k['p99']:6.1f} ms"
              f"  errors {k['errors']}")
    if args.by_kind:
        print_costs(costs, bare_cost)
    print(f"worker RSS: app after peak {rss_text(rss_peak)}; after open loop "
          f"{rss_text(rss_half)}; bare {rss_text(rss_bare)}")
    print(f"statuses: peak {peak['statuses']}, open loop {half['statuses']}, "
          f"bare {bare['statuses']}")
    for label, r in (("peak", peak), ("open loop", half), ("bare", bare)):
        for sample in r["samples"]:
            print(f"  {label} non-2xx: {sample[:300]}")
    print(f"app checks: behaviours {behaviours}, redemptions {redemptions}, ledger verify "
          f"{'clean' if not problems else problems[:3]}, {len(logged)} error lines in the "
          "app's log")
    for line in logged[:5]:
        print(f"  log: {line[:300]}")
    app_rss = max(rss_peak + rss_half, default=math.nan)
    checks = (
        (f"peak ≥ {TARGET_VS_BARE:.0%} of bare", peak["rps"] >= TARGET_VS_BARE * bare["rps"],
         f"{peak['rps'] / bare['rps']:.0%}"),
        (f"p99 < {TARGET_P99_MS:.0f} ms at half rate", half["p99"] < TARGET_P99_MS,
         f"{half['p99']:.1f} ms"),
        ("no errors", peak["errors"] + half["errors"] == 0,
         f"{peak['errors'] + half['errors']}"),
        (f"< {TARGET_RSS_MB:.0f} MB per worker", app_rss < TARGET_RSS_MB, f"{app_rss:.0f} MB"),
    )
    print("targets: " + "; ".join(f"{label} {'met' if ok else 'NOT met'} ({value})"
                                  for label, ok, value in checks))
    print(f"wrk, peak: {peak['cmd']}")
    print(f"command: {command}    (total {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
