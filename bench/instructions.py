"""Instructions per request, counted by callgrind, next to the bare endpoint of the same run.

    .venv/bin/python bench/instructions.py [--requests 200] [--kinds behaviour,redemption]

Wall-clock on this shared two-core machine moves with whatever else runs; an instruction
count does not (the same binary, inputs and environment give the same total). So each kind of
request is sent in-process through Flask's test client, like bench/statements.py, by a child
process running under `valgrind --tool=callgrind`, and only the timed requests are counted:

- the child starts with instrumentation off (`--instr-atstart=no`: the interpreter's start,
  the imports and the app's creation run at valgrind's plain speed), sends --warm-up requests
  (prepared statements, caches, the first-request work), switches instrumentation on with
  `callgrind_control -i on`, calls `os.getppid()` (callgrind zeroes its counters on entering
  libc's getppid, `--zero-before`), sends --requests requests and calls `os.getpgrp()`
  (callgrind dumps on entering getpgrp, `--dump-before`): the dump holds those requests alone.
- bare: bench/bare_app.py's transfer (bare Flask and SQLAlchemy: one transaction of three
  statements) through its own test client: the floor every ratio is read against.

The counts are the client side only (this Python process: Flask, SQLAlchemy, psycopg,
marshmallow, the app); the PostgreSQL backend's work is not in them. Seeding is the same as
bench/http_bench.py (citizens with points and tokens, listed rewards) on a scratch database,
dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import PASSWORD, create_db, db_url, drop_db  # noqa: E402

KINDS = ("bare", "account", "behaviour", "redemption", "verify")


def trip(end: int) -> dict:
    from bench.http_bench import iso
    return {"methodology": "green_travel", "occurred_at": iso(end),
            "data": {"mode": "metro", "started_at": iso(end - 1200), "ended_at": iso(end),
                     "start": {"lat": 32.0, "lon": 118.8}, "end": {"lat": 32.05, "lon": 118.8}}}


def _instrumentation_on() -> None:
    """Ask callgrind to instrument from here on; this process keeps running meanwhile, since
    callgrind only reads the command while the client executes."""
    command = subprocess.Popen(["callgrind_control", "-i", "on", str(os.getpid())],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spin = 0
    while command.poll() is None:
        spin += 1
    if command.returncode != 0:
        raise SystemExit("callgrind_control could not switch instrumentation on")


def bench_app(url: str):
    from app import create_app
    from bench import http_bench

    return create_app(http_bench.app_env(url), instance_path=str(ROOT / "instance" / "bench"))


def senders(app, token_file: Path, reward_ids: list[int]) -> dict:
    """Each kind's `send(i)` through the app's test client; the ith request of a kind never
    repeats an earlier one. A verification's `send.prepare(n)` makes the codes it sends."""
    client = app.test_client()
    tokens = token_file.read_text().split()
    base = int(time.time()) - 3600

    def auth(i: int) -> dict:
        return {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}

    def account(i: int) -> None:
        resp = client.get("/api/v1/account", headers=auth(i))
        assert resp.status_code == 200, resp.get_data(as_text=True)

    def behaviour(i: int) -> None:
        # Each citizen's trips two hours apart, so none is a duplicate of another.
        end = base - (i // len(tokens)) * 7200
        resp = client.post("/api/v1/behaviours", json=trip(end),
                           headers={**auth(i), "Idempotency-Key": f"b{i}"})
        assert resp.status_code == 201, resp.get_data(as_text=True)

    codes: list[str] = []

    def redemption(i: int) -> None:
        resp = client.post(f"/api/v1/rewards/{reward_ids[i % len(reward_ids)]}/redemptions",
                           headers={**auth(i), "Idempotency-Key": f"r{i}"})
        assert resp.status_code == 201, resp.get_data(as_text=True)
        codes.append(resp.get_json()["code"])

    staff = client.post("/api/v1/auth/login", json={
        "identifier": "staff@bench.test", "password": PASSWORD}).get_json()["access_token"]

    def verify(i: int) -> None:
        resp = client.post("/api/v1/merchant/redemptions/verify", json={"code": codes[i]},
                           headers={"Authorization": f"Bearer {staff}"})
        assert resp.status_code == 200, resp.get_data(as_text=True)

    def codes_for(count: int) -> None:
        """The codes verify sends, made before anything is counted."""
        while len(codes) < count:
            redemption(10_000_000 + len(codes))

    verify.prepare = codes_for
    return {"account": account, "behaviour": behaviour, "redemption": redemption,
            "verify": verify}


def _bare_sender(url: str):
    os.environ["BARE_DATABASE_URL"] = _psycopg(url)
    from bench import bare_app

    client = bare_app.app.test_client()

    def bare(i: int) -> None:
        resp = client.post("/transfer")
        assert resp.status_code == 201

    return bare


def child(args: argparse.Namespace) -> None:
    """Runs under callgrind: warm up, then count --requests requests of one kind."""
    if args.kind == "bare":
        send = _bare_sender(args.url)
    else:
        rewards = [int(r) for r in args.rewards.split(",")]
        send = senders(bench_app(args.url), Path(args.tokens), rewards)[args.kind]
    n, warm = args.requests, args.warm_up
    if hasattr(send, "prepare"):
        send.prepare(warm + n)
    for i in range(warm):
        send(i)
    _instrumentation_on()
    os.getppid()
    for i in range(warm, warm + n):
        send(i)
    os.getpgrp()


def counted(kind: str, url: str, tokens: Path, rewards: list[int], requests: int,
            warm_up: int) -> float:
    """Instructions per request of `kind`, from a callgrind run of this script's child."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--zero-before=getppid",
             "--dump-before=getpgrp", f"--callgrind-out-file={out}.%p",
             sys.executable, __file__, "--child", kind, "--url", url, "--tokens", str(tokens),
             "--rewards", ",".join(map(str, rewards)), "--requests", str(requests),
             "--warm-up", str(warm_up)],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        totals = []
        for dump in Path(folder).glob("callgrind.out.*"):
            text = dump.read_text(errors="replace")
            match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            trigger = re.search(r"^desc: Trigger: (.*)$", text, re.M)
            if match and trigger and "getpgrp" in trigger.group(1):
                totals.append(int(match.group(1)))
        if len(totals) != 1:
            raise SystemExit(f"{kind}: expected one dump before getpgrp, found {len(totals)}")
        return totals[0] / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--citizens", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warm-up", type=int, default=100)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--child")
    parser.add_argument("--url")
    parser.add_argument("--tokens")
    parser.add_argument("--rewards")
    args = parser.parse_args()
    if args.child:
        args.kind = args.child
        child(args)
        return
    with seeded(args.server, "instructions", args.citizens) as (url, token_file, rewards):
        subprocess.run([sys.executable, "-c", "from bench.bare_app import create_schema; "
                        "create_schema()"], cwd=ROOT, check=True,
                       env={**os.environ, "BARE_DATABASE_URL": _psycopg(url)})
        figures = {}
        for kind in args.kinds.split(","):
            figures[kind] = counted(kind, url, token_file, rewards, args.requests, args.warm_up)
            ratio = figures[kind] / figures["bare"] if "bare" in figures else float("nan")
            print(f"{kind:<11} {figures[kind] / 1e6:6.2f} M instructions a request"
                  f"   ({ratio:.2f}× the bare endpoint)", flush=True)


@contextmanager
def seeded(server: str, prefix: str, citizens: int):
    """A scratch database seeded as bench/http_bench.py does, with its tokens' file:
    (url, token file, listed reward ids); dropped afterwards."""
    from bench import http_bench

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    create_db(server, name)
    url = db_url(server, name)
    token_file = ROOT / "instance" / "bench" / f"{name}.tokens"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield url, token_file, http_bench.seed(url, citizens, token_file)
    finally:
        token_file.unlink(missing_ok=True)
        drop_db(server, name)


def _psycopg(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(
        hide_password=False)


if __name__ == "__main__":
    main()
