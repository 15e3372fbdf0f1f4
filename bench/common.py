"""Helpers shared by the benchmark scripts: scratch databases, gunicorn, JSON calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
PASSWORD = "Bench-password-1"


# -- scratch databases ------------------------------------------------------------------

def admin_url(server: str) -> str:
    return make_url(server).set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)


def db_url(server: str, name: str) -> str:
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same database as a plain libpq URL (for psycopg and pgbench)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_db(server: str, name: str) -> None:
    with psycopg.connect(admin_url(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_db(server: str, name: str) -> None:
    with psycopg.connect(admin_url(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- CPU accounting ---------------------------------------------------------------------

HZ = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds a process has used (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / HZ


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / HZ, sum(fields) / HZ


def children(pid: int) -> list[int]:
    """A process's children (gunicorn's workers)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def backends(url: str) -> list[int]:
    """The PostgreSQL backends connected to `url`'s database, but not this query's."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()")]


# -- gunicorn ---------------------------------------------------------------------------

def env_for(url: str) -> dict[str, str]:
    """The environment of the app under gunicorn (and of the seeding app: same JWT key)."""
    # The benches spread each citizen's trips back over weeks, so that the daily caps
    # never bind: the claim window is opened to match.
    return {**os.environ, "DATABASE_URL": url, "JWT_SECRET_KEY": "bench-" + "k" * 40,
            "LOG_LEVEL": "WARNING", "DB_POOL_SIZE": "2", "CLAIM_WINDOW_DAYS": "3650"}


def serve(target: str, env: dict, port: int, workers: int,
          log: IO | None = None) -> subprocess.Popen:
    """gunicorn with the project's gunicorn.conf.py; returns once it answers HTTP.

    `log`: a file for gunicorn's stderr (its own log and the app's JSON log); default none.
    """
    proc = subprocess.Popen([GUNICORN, "-c", str(ROOT / "gunicorn.conf.py"), "--workers",
                             str(workers), "--bind", f"127.0.0.1:{port}", target],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=log if log is not None else subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz" if "wsgi" in target
                                   else f"http://127.0.0.1:{port}/nothing", timeout=1)
            return proc
        except urllib.error.HTTPError:
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{target} did not start")


def bare_env(server: str, name: str) -> dict[str, str]:
    """The environment of bench/bare_app.py on the scratch database `name`."""
    return {**os.environ, "BARE_DATABASE_URL": make_url(db_url(server, name))
            .set(drivername="postgresql+psycopg").render_as_string(hide_password=False)}


def serve_bare(server: str, name: str, port: int, workers: int,
               log: IO | None = None, settings: dict[str, str] | None = None) -> subprocess.Popen:
    """bench/bare_app.py under the same gunicorn settings, its schema created first.

    `settings`: environment the app's server got on top of env_for (GUNICORN_*), so that
    both servers run alike."""
    env = {**bare_env(server, name), **(settings or {})}
    subprocess.run([sys.executable, "-c", "from bench.bare_app import create_schema; "
                    "create_schema()"], cwd=ROOT, env=env, check=True)
    return serve("bench.bare_app:app", env, port, workers, log)


def call(method: str, url: str, body: dict | None = None, headers: dict | None = None,
         raw: bytes | None = None) -> dict:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read() or b"{}")
