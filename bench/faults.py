"""Fault injection on PostgreSQL: a worker killed, the database restarted, a job killed.

    .venv/bin/python bench/faults.py                   # all three, about 2 minutes
    .venv/bin/python bench/faults.py worker-kill       # or pg-restart, scheduler-kill

Each scenario prints what it did, then one PASS or FAIL line with its figures; the exit
status is 1 if any scenario failed. Scratch databases are dropped and the private cluster
is stopped and deleted at the end, also on failure.

1. worker-kill. A scratch database on --server, seeded as bench/http_bench.py does
   (citizens with 1,000,000 points and an access token each, 20 approved rewards), served by
   gunicorn (4 sync workers, the project's gunicorn.conf.py). 16 client threads send a
   write-heavy mix (50 % self-reported trips POST /api/v1/behaviours, 30 % redemptions,
   20 % GET /api/v1/account), closed loop, for --seconds. Twice during the run the script
   SIGKILLs a worker *in the middle of a database transaction*: it polls pg_stat_activity
   for a session of the scratch database with an open transaction that has already written
   (backend_xid set), finds the worker owning that session's TCP socket (/proc/net/tcp and
   the workers' fds), stops it (SIGSTOP), checks that its session is still inside a
   transaction that has written and is not committing, and SIGKILLs it (else SIGCONT and
   look again). Then: every request that got a 5xx or a socket error is
   sent again with the same Idempotency-Key and body, which must give 201 (replayed if the
   work had committed, fresh if not; never a stuck 409); every 201 the clients received
   must be a committed row (behaviour ids, redemption ids, statuses and points as
   answered); no credited behaviour lacks its earn transaction and no earn lacks its
   behaviour; every redemption's hold matches it, no hold is orphaned, stock adds up; no
   idempotency claim is left without its response; `flask ledger verify` exits 0.
   FAIL on any 5xx or any check above, and unless each kill dropped exactly one request
   (a sync worker serves one at a time, and inside an open transaction it has not answered
   yet: the commit comes first) whose retry ran afresh (nothing of it had committed).
2. pg-restart. A private throwaway cluster (initdb in a temp dir, 127.0.0.1 on a free port
   from 55432, trust; run as the `postgres` OS user when this script runs as root), migrated
   and seeded the same way, served by gunicorn (4 workers). 8 client threads send a paced
   mix (reads: account, catalogue, /readyz; writes: behaviours, redemptions) while the
   script stops the server (`pg_ctl stop -m fast`), waits 2 s and starts it again, then
   --after s later restarts it at once (`pg_ctl restart -m fast`: the workers' pooled
   connections die while idle); gunicorn is left alone. Every answer is classified per
   second: 2xx, a proper 503 (problem+json, type /problems/database-unavailable, or
   /problems/not-ready for /readyz, with Retry-After), or anything else. Recovery per fault:
   from when the server accepted connections again to the last non-2xx answer. PASS needs
   at least one proper 503, no 500 and no other failure, only 2xx after each fault's last
   503, and the same write checks and `flask ledger verify` as scenario 1 (failed writes
   retried first; a 503 says nothing was saved, so a retry that replays instead, i.e. a
   commit whose acknowledgement was lost, is reported as a NOTE). A 500 or
   other failure prints its response and the app's log lines for its request id.
3. scheduler-kill. A scratch database with --job-users citizens (seeded as above), each
   with two lots earned 3 days ago under a 1-day validity (so past due; the ledger's clock
   is patched while earning, as tests/ledger/test_jobs.py does), some with an open hold or
   a released hold on them, and --redemptions reservations whose expires_at is then moved
   into the past. `flask --app wsgi scheduler run expire_redemptions`, then
   `… run expire_points`, each SIGKILLed once some but not all of its work is committed,
   inside a unit of work that has written (its session holds a transaction id: SIGSTOP,
   checked again, SIGKILL), then run again to completion. What the job did is counted from
   the expire transactions it wrote, not from those the seed's reservations already wrote
   (a hold expires past-due lots first). Checks after each kill: no user is half done (each unit
   of work is all or nothing), ledger verify clean, no job_runs bookkeeping for the killed
   run. After the rerun: every due redemption expired once (one release per hold, stock
   back), every due lot expired exactly once for exactly what was left of it, no other lot
   touched, ledger verify clean, job_runs counts one run. Finally the long-running
   `flask scheduler` is SIGKILLed and started again: the single-instance guard (an advisory
   lock held by the dead process's session) must let the new one in, and must run the
   daily expire_points whose last scheduled run did not finish (simulated by setting its
   job_runs.finished_at two days back: what a kill during the 00:05 run leaves behind)
   right away rather than at the next 00:05.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import create_db, db_url, drop_db, env_for, libpq_url, serve  # noqa: E402
from bench.http_bench import app_env, iso, log_problems  # noqa: E402
from bench.http_bench import seed as seed_app  # noqa: E402

FLASK = str(Path(sys.executable).with_name("flask"))
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SHARED = "postgresql://postgres@127.0.0.1:5432/postgres"
WORKERS = 4
SCHEDULER_LOCK_ID = 0x63617262  # app/scheduler/cli.py
PROBLEM_JSON = "application/problem+json"


# -- HTTP load --------------------------------------------------------------------------

@dataclass
class Req:
    kind: str
    method: str
    path: str
    headers: dict
    body: bytes | None = None


@dataclass
class Res:
    req: Req
    sent: float  # time.monotonic()
    done: float
    status: int  # 0: socket error or timeout
    ctype: str = ""
    data: bytes = b""
    replayed: bool = False
    retry_after: str | None = None
    error: str = ""

    def json(self) -> dict:
        try:
            return json.loads(self.data)
        except ValueError:
            return {}


class Traffic:
    """Requests of a weighted mix; trips go round the citizens 2 h apart (never overlapping,
    at most 12 a local day: under every cap), keys and request ids are fresh."""

    def __init__(self, tokens: list[str], reward_ids: list[int], mix: tuple, prefix: str):
        self.tokens, self.reward_ids, self.prefix = tokens, reward_ids, prefix
        self.kinds, self.weights = zip(*mix, strict=True)
        self.seq, self.trips = itertools.count(), itertools.count()
        self.base = int(time.time()) - 3600

    def build(self, rng: random.Random) -> Req:
        i = next(self.seq)
        kind = rng.choices(self.kinds, self.weights)[0]
        headers = {"X-Request-ID": f"{self.prefix}-{i}"}
        if kind == "readyz":
            return Req(kind, "GET", "/readyz", headers)
        token = rng.choice(self.tokens)
        headers["Authorization"] = f"Bearer {token}"
        if kind == "account":
            return Req(kind, "GET", "/api/v1/account", headers)
        if kind == "catalogue":
            return Req(kind, "GET", "/api/v1/rewards", headers)
        headers["Content-Type"] = "application/json"
        headers["Idempotency-Key"] = f"{self.prefix}-{kind}-{i}"
        if kind == "redemption":
            return Req(kind, "POST", f"/api/v1/rewards/{rng.choice(self.reward_ids)}"
                       "/redemptions", headers)
        g = next(self.trips)
        headers["Authorization"] = f"Bearer {self.tokens[g % len(self.tokens)]}"
        end = self.base - (g // len(self.tokens)) * 7200
        body = {"methodology": "green_travel", "occurred_at": iso(end),
                "data": {"mode": "metro", "started_at": iso(end - 1200), "ended_at": iso(end),
                         "start": {"lat": 32.0, "lon": 118.8}, "end": {"lat": 32.05, "lon": 118.8}}}
        return Req(kind, "POST", "/api/v1/behaviours", headers, json.dumps(body).encode())


def send(port: int, req: Req, conn: http.client.HTTPConnection | None = None,
         ) -> tuple[Res, http.client.HTTPConnection]:
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = time.monotonic()
    try:
        conn.request(req.method, req.path, body=req.body, headers=req.headers)
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException) as err:
        conn.close()
        return Res(req, sent, time.monotonic(), 0, error=f"{type(err).__name__}: {err}"), conn
    return Res(req, sent, time.monotonic(), resp.status, resp.getheader("Content-Type", ""),
               data, resp.getheader("Idempotent-Replayed") == "true",
               resp.getheader("Retry-After")), conn


class Load:
    """`clients` threads sending Traffic's requests back to back (after `pause` s each)."""

    def __init__(self, port: int, traffic: Traffic, clients: int, pause: float = 0.0):
        self.port, self.traffic, self.pause = port, traffic, pause
        self.results: list[Res] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(n,), daemon=True)
                        for n in range(clients)]

    def start(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> list[Res]:
        self.stopping.set()
        for t in self.threads:
            t.join(60)
        return sorted(self.results, key=lambda r: r.sent)

    def _client(self, n: int) -> None:
        rng, conn = random.Random(n), None
        while not self.stopping.is_set():
            res, conn = send(self.port, self.traffic.build(rng), conn)
            self.results.append(res)
            if self.pause:
                time.sleep(self.pause)
        if conn is not None:
            conn.close()


def failed_writes(results: list[Res]) -> list[Res]:
    return [r for r in results if r.req.method == "POST" and (r.status == 0 or r.status >= 500)]


def retry(port: int, failed: list[Res]) -> tuple[Counter, list[Res]]:
    """Send each failed write again, same key and body; retry a 503 / 409-in-use a few times.

    Returns how they ended (replayed / fresh / other status) and the final answers."""
    outcomes, finals = Counter(), []
    for r in failed:
        for _ in range(10):
            res, conn = send(port, r.req)
            conn.close()
            if res.status not in (0, 409, 503):
                break
            time.sleep(0.5)
        finals.append(res)
        outcomes["replayed" if res.replayed and res.status == 201 else
                 "fresh" if res.status == 201 else f"status {res.status}"] += 1
    return outcomes, finals


def status_counts(results: list[Res]) -> dict:
    return dict(sorted(Counter(r.status for r in results).items()))


# -- checks -----------------------------------------------------------------------------

def ledger_verify(url: str) -> tuple[bool, str]:
    """`flask --app wsgi ledger verify` on the database: (exit 0, its last line)."""
    p = subprocess.run([FLASK, "--app", "wsgi", "ledger", "verify"], cwd=ROOT, env=env_for(url),
                       capture_output=True, text=True, timeout=600)
    lines = (p.stdout + p.stderr).strip().splitlines()
    return p.returncode == 0, (lines[-1] if lines else f"exit {p.returncode}")


def write_checks(url: str, answers: list[Res]) -> tuple[list[str], dict]:
    """Every 201 is a committed row as answered; behaviours, holds and stock agree."""
    problems: list[str] = []
    behaviours = {b["id"]: b for r in answers if r.status == 201 and r.req.kind == "behaviour"
                  for b in [r.json()]}
    redemptions = {b["id"]: b for r in answers
                   if r.status == 201 and r.req.kind == "redemption" for b in [r.json()]}
    with psycopg.connect(libpq_url(url)) as conn:
        rows = {row[0]: row for row in conn.execute(
            "SELECT b.id, b.status, b.points, b.ledger_tx_id, t.type, t.cause_id, "
            "t.posted_delta FROM behaviours b LEFT JOIN ledger_transactions t "
            "ON t.id = b.ledger_tx_id WHERE b.id = ANY(%s)", (list(behaviours),))}
        for bid, answered in behaviours.items():
            row = rows.get(bid)
            if row is None:
                problems.append(f"behaviour {bid} answered 201 but not in the database")
            elif (row[1], row[2]) != (answered["status"], answered["points"]):
                problems.append(f"behaviour {bid}: answered {answered['status']} "
                                f"{answered['points']}, stored {row[1]} {row[2]}")
            elif row[1] == "credited" and row[2] > 0 and row[4:] != ("earn", str(bid), row[2]):
                problems.append(f"behaviour {bid}: credited but its earn is {row[3:]}")
        found = {row[0]: row for row in conn.execute(
            "SELECT r.id, r.points, h.amount FROM redemptions r "
            "JOIN ledger_holds h ON h.id = r.hold_id WHERE r.id = ANY(%s)", (list(redemptions),))}
        for rid in redemptions:
            if rid not in found:
                problems.append(f"redemption {rid} answered 201 but not in the database")
        for label, sql in (
            ("credited behaviours without their earn",
             "SELECT count(*) FROM behaviours b LEFT JOIN ledger_transactions t "
             "ON t.id = b.ledger_tx_id WHERE b.status = 'credited' AND b.points > 0 AND "
             "(t.id IS NULL OR t.type <> 'earn' OR t.cause_id <> b.id::text "
             "OR t.posted_delta <> b.points)"),
            ("uncredited behaviours with a transaction",
             "SELECT count(*) FROM behaviours WHERE status <> 'credited' "
             "AND ledger_tx_id IS NOT NULL"),
            ("behaviour earns without their behaviour",
             "SELECT count(*) FROM ledger_transactions t WHERE t.type = 'earn' AND "
             "t.cause_type = 'behaviour' AND NOT EXISTS (SELECT 1 FROM behaviours b "
             "WHERE b.ledger_tx_id = t.id)"),
            ("redemptions whose hold does not match",
             "SELECT count(*) FROM redemptions r JOIN ledger_holds h ON h.id = r.hold_id "
             "WHERE h.amount <> r.points OR (r.status = 'reserved') <> (h.status = 'open')"),
            ("redemption holds without a redemption",
             "SELECT count(*) FROM ledger_holds h WHERE h.cause_type = 'redemption' AND NOT "
             "EXISTS (SELECT 1 FROM redemptions r WHERE r.hold_id = h.id)"),
            ("rewards whose stock does not add up",
             "SELECT count(*) FROM rewards w WHERE w.total_stock <> w.stock_left + (SELECT "
             "count(*) FROM redemptions r WHERE r.reward_id = w.id "
             "AND r.status IN ('reserved', 'fulfilled'))"),
            ("idempotency claims without a response",
             "SELECT count(*) FROM idempotency_keys WHERE status_code IS NULL"),
        ):
            if n := conn.execute(sql).fetchone()[0]:
                problems.append(f"{n} {label}")
        figures = {"behaviours": conn.execute("SELECT count(*) FROM behaviours").fetchone()[0],
                   "redemptions": conn.execute("SELECT count(*) FROM redemptions").fetchone()[0]}
    figures["answered_201"] = len(behaviours) + len(redemptions)
    return problems, figures


# -- processes --------------------------------------------------------------------------

def worker_pids(master: int) -> list[int]:
    """gunicorn's workers: the master's children."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(p.name))
    return sorted(pids)


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def tcp_inodes(remote_port: int) -> dict[int, str]:
    """Local port → socket inode of the TCP connections to `remote_port`."""
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if int(f[2].rsplit(":", 1)[1], 16) == remote_port:
                out[int(f[1].rsplit(":", 1)[1], 16)] = f[9]
    return out


def kill_worker_in_transaction(master: int, url: str, patience: float = 3.0) -> dict:
    """SIGKILL a worker in the middle of a database transaction that has written.

    Polls pg_stat_activity for such a session, finds the worker owning its socket, stops
    it (SIGSTOP) and looks again: only if the session is still inside a transaction that
    has written (the same or the worker's next one), waiting on the worker and not in
    COMMIT, is the worker SIGKILLed; else it resumes (SIGCONT) and the search goes on.
    After `patience` s a transaction that has not written yet will do; after twice that,
    any worker is killed ("mid_transaction": False)."""
    u = make_url(url)
    started = time.monotonic()
    activity = ("SELECT pid, client_port, state, backend_xid IS NOT NULL, xact_start, query "
                "FROM pg_stat_activity WHERE datname = %s AND xact_start IS NOT NULL "
                "AND pid <> pg_backend_pid() AND client_port IS NOT NULL ORDER BY 4 DESC")
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        while (waited := time.monotonic() - started) < 2 * patience:
            rows = conn.execute(activity, (u.database,)).fetchall()
            if rows:
                ports = tcp_inodes(u.port or 5432)
                owners = {inode: pid for pid in worker_pids(master)
                          for inode in socket_inodes(pid)}
            for backend, port, _, wrote, _, _ in rows:
                worker = owners.get(ports.get(port))
                if not worker or not (wrote or waited > patience):
                    continue
                os.kill(worker, signal.SIGSTOP)
                now = conn.execute("SELECT state, backend_xid IS NOT NULL, xact_start, query "
                                   "FROM pg_stat_activity WHERE pid = %s", (backend,)).fetchone()
                if (now and now[2] is not None and (now[1] or not wrote)
                        and (now[0] == "idle in transaction" or now[0] == "active"
                             and not now[3].lstrip().upper().startswith("COMMIT"))):
                    os.kill(worker, signal.SIGKILL)
                    killed_at = time.monotonic()
                    time.sleep(0.5)
                    gone = conn.execute("SELECT count(*) = 0 FROM pg_stat_activity "
                                        "WHERE pid = %s", (backend,)).fetchone()[0]
                    return {"worker": worker, "backend": backend, "state": now[0],
                            "wrote": now[1], "mid_transaction": True, "backend_gone": gone,
                            "killed_at": killed_at}
                os.kill(worker, signal.SIGCONT)
            time.sleep(0.002)
    worker = random.choice(worker_pids(master))
    os.kill(worker, signal.SIGKILL)
    return {"worker": worker, "backend": None, "state": "unknown", "wrote": False,
            "mid_transaction": False, "backend_gone": None, "killed_at": time.monotonic()}


def wait_workers(master: int, count: int, timeout: float = 30) -> list[int]:
    end = time.monotonic() + timeout
    while len(pids := worker_pids(master)) < count and time.monotonic() < end:
        time.sleep(0.2)
    return pids


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request_log(log: Path, request_id: str) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines()
            if f'"request_id": "{request_id}"' in line]


# -- 1. a worker killed -----------------------------------------------------------------

WRITE_MIX = (("behaviour", 5), ("redemption", 3), ("account", 2))


def worker_kill(args: argparse.Namespace, scratch: Path) -> tuple[bool, str]:
    name = f"faults_kill_{uuid.uuid4().hex[:8]}"
    create_db(args.server, name)
    url = db_url(args.server, name)
    app = None
    log = scratch / "worker_kill.log"
    try:
        reward_ids = seed_app(url, args.users, scratch / "tokens1.txt")
        tokens = (scratch / "tokens1.txt").read_text().split()
        port = free_port()
        with log.open("w") as fh:
            app = serve("wsgi:app", app_env(url), port, WORKERS, fh)
        before = wait_workers(app.pid, WORKERS)
        load = Load(port, Traffic(tokens, reward_ids, WRITE_MIX, "k"), args.clients).start()
        began = time.monotonic()
        kills = []
        for at in (args.seconds * 0.3, args.seconds * 0.6):
            time.sleep(max(0.0, began + at - time.monotonic()))
            kill = kill_worker_in_transaction(app.pid, url)
            kill["at"] = kill["killed_at"] - began
            kills.append(kill)
            print(f"  t={kill['at']:4.1f} s  SIGKILL worker {kill['worker']} "
                  + (f"mid-transaction: its session (backend {kill['backend']}) was "
                     f"{kill['state']!r} in a transaction that "
                     f"{'had written' if kill['wrote'] else 'had not written yet'} (checked "
                     f"with the worker stopped); backend gone 0.5 s later: "
                     f"{kill['backend_gone']}" if kill["mid_transaction"] else
                     "(no open transaction found: killed at random)"), flush=True)
        time.sleep(max(0.0, began + args.seconds - time.monotonic()))
        results = load.stop()
        elapsed = time.monotonic() - began
        after = wait_workers(app.pid, WORKERS)
        failed = failed_writes(results)
        outcomes, finals = retry(port, failed)
        stop(app)
        app = None
        problems, figures = write_checks(url, results + finals)
        clean, verdict = ledger_verify(url)
    finally:
        stop(app)
        drop_db(args.server, name)

    errors = [r for r in results if r.status == 0]
    five = [r for r in results if r.status >= 500]
    kinds = Counter(r.req.kind for r in results)
    print(f"  {len(results)} requests in {elapsed:.1f} s ({len(results) / elapsed:.0f}/s; "
          f"{dict(kinds)}), statuses {status_counts(results)}")
    for r in errors + five:
        print(f"  failed: {r.req.method} {r.req.path} t={r.sent - began:.2f} s → {r.status} "
              f"{r.error or r.data[:200]!r}")
    reaped = [line for line in log.read_text(errors="replace").splitlines() if "SIGKILL" in line]
    for line in reaped:
        print(f"  gunicorn: {line[:200]}")
    print(f"  workers before {before}, after {after}; retried {len(failed)} failed writes "
          f"with the same key: {dict(outcomes)}")
    print(f"  committed: {figures['behaviours']} behaviours, {figures['redemptions']} "
          f"redemptions; {figures['answered_201']} answers 201 checked against the database: "
          f"{'all there' if not problems else problems[:5]}")
    print(f"  flask ledger verify: {verdict}")
    in_tx = sum(1 for k in kills if k["mid_transaction"])
    # A worker killed inside an open transaction was serving a request that had not been
    # answered (the commit comes before the answer): one socket error, and the retry runs
    # it afresh. Killed elsewhere, a worker drops at most the one request it serves.
    expected_errors = len(kills) if in_tx == len(kills) else None
    ok = (clean and not problems and not five and len(after) == WORKERS
          and (len(errors) == expected_errors and outcomes == Counter(fresh=len(errors))
               if expected_errors is not None
               else len(errors) <= len(kills) and set(outcomes) <= {"replayed", "fresh"}))
    written = sum(1 for k in kills if k["wrote"])
    return ok, (f"worker-kill: {len(kills)} workers SIGKILLed ({in_tx} inside an open "
                f"transaction, {written} of them after it had written), {len(results)} "
                f"requests, {len(errors)} connection errors, "
                f"{len(five)} 5xx, retries {dict(outcomes) or 'none'}, workers back to "
                f"{len(after)}, write checks {'clean' if not problems else len(problems)}, "
                f"ledger verify {'clean' if clean else 'FAILED'}")


def free_port(preferred: int | None = None) -> int:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as PostgreSQL does
        try:
            s.bind(("127.0.0.1", preferred or 0))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- 2. PostgreSQL restarted ------------------------------------------------------------

class Cluster:
    """A throwaway PostgreSQL cluster in a temp dir (as the postgres OS user under root)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="faults_pg_"))
        self.data, self.log = self.dir / "data", self.dir / "server.log"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        self.server = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, binary: str, *args: str, check: bool = True) -> None:
        subprocess.run([*self.as_user, str(PG_BIN / binary), *args], check=check,
                       capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.dir}'\nfsync = off\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w",
                  "-t", "60", "restart")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop",
                      check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


