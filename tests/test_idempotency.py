"""The shared Idempotency-Key mechanism, exercised through a test-only endpoint."""

from __future__ import annotations

import threading

import pytest
from flask import jsonify, request

from app.audit import service as audit
from app.auth.guard import current_user, login_required
from app.http.idempotency import idempotent
from app.http.problems import ApiError
from tests.conftest import run_sql
from tests.helpers import assert_problem

entered = threading.Event()
release = threading.Event()


@pytest.fixture
def app(app):
    @app.post("/test/notes")
    @login_required()
    @idempotent()
    def create_note():
        body = request.get_json()
        if body.get("fail"):
            audit.record(current_user().id, "note.failed", "note", 0)
            raise ApiError(409, "refused on purpose", slug="refused")
        if body.get("slow"):
            entered.set()
            release.wait(10)
        event = audit.record(current_user().id, "note.created", "note", body["n"])
        from app.extensions import db

        db.session.flush()
        return jsonify(id=event.id, n=body["n"]), 201

    @app.post("/test/optional")
    @login_required()
    @idempotent(required=False)
    def optional():
        audit.record(current_user().id, "note.optional", "note", 0)
        return jsonify(ok=True), 200

    entered.clear()
    release.clear()
    return app


def notes(app) -> int:
    return run_sql(app, "SELECT count(*) FROM audit_events WHERE action = 'note.created'")[0][0]


def test_missing_key_is_400_and_nothing_written(api, app):
    me = api.caller()
    assert_problem(api.post("/test/notes", me, json={"n": 1}), 400, "idempotency-key-missing")
    assert notes(app) == 0
    assert api.post("/test/optional", me, json={}).status_code == 200


def test_bad_key_is_400(api):
    me = api.caller()
    resp = api.post("/test/notes", me, json={"n": 1}, headers={"Idempotency-Key": "x" * 300})
    assert_problem(resp, 400, "idempotency-key-invalid")


def test_same_key_same_body_replays_original(api, app):
    me = api.caller()
    first = api.post("/test/notes", me, json={"n": 1}, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 201
    # Same JSON with other key order and spacing is the same request.
    again = api.post("/test/notes", me, data='{ "n" : 1 }', content_type="application/json",
                     headers={"Idempotency-Key": "k1"})
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert notes(app) == 1


def test_same_key_other_body_is_422(api, app):
    me = api.caller()
    api.post("/test/notes", me, json={"n": 1}, headers={"Idempotency-Key": "k1"})
    resp = api.post("/test/notes", me, json={"n": 2}, headers={"Idempotency-Key": "k1"})
    assert_problem(resp, 422, "idempotency-key-reused")
    assert notes(app) == 1


def test_keys_are_scoped_per_user(api, app):
    alice, bob = api.caller(), api.caller()
    a = api.post("/test/notes", alice, json={"n": 1}, headers={"Idempotency-Key": "same"})
    b = api.post("/test/notes", bob, json={"n": 1}, headers={"Idempotency-Key": "same"})
    assert a.status_code == b.status_code == 201
    assert a.get_json()["id"] != b.get_json()["id"]
    assert notes(app) == 2


def test_failed_request_keeps_no_claim_and_can_be_retried(api, app):
    me = api.caller()
    resp = api.post("/test/notes", me, json={"fail": True}, headers={"Idempotency-Key": "k"})
    assert_problem(resp, 409, "refused")
    assert run_sql(app, "SELECT count(*) FROM idempotency_keys")[0][0] == 0
    assert run_sql(app, "SELECT count(*) FROM audit_events")[0][0] == 0  # rolled back whole
    ok = api.post("/test/notes", me, json={"n": 5}, headers={"Idempotency-Key": "k2"})
    assert ok.status_code == 201


def test_same_key_while_first_is_running_is_409(api, app):
    me = api.caller()
    results = {}

    def first():
        client = app.test_client()
        results["first"] = client.post("/test/notes", json={"n": 1, "slow": True},
                                       headers={**me.headers, "Idempotency-Key": "busy"})

    t = threading.Thread(target=first)
    t.start()
    assert entered.wait(10)
    try:
        second = app.test_client().post("/test/notes", json={"n": 1, "slow": True},
                                        headers={**me.headers, "Idempotency-Key": "busy"})
        assert_problem(second, 409, "idempotency-key-in-use")
    finally:
        release.set()
        t.join(15)
    assert results["first"].status_code == 201
    third = api.post("/test/notes", me, json={"n": 1, "slow": True},
                     headers={"Idempotency-Key": "busy"})
    assert third.status_code == 201 and third.headers["Idempotent-Replayed"] == "true"
    assert notes(app) == 1


def test_many_parallel_retries_make_one_note(api, app):
    me = api.caller()
    statuses = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def send():
        client = app.test_client()
        barrier.wait()
        resp = client.post("/test/notes", json={"n": 7},
                           headers={**me.headers, "Idempotency-Key": "storm"})
        with lock:
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=send) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert notes(app) == 1
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
