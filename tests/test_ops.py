from __future__ import annotations

import json
import logging

from app import create_app
from app.extensions import db


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}


def test_readyz_when_migrated(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "ready"


def test_readyz_is_503_problem_when_not_migrated(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}",
                      "JWT_SECRET_KEY": "k" * 40}, instance_path=str(tmp_path / "i"))
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    assert "flask db upgrade" in resp.get_json()["detail"]
    with app.app_context():
        db.engine.dispose()


def test_readyz_is_503_when_database_unreachable(tmp_path):
    app = create_app({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                      "JWT_SECRET_KEY": "k" * 40}, instance_path=str(tmp_path / "i"))
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["detail"] == "The database is unreachable."


def test_request_id_is_echoed_or_generated(client):
    resp = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["X-Request-ID"] != "bad id with spaces"
    assert len(generated.headers["X-Request-ID"]) == 32


def test_access_log_is_json_with_request_id(client, capsys):
    from app.logs import JsonFormatter

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(JsonFormatter().format(record))

    handler = Keep()
    logging.getLogger("app.access").addHandler(handler)
    try:
        client.get("/healthz", headers={"X-Request-ID": "trace-1"})
    finally:
        logging.getLogger("app.access").removeHandler(handler)
    entry = json.loads(records[-1])
    assert entry["request_id"] == "trace-1"
    assert entry["status"] == 200 and entry["path"] == "/healthz"