READ_WRITE_MIX = (("account", 3), ("catalogue", 1), ("readyz", 1), ("behaviour", 4),
                  ("redemption", 1))


def proper_503(r: Res) -> bool:
    slug = "/problems/not-ready" if r.req.kind == "readyz" else "/problems/database-unavailable"
    return (r.status == 503 and r.ctype.startswith(PROBLEM_JSON) and r.retry_after is not None
            and str(r.json().get("type", "")).endswith(slug))


def pg_restart(args: argparse.Namespace, scratch: Path) -> tuple[bool, str]:
    cluster = Cluster(free_port(55432))
    app = None
    log = scratch / "pg_restart.log"
    events: list[dict] = []  # what was done, when it began, when the server accepted again
    try:
        cluster.init()
        cluster.start()
        create_db(cluster.server, "faults")
        url = db_url(cluster.server, "faults")
        reward_ids = seed_app(url, args.users, scratch / "tokens2.txt")
        tokens = (scratch / "tokens2.txt").read_text().split()
        port = free_port()
        with log.open("w") as fh:
            app = serve("wsgi:app", app_env(url), port, WORKERS, fh)
        before = wait_workers(app.pid, WORKERS)
        load = Load(port, Traffic(tokens, reward_ids, READ_WRITE_MIX, "p"), 8,
                    pause=0.03).start()
        began = time.monotonic()
        time.sleep(args.steady)
        t0 = time.monotonic()
        cluster.stop("fast")
        t_down = time.monotonic()
        time.sleep(2)
        t_start = time.monotonic()
        cluster.start()
        events.append({"what": "pg_ctl stop -m fast; 2 s down; pg_ctl start", "began": t0,
                       "up": time.monotonic()})
        print(f"  cluster on :{cluster.port}: stop -m fast at t={t0 - began:.1f} s (down after "
              f"{t_down - t0:.1f} s), start at t={t_start - began:.1f} s (accepting after "
              f"{events[-1]['up'] - t_start:.1f} s)", flush=True)
        time.sleep(args.after)
        t0 = time.monotonic()
        cluster.restart()
        events.append({"what": "pg_ctl restart -m fast", "began": t0, "up": time.monotonic()})
        print(f"  restart -m fast at t={t0 - began:.1f} s (accepting after "
              f"{events[-1]['up'] - t0:.1f} s); gunicorn untouched throughout", flush=True)
        time.sleep(args.after)
        results = load.stop()
        after = worker_pids(app.pid)
        failed = failed_writes(results)
        outcomes, finals = retry(port, failed)
        stop(app)
        app = None
        problems, figures = write_checks(url, results + finals)
        clean, verdict = ledger_verify(url)
    finally:
        stop(app)
        cluster.destroy()

    t_first = events[0]["began"]
    table: dict[int, Counter] = {}  # per second since the first stop, by answer time
    for r in results:
        c = table.setdefault(int((r.done - t_first) // 1), Counter())
        c["2xx" if 200 <= r.status < 300 else "503" if proper_503(r) else "other"] += 1
    print("  per second since the first stop (by answer time): 2xx / 503 problem+json / other")
    cells = [f"{s:+d}:{c['2xx']}/{c['503']}/{c['other']}" for s, c in sorted(table.items())]
    for i in range(0, len(cells), 9):
        print("    " + "  ".join(cells[i:i + 9]))
    bad = [r for r in results if not 200 <= r.status < 300]
    served503 = [r for r in bad if proper_503(r)]
    improper = [r for r in bad if not proper_503(r)]
    five_hundred = [r for r in results if r.status == 500]
    recoveries, tails_ok = [], True
    for i, ev in enumerate(events):
        end = events[i + 1]["began"] if i + 1 < len(events) else float("inf")
        mine = [r for r in bad if ev["began"] <= r.done < end]
        last = max((r.done for r in mine), default=ev["began"])
        tail = [r for r in results if last < r.done < end]
        tail_ok = bool(tail) and all(200 <= r.status < 300 for r in tail)
        tails_ok &= tail_ok
        recoveries.append(max(0.0, last - ev["up"]))
        print(f"  {ev['what']}: {len(mine)} non-2xx ({sum(proper_503(r) for r in mine)} proper "
              f"503), the last answered {last - ev['began']:.2f} s after it began, "
              f"{last - ev['up']:+.2f} s from when the server accepted again; then {len(tail)} "
              f"answers, all 2xx: {tail_ok}")
    early = [r for r in bad if r.done < t_first]
    print(f"  {len(results)} requests, statuses {status_counts(results)}; 503 problem+json by "
          f"kind {dict(Counter(r.req.kind for r in served503))}; non-2xx before the first "
          f"stop: {len(early)}")
    if served503:
        s = served503[0]
        print(f"  a 503: {s.req.method} {s.req.path} Content-Type {s.ctype}, Retry-After "
              f"{s.retry_after}, {s.data[:160]!r}")
    for r in improper[:10]:
        print(f"  NOT a proper 503: {r.req.method} {r.req.path} t={r.done - t_first:+.2f} s → "
              f"{r.status} {r.ctype} {r.error or r.data[:300]!r}")
        for line in request_log(log, r.req.headers["X-Request-ID"])[:5]:
            print(f"    log: {line[:800]}")
    if five_hundred:
        for line in [x for x in log_problems(log) if "unhandled error" in x][:5]:
            print(f"    log: {line[:800]}")
    print(f"  workers before {before}, after {after} (same processes: {before == after}); "
          f"retried {len(failed)} failed writes with the same key: {dict(outcomes)}")
    print(f"  committed: {figures['behaviours']} behaviours, {figures['redemptions']} "
          f"redemptions; {figures['answered_201']} answers 201 checked against the database: "
          f"{'all there' if not problems else problems[:5]}")
    if outcomes["replayed"]:
        print(f"  NOTE: {outcomes['replayed']} writes answered 503 'nothing was saved' had in "
              "fact committed (the retry replayed them): the commit's acknowledgement was lost")
    print(f"  flask ledger verify: {verdict}")
    ok = (bool(served503) and not improper and not early and tails_ok and clean
          and not problems and set(outcomes) <= {"replayed", "fresh"})
    return ok, (f"pg-restart: {len(results)} requests, {len(served503)} × 503 problem+json, "
                f"{len(five_hundred)} × 500, {len(improper)} other failures; full recovery "
                + " and ".join(f"{s:.1f} s" for s in recoveries)
                + " after PostgreSQL accepted again (stop/2 s/start; restart -m fast), "
                f"gunicorn untouched; retries {dict(outcomes) or 'none'}, write checks "
                f"{'clean' if not problems else len(problems)}, ledger verify "
                f"{'clean' if clean else 'FAILED'}")


# -- 3. a job killed --------------------------------------------------------------------

def seed_due(url: str, users: int, redemptions: int, token_file: Path) -> None:
    """http_bench's seed, then for every citizen two lots earned 3 days ago under a 1-day
    validity (past due) with an open hold on every 3rd citizen's and a released one on every
    5th's; then `redemptions` reservations (real clock) whose expiry is moved to the past."""
    from sqlalchemy import select

    from app import create_app, ledger, rewards
    from app.db_types import utcnow
    from app.extensions import db
    from app.ledger import books, holds, journal
    from app.uow import unit_of_work
    from app.users.models import User

    reward_ids = seed_app(url, users, token_file)
    app = create_app({**app_env(url), "POINTS_VALIDITY_DAYS": "1"},
                     instance_path=str(ROOT / "instance" / "bench"))
    with app.app_context():
        ids = db.session.scalars(select(User.id).where(User.email.like("c%@bench.test"))
                                 .order_by(User.id)).all()
        # Every ledger module these operations read the clock in: the accounts, the
        # journal's entries and lots, the holds.
        clocked, past = (books, journal, holds), utcnow() - timedelta(days=3)
        for module in clocked:
            module.utcnow = lambda: past
        try:
            for start in range(0, len(ids), 200):
                with unit_of_work():
                    for uid in ids[start:start + 200]:
                        ledger.earn(uid, 100, key="due-a", cause_type="bench")
                        ledger.earn(uid, 50, key="due-b", cause_type="bench")
                        if uid % 3 == 0:
                            ledger.hold(uid, 30, key="open-hold", cause_type="bench")
                        if uid % 5 == 0:
                            held = ledger.hold(uid, 20, key="hold", cause_type="bench")
                            ledger.release(held.id, key="release")
        finally:
            for module in clocked:
                module.utcnow = utcnow
        for start in range(0, redemptions, 100):
            with unit_of_work():
                for n, uid in enumerate(ids[start:min(start + 100, redemptions)], start):
                    rewards.redeem(uid, reward_ids[n % len(reward_ids)], request_key=f"due-{n}")
        db.session.remove()
        db.engine.dispose()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("UPDATE redemptions SET expires_at = now() - interval '1 hour'")


def run_job_killed(url: str, job: str, progress: str, total: int, fraction: float,
                   ) -> tuple[int, float, str]:
    """Start `flask scheduler run JOB`, SIGKILL it once `progress` (SQL, a count) reaches
    `fraction` of `total`. Returns the count at the kill, the seconds the job had run
    (from its first committed unit), and how the process ended."""
    proc = subprocess.Popen([FLASK, "--app", "wsgi", "scheduler", "run", job], cwd=ROOT,
                            env=env_for(url), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    first, writing = None, False
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        while proc.poll() is None:
            n = conn.execute(progress).fetchone()[0]
            if n and first is None:
                first = time.monotonic()
            if n >= max(1, total * fraction):
                writing = kill_inside_unit(proc, conn)
                break
            time.sleep(0.01)
        proc.wait()
        time.sleep(0.3)  # the backend notices the closed socket and rolls back
        n = conn.execute(progress).fetchone()[0]
    ran = time.monotonic() - first if first else 0.0
    ended = (("SIGKILLed inside a unit of work (its transaction had written)" if writing
              else "SIGKILLed (no transaction with writes open at that moment)")
             if proc.returncode == -signal.SIGKILL
             else f"exited {proc.returncode} before the kill: {proc.stdout.read()[-300:]!r}")
    return n, ran, ended


def kill_inside_unit(proc: subprocess.Popen, conn: psycopg.Connection,
                     patience: float = 5.0) -> bool:
    """SIGKILL the job while one of its units of work is open and has written: wait for its
    session to hold a transaction id, SIGSTOP it, check the transaction is still open and
    not committing, SIGKILL (else SIGCONT and look again). True if it was killed so; after
    `patience` s it is killed wherever it is, and False."""
    writing_sql = ("SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = "
                   "current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL "
                   "AND state IN ('idle in transaction', 'active') AND query NOT ILIKE 'COMMIT%'")
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline and proc.poll() is None:
        if conn.execute(writing_sql).fetchone()[0]:
            proc.send_signal(signal.SIGSTOP)
            if conn.execute(writing_sql).fetchone()[0]:
                proc.send_signal(signal.SIGKILL)
                return True
            proc.send_signal(signal.SIGCONT)
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    return False


def run_job(url: str, job: str) -> tuple[str, float]:
    began = time.monotonic()
    p = subprocess.run([FLASK, "--app", "wsgi", "scheduler", "run", job], cwd=ROOT,
                       env=env_for(url), capture_output=True, text=True, timeout=600)
    return (p.stdout.strip() or p.stderr.strip()[-300:]), time.monotonic() - began


def job_runs(conn: psycopg.Connection, job: str) -> int:
    row = conn.execute("SELECT runs FROM job_runs WHERE job = %s", (job,)).fetchone()
    return row[0] if row else 0


def check_after_kill(conn: psycopg.Connection, url: str, job: str, done: int, total: int,
                     half_done: int, failures: list[str], what: str) -> None:
    """A job killed mid-way must have stopped part-way, left nothing half-done, recorded
    no finished run and left a ledger that verifies."""
    clean, verdict = ledger_verify(url)
    runs = job_runs(conn, job)
    print(f"  {job}: {what}; job_runs {runs}; ledger verify: {verdict}", flush=True)
    if not 0 < done < total:
        failures.append(f"{job} not killed mid-way ({done}/{total})")
    if half_done or not clean or runs:
        failures.append(f"{job}: inconsistent after the kill")


def scheduler_kill(args: argparse.Namespace, scratch: Path) -> tuple[bool, str]:
    name = f"faults_job_{uuid.uuid4().hex[:8]}"
    create_db(args.server, name)
    url = db_url(args.server, name)
    failures: list[str] = []
    procs: list[subprocess.Popen] = []
    try:
        began = time.monotonic()
        seed_due(url, args.job_users, args.redemptions, scratch / "tokens3.txt")
        print(f"  seeded {args.job_users} citizens with due lots and {args.redemptions} due "
              f"reservations in {time.monotonic() - began:.0f} s", flush=True)
        conn = psycopg.connect(libpq_url(url), autocommit=True)

        # expire_redemptions
        due_r = conn.execute("SELECT count(*) FROM redemptions WHERE status = 'reserved' "
                             "AND expires_at <= now()").fetchone()[0]
        n, ran, ended = run_job_killed(
            url, "expire_redemptions",
            "SELECT count(*) FROM redemptions WHERE status = 'expired'", due_r, 0.3)
        half = conn.execute(
            "SELECT count(*) FROM redemptions r JOIN ledger_holds h ON h.id = r.hold_id WHERE "
            "(r.status = 'expired') <> (h.status = 'released')").fetchone()[0]
        if "inside a unit of work" not in ended:
            failures.append(f"expire_redemptions: {ended}")
        check_after_kill(conn, url, "expire_redemptions", n, due_r, half, failures,
                         f"{ended} after {ran:.1f} s of work, {n}/{due_r} redemptions "
                         f"expired; half-done redemptions {half}")
        out, secs = run_job(url, "expire_redemptions")
        rows = conn.execute(
            "SELECT (SELECT count(*) FROM redemptions WHERE status <> 'expired'), "
            "(SELECT count(*) FROM (SELECT hold_id FROM ledger_transactions WHERE type = "
            "'release' AND cause_type = 'redemption' GROUP BY hold_id HAVING count(*) <> 1) x), "
            "(SELECT count(*) FROM ledger_holds h JOIN redemptions r ON r.hold_id = h.id "
            "WHERE h.status <> 'released'), (SELECT count(*) FROM rewards "
            "WHERE stock_left <> total_stock)").fetchone()
        runs = job_runs(conn, "expire_redemptions")
        print(f"  expire_redemptions rerun ({secs:.1f} s): {out}; not expired {rows[0]}, holds "
              f"released other than once {rows[1]}, holds not released {rows[2]}, rewards "
              f"with stock missing {rows[3]}; job_runs {runs}", flush=True)
        if any(rows) or runs != 1 or f"'expired': {due_r - n}" not in out:
            failures.append("expire_redemptions: rerun did not finish exactly the rest")
        redemptions_line = (f"expire_redemptions killed at {n}/{due_r} redemptions, "
                            f"rerun expired {due_r - n - rows[0]} more")

        # expire_points
        due = {r[0]: r[1:] for r in conn.execute(
            "SELECT id, user_id, open_amount, expired_amount FROM ledger_lots "
            "WHERE expires_at <= now() AND open_amount > 0")}
        others = {r[0]: r[1:] for r in conn.execute(
            "SELECT id, open_amount, expired_amount FROM ledger_lots "
            "WHERE NOT (expires_at <= now() AND open_amount > 0)")}
        users = len({v[0] for v in due.values()})
        # The seed's reservations already expired the due lots of the users they held for
        # (a hold expires past-due lots first): only expire transactions after this id are
        # the job's own, for its progress and for what it touched.
        before = conn.execute("SELECT coalesce(max(id), 0) FROM ledger_transactions"
                              ).fetchone()[0]
        progress = ("SELECT count(DISTINCT user_id) FROM ledger_transactions "
                    f"WHERE type = 'expire' AND id > {int(before)}")
        n, ran, ended = run_job_killed(url, "expire_points", progress, users, 0.3)
        half = conn.execute(
            "SELECT count(*) FROM (SELECT user_id FROM ledger_lots WHERE id = ANY(%s) "
            "GROUP BY user_id HAVING bool_or(open_amount = 0) AND NOT bool_and(open_amount = 0)"
            ") x", (list(due),)).fetchone()[0]
        if "inside a unit of work" not in ended:
            failures.append(f"expire_points: {ended}")
        check_after_kill(conn, url, "expire_points", n, users, half, failures,
                         f"{ended} after {ran:.1f} s of work, {n}/{users} users done "
                         f"({len(due)} due lots, {sum(v[1] for v in due.values())} points); "
                         f"half-done users {half}")
        out, secs = run_job(url, "expire_points")
        posted = {int(r[0]): (r[1], r[2]) for r in conn.execute(
            "SELECT t.cause_id, count(DISTINCT t.id), sum(p.amount) FROM ledger_transactions t "
            "JOIN ledger_postings p ON p.transaction_id = t.id JOIN ledger_system_accounts a "
            "ON a.id = p.system_account_id AND a.code = 'system:expired' "
            "WHERE t.type = 'expire' "
            "AND t.id > %s GROUP BY t.cause_id", (before,))}
        lots = {r[0]: r[1:] for r in conn.execute(
            "SELECT id, open_amount, expired_amount FROM ledger_lots")}
        wrong = [lot for lot, (_, open_before, exp_before) in due.items()
                 if posted.get(lot) != (1, open_before)
                 or lots[lot] != (0, exp_before + open_before)]
        touched = [lot for lot, before in others.items() if lot in posted or lots[lot] != before]
        runs = job_runs(conn, "expire_points")
        clean2, verdict2 = ledger_verify(url)
        print(f"  expire_points rerun ({secs:.1f} s): {out}; due lots not expired exactly once "
              f"for exactly their open amount {len(wrong)} {wrong[:5]}; other lots touched "
              f"{len(touched)}; expire transactions {sum(c for c, _ in posted.values())} for "
              f"{len(due)} lots; job_runs {runs}; ledger verify: {verdict2}", flush=True)
        expected = f"{{'users': {users - n}, 'points': "
        if wrong or touched or runs != 1 or not clean2 or not out.startswith(
                f"expire_points: {expected}"):
            failures.append("expire_points: rerun did not finish exactly the rest")
        points_line = f"expire_points killed at {n}/{users} users, rerun did the rest"

        # the long-running scheduler, SIGKILLed and started again
        lock_sql = ("SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND "
                    "l.objid = %s AND d.datname = %s")

        def start_scheduler() -> tuple[subprocess.Popen, float, int | None]:
            proc = subprocess.Popen([FLASK, "--app", "wsgi", "scheduler"], cwd=ROOT,
                                    env=env_for(url), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            procs.append(proc)
            t0 = time.monotonic()
            while proc.poll() is None and time.monotonic() - t0 < 30:
                if row := conn.execute(lock_sql, (SCHEDULER_LOCK_ID, name)).fetchone():
                    time.sleep(1)  # let it store its jobs
                    return proc, time.monotonic() - t0 - 1, row[0]
                time.sleep(0.05)
            return proc, time.monotonic() - t0, None

        first, _, holder = start_scheduler()
        first.send_signal(signal.SIGKILL)
        first.wait()
        # What a kill during the 00:05 run leaves: the last finished run is older than the
        # last scheduled one.
        conn.execute("UPDATE job_runs SET finished_at = now() - interval '2 days' "
                     "WHERE job = 'expire_points'")
        second, took, holder2 = start_scheduler()
        refused = second.poll() is not None
        time.sleep(3)
        caught_up = job_runs(conn, "expire_points") > runs
        next_runs = dict(conn.execute(
            "SELECT id, to_char(to_timestamp(next_run_time) AT TIME ZONE 'Asia/Shanghai', "
            "'YYYY-MM-DD HH24:MI') FROM apscheduler_jobs WHERE id IN "
            "('expire_points', 'expire_redemptions')").fetchall())
        second.send_signal(signal.SIGINT)
        try:
            second.wait(15)
        except subprocess.TimeoutExpired:
            second.kill()
        print(f"  flask scheduler: first held the guard (backend {holder}), SIGKILLed; the "
              f"restart {'was REFUSED: ' + second.stdout.read()[-300:] if refused else ''}"
              f"held the guard after {took:.1f} s (backend {holder2})", flush=True)
        print(f"  expire_points, whose last scheduled run had not finished, was "
              f"{'run' if caught_up else 'NOT run'} by the restarted scheduler at start; next "
              f"runs now (Asia/Shanghai) {next_runs}", flush=True)
        if not caught_up:
            failures.append("the restarted scheduler did not catch up the unfinished daily run")
        if refused or holder2 is None:
            failures.append("the restarted scheduler did not get past the single-instance guard")
        conn.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        drop_db(args.server, name)
    for f in failures:
        print(f"  failure: {f}")
    return not failures, (f"scheduler-kill: {redemptions_line}; {points_line}; due lots not "
                          f"expired exactly once {len(wrong)}, other lots touched "
                          f"{len(touched)}; ledger verify {'clean' if clean2 else 'FAILED'}; "
                          f"restarted `flask scheduler` "
                          f"{'refused' if refused or holder2 is None else 'started'} "
                          f"{took:.1f} s after the kill"
                          + "".join(f"; {f}" for f in failures))


# -- main -------------------------------------------------------------------------------

SCENARIOS = {"worker-kill": worker_kill, "pg-restart": pg_restart,
             "scheduler-kill": scheduler_kill}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help=f"any of {', '.join(SCENARIOS)} (default: all three, in order)")
    parser.add_argument("--server", default=SHARED,
                        help="PostgreSQL server for the scratch databases of 1 and 3")
    parser.add_argument("--users", type=int, default=200, help="citizens (1 and 2)")
    parser.add_argument("--clients", type=int, default=16, help="client threads (1)")
    parser.add_argument("--seconds", type=float, default=15, help="load run length (1)")
    parser.add_argument("--steady", type=float, default=4, help="load before the stop (2)")
    parser.add_argument("--after", type=float, default=8,
                        help="load after each start (2)")
    parser.add_argument("--job-users", type=int, default=2000, help="citizens with due lots (3)")
    parser.add_argument("--redemptions", type=int, default=600, help="due reservations (3)")
    args = parser.parse_args()
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenario(s) {sorted(unknown)}: choose from {list(SCENARIOS)}")
    chosen = args.scenarios or list(SCENARIOS)

    began = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="faults_"))
    verdicts = []
    try:
        for name in chosen:
            print(f"\n== {name}", flush=True)
            t0 = time.monotonic()
            try:
                ok, line = SCENARIOS[name](args, scratch)
            except Exception as err:  # noqa: BLE001 - report it as this scenario's failure
                ok, line = False, f"{name}: crashed: {type(err).__name__}: {err}"
            verdicts.append((ok, f"{'PASS' if ok else 'FAIL'} {line} "
                                 f"[{time.monotonic() - t0:.0f} s]"))
            print(verdicts[-1][1], flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("\nsummary")
    for _, line in verdicts:
        print(line)
    print(f"command: {' '.join([os.path.relpath(sys.executable, ROOT), *sys.argv])}    "
          f"(total {time.monotonic() - began:.0f} s)")
    sys.exit(0 if all(ok for ok, _ in verdicts) else 1)


if __name__ == "__main__":
    main()
