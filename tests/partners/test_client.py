"""examples/partner_client.py, run as a partner would, against a live server."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.live_server import serving

CLIENT = Path(__file__).resolve().parents[2] / "examples" / "partner_client.py"


def test_the_client_uses_the_standard_library_only():
    imported = set()
    for node in ast.walk(ast.parse(CLIENT.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


@pytest.fixture
def run_client(app, partner):
    with serving(app) as base_url:
        def run(*args: str, secret: str | None = None, stdin: str | None = None):
            env = {**os.environ, "PARTNER_SECRET": secret or partner.creds.secret}
            done = subprocess.run(
                [sys.executable, str(CLIENT), "--base-url", base_url,
                 "--key-id", partner.creds.key_id, *args],
                input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False)
            return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None

        yield run


def _trip(external_id: str) -> dict:
    occurred = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds")
    return {"external_id": external_id, "user_ref": "card-42", "methodology": "green_travel",
            "occurred_at": occurred, "data": {"mode": "metro", "distance_km": "10"}}


def test_client_links_a_citizen_and_credits_a_batch(api, approved, run_client, tmp_path):
    citizen = api.caller()
    code = api.post("/api/v1/me/partner-links/codes", citizen).get_json()["code"]
    rc, link = run_client("bind", code, "card-42")
    assert rc == 0 and link["status"] == "active", link
    mine = api.get("/api/v1/me/partner-links", citizen).get_json()["items"]
    assert [item["id"] for item in mine] == [link["id"]]
    rc, status = run_client("status", "card-42")
    assert rc == 0 and status["id"] == link["id"] and status["status"] == "active"

    records = tmp_path / "records.json"
    records.write_text(json.dumps({"records": [_trip("trip-1")]}), encoding="utf-8")
    rc, first = run_client("batch", str(records))
    assert rc == 0, first
    outcome = first["results"][0]
    assert outcome["status"] == "credited" and outcome["points"] > 0, outcome
    account = api.get("/api/v1/account", citizen).get_json()
    assert account["available"] == outcome["points"]

    # A resend (here from stdin) answers the first outcome and credits nothing more.
    rc, again = run_client("batch", "-", stdin=records.read_text(encoding="utf-8"))
    assert rc == 0 and again["results"][0]["behaviour_id"] == outcome["behaviour_id"]
    assert api.get("/api/v1/account", citizen).get_json()["available"] == outcome["points"]


def test_client_reports_a_refusal(run_client):
    rc, answer = run_client("status", "card-42", secret="ps_not-the-secret")
    assert rc == 1 and answer["type"] == "/problems/partner-auth-invalid"
    rc, answer = run_client("status", "rider/7 b")  # escaped in the path, signed escaped
    assert rc == 1 and answer["type"] == "/problems/not-found"
