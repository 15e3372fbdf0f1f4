"""Real HTTP servers for the app under test on a free loopback port: `serving`, werkzeug in
a thread (one process, the test's own app); `live_server`, gunicorn with the project's
gunicorn.conf.py (several worker processes, gunicorn's own logging)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    return free_port()


@dataclass
class LiveServer:
    base: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def live_server(env: dict[str, str], folder: Path, *, workers: int = 2) -> Iterator[LiveServer]:
    """gunicorn with the project's gunicorn.conf.py; stdout and stderr go to one file."""
    port = free_port()
    log = folder / f"gunicorn_{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    full_env.update({"WEB_CONCURRENCY": str(workers),
                     "LIMIT_KEY_SECRET": "live-test-limit-key-" + "k" * 20, **env})
    with log.open("wb") as out:
        proc = subprocess.Popen([GUNICORN, "-c", "gunicorn.conf.py", "--bind",
                                 f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=full_env,
                                stdout=out, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(server, proc, workers)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(server: LiveServer, proc: subprocess.Popen, workers: int,
                timeout: float = 30) -> None:
    """Every worker booted (gunicorn logs each) and one of them answering."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited {proc.returncode}:\n{server.log_text()[-2000:]}")
        if server.log_text().count("Booting worker") < workers:
            time.sleep(0.2)
            continue
        try:
            with urllib.request.urlopen(server.base + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout} s:\n"
                       f"{server.log_text()[-2000:]}")


def call(server: LiveServer, method: str, path: str, body: dict | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], dict | None]:
    """One request on a new connection: status, headers and the JSON body (or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, got, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        status, got, raw = err.code, dict(err.headers), err.read()
    return status, got, (json.loads(raw) if raw else None)


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (a port the OS picks) until the block ends; yields the base
    URL. Requests go through a real socket and request line, as a partner's would."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
