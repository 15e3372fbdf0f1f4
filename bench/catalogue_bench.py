"""What the citizen catalogue read costs: GET /api/v1/rewards (first page, default page size)
in-process on a scratch PostgreSQL database, next to GET /api/v1/account in the same run.

    .venv/bin/python bench/catalogue_bench.py                  # about a minute
    .venv/bin/python bench/catalogue_bench.py --profile 30     # and where the time goes
    .venv/bin/python bench/catalogue_bench.py --against DIR    # this code against DIR's
    .venv/bin/python bench/catalogue_bench.py --instructions [--against DIR]   # callgrind

Seeds like bench/http_bench.py (one merchant with 20 approved rewards, citizens with points
and access tokens; --citizens, default 50), then sends both reads through Flask's test
client as a random citizen with the citizen's token, as http_bench sends them: no HTTP
server, so the figures are the app's own. The two kinds alternate in --rounds rounds of
--requests each (after --warm-up requests of each), so a busy machine slows both alike.
Per request it prints this process's CPU and wall time, the SQL statements issued (an event
listener on the engine) and the CPU of the database backends serving them. Then it reads
each filter and sort of the catalogue once and prints its statements, the answer's size
and (--digest) a SHA-256 of the answer: the same on the same data means the same answer.

--against DIR compares with the code of another checkout (`git worktree add DIR REV`): each
round runs one process per checkout, in alternating order, on the same seeded database, and
prints each round's CPU ratio (this code / DIR's) next to the medians, then both checkouts'
digests. The machine is shared and noisy; the ratio within a round is what to read.

--instructions counts instructions instead of time (valgrind's callgrind, so the machine's
load does not matter): for each kind (and each checkout), two processes under callgrind
that differ only in --requests; the difference of their totals, divided by the difference
of the requests, is the instructions one request costs. PYTHONHASHSEED is fixed.

--db NAME reuses a database seeded and kept by --keep-db NAME (tokens in the temp folder).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import http_bench  # noqa: E402
from bench.common import backends, create_db, db_url, drop_db, process_cpu  # noqa: E402

KINDS = {"catalogue": "/api/v1/rewards", "account": "/api/v1/account"}
VARIANTS = ("", "?sort=price_asc", "?sort=price_desc", "?category=other",
            "?affordable=true", "?affordable=false&sort=price_asc", "?per_page=5&page=2",
            "?per_page=100", "?merchant_id={merchant}")
CALLGRIND_REQUESTS = (20, 120)  # the two runs whose difference is counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--citizens", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000, help="per kind and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warm-up", type=int,
                        help="requests of each kind before timing (prepared statements, "
                             "caches); default 200, 20 with --instructions")
    parser.add_argument("--only", choices=tuple(KINDS), help="time one kind only")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="one more catalogue round under cProfile; print the top N")
    parser.add_argument("--digest", action="store_true",
                        help="print a SHA-256 of each variant's answer")
    parser.add_argument("--against", metavar="DIR", help="compare with the code in DIR")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per request under callgrind")
    parser.add_argument("--keep-db", metavar="NAME", help="seed into NAME and keep it")
    parser.add_argument("--db", metavar="NAME", help="reuse a database kept by --keep-db")
    parser.add_argument("--code", metavar="DIR", help=argparse.SUPPRESS)  # the app to import
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # for a parent
    args = parser.parse_args()
    if args.warm_up is None:
        args.warm_up = 20 if args.instructions else 200
    if args.code:
        sys.path.insert(0, args.code)
    name = args.db or args.keep_db or f"catalogue_bench_{uuid.uuid4().hex[:8]}"
    url = db_url(args.server, name)
    token_file = Path(tempfile.gettempdir()) / f"{name}.tokens"
    if not args.db:
        create_db(args.server, name)
    try:
        if not args.db:
            http_bench.seed(url, args.citizens, token_file)
        if args.instructions:
            count_instructions(args, name)
        elif args.against:
            compare(args, name)
        else:
            run(args, url, token_file.read_text().split())
    finally:
        if not (args.db or args.keep_db):
            token_file.unlink(missing_ok=True)
            drop_db(args.server, name)


# -- in-process: one checkout's code ----------------------------------------------------

def run(args: argparse.Namespace, url: str, tokens: list[str]) -> None:
    from sqlalchemy import event, text

    from app import create_app
    from app.extensions import db

    app = create_app(http_bench.app_env(url), instance_path=str(ROOT / "instance" / "bench"))
    statements: list[str] = []
    with app.app_context():
        engine = db.engine
        merchant = db.session.scalar(text("SELECT min(id) FROM merchants"))
        db.session.remove()

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    client = app.test_client()
    rng = random.Random(2026)
    headers = [{"Authorization": f"Bearer {t}"} for t in tokens]

    def send(path: str, n: int) -> None:
        for _ in range(n):
            resp = client.get(path, headers=rng.choice(headers))
            assert resp.status_code == 200, resp.get_data(as_text=True)

    kinds = [args.only] if args.only else list(KINDS)
    for kind in kinds:
        send(KINDS[kind], args.warm_up)
    pids = backends(url)  # the pool's connections, opened by the warm-up

    results: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in kinds}
    for _ in range(args.rounds):
        for kind in kinds:
            statements.clear()
            server = sum(map(process_cpu, pids))
            cpu, wall = time.process_time(), time.perf_counter()
            send(KINDS[kind], args.requests)
            n = args.requests
            results[kind].append(((time.process_time() - cpu) / n * 1000,
                                  (time.perf_counter() - wall) / n * 1000,
                                  len(statements) / n,
                                  (sum(map(process_cpu, pids)) - server) / n * 1000))

    digests = {}
    for variant in VARIANTS:
        path = KINDS["catalogue"] + variant.format(merchant=merchant)
        statements.clear()
        resp = client.get(path, headers=headers[0])
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_data()
        digests[path] = (len(statements), len(body), hashlib.sha256(body).hexdigest()[:16])
    if args.json:  # for compare(): one line a parent reads
        print(json.dumps({"results": results, "digests": digests}))
        return

    print(f"in-process, PostgreSQL, {len(tokens)} citizens, {args.rounds} rounds × "
          f"{args.requests} requests of each kind (alternating); ms per request, "
          "median [min–max] over the rounds")
    print_results(results)
    if len(kinds) == 2:
        ratios = [c[0] / a[0] for c, a in zip(results["catalogue"], results["account"],
                                              strict=True)]
        print("  catalogue / account CPU, per round: " + ", ".join(f"{r:.2f}" for r in ratios))
    print("each variant read once: statements, answer size"
          + (", SHA-256 of the answer" if args.digest else ""))
    for path, (count, size, digest) in digests.items():
        print(f"  {path:<48}{count:>3} statements {size:>7} bytes"
              + (f"  {digest}" if args.digest else ""))

    if args.profile:
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        send(KINDS["catalogue"], args.requests)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(args.profile)
        stats.sort_stats("tottime").print_stats(args.profile)
        print(out.getvalue())
    with app.app_context():
        db.engine.dispose()


def print_results(results: dict[str, list[tuple]], indent: str = "  ") -> None:
    print(f"{indent}{'kind':<10}{'CPU':>22}{'wall':>22}{'statements':>12}{'backend CPU':>13}")
    for kind, rows in results.items():
        cpu, wall, stmts, server = zip(*rows, strict=True)
        print(f"{indent}{kind:<10}{_spread(cpu):>22}{_spread(wall):>22}"
              f"{statistics.median(stmts):>12.2f}{statistics.median(server):>13.3f}")


def _spread(values: tuple[float, ...]) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}–{max(values):.3f}]"


# -- two checkouts, or instruction counts: child processes -------------------------------

def child(args: argparse.Namespace, name: str, code: Path, *extra: str) -> list[str]:
    """The command of this script on the seeded database, importing the app from `code`."""
    return [sys.executable, str(Path(__file__).resolve()), "--server", args.server,
            "--db", name, "--code", str(code), "--warm-up", str(args.warm_up), *extra]


def compare(args: argparse.Namespace, name: str) -> None:
    codes = {"this": ROOT, "against": Path(args.against).resolve()}
    results: dict[str, dict[str, list]] = {c: {k: [] for k in KINDS} for c in codes}
    digests: dict[str, dict] = {}
    for r in range(args.rounds):
        order = list(codes) if r % 2 == 0 else list(reversed(codes))
        for label in order:
            out = subprocess.run(child(args, name, codes[label], "--rounds", "1", "--requests",
                                       str(args.requests), "--json"),
                                 capture_output=True, text=True, check=True).stdout
            data = json.loads(out.strip().splitlines()[-1])
            for kind, rows in data["results"].items():
                results[label][kind] += rows
            digests[label] = data["digests"]
    print(f"in-process, PostgreSQL, {args.rounds} rounds × {args.requests} requests of each "
          "kind, one process per checkout and round, alternating; ms per request")
    for label, code in codes.items():
        print(f"  {label}: {code}")
        print_results(results[label], "    ")
    for kind in KINDS:
        ratios = [a[0] / b[0] for a, b in zip(results["this"][kind], results["against"][kind],
                                              strict=True)]
        print(f"  {kind} CPU, this / against, per round: "
              + ", ".join(f"{x:.2f}" for x in ratios)
              + f" (median {statistics.median(ratios):.2f})")
    same = all(digests["this"][p][1:] == digests["against"][p][1:] for p in digests["this"])
    print(f"answers of every variant {'identical' if same else 'DIFFERENT'} "
          "(size and SHA-256); statements per variant, this / against:")
    for path, (count, _, _) in digests["this"].items():
        print(f"  {path:<48}{count:>3} / {digests['against'][path][0]}")


def count_instructions(args: argparse.Namespace, name: str) -> None:
    codes = {"this": ROOT}
    if args.against:
        codes["against"] = Path(args.against).resolve()
    low, high = CALLGRIND_REQUESTS
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    per_request: dict[str, dict[str, float]] = {c: {} for c in codes}
    for label, code in codes.items():
        for kind in KINDS:
            runs = [subprocess.Popen(  # the two at once: instruction counts do not mind
                ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                 *child(args, name, code, "--only", kind, "--rounds", "1", "--requests",
                        str(n))], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                text=True, env=env) for n in (low, high)]
            totals = []
            for proc in runs:
                err = proc.communicate()[1]
                if proc.returncode:
                    raise SystemExit(f"a callgrind run failed:\n{err[-2000:]}")
                totals.append(int(re.search(r"Collected : (\d+)", err).group(1)))
            per_request[label][kind] = (totals[1] - totals[0]) / (high - low)
    print(f"instructions per request (callgrind; difference of {high} and {low} requests "
          "after the same warm-up, one process each):")
    for label, code in codes.items():
        counts = per_request[label]
        print(f"  {label} ({code}): catalogue {counts['catalogue'] / 1e6:.2f} M, account "
              f"{counts['account'] / 1e6:.2f} M, catalogue / account "
              f"{counts['catalogue'] / counts['account']:.2f}")
    if args.against:
        for kind in KINDS:
            print(f"  {kind}: this / against "
                  f"{per_request['this'][kind] / per_request['against'][kind]:.3f}")


if __name__ == "__main__":
    main()
