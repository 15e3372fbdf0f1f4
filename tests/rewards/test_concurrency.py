"""Real parallel clients (threads, each with its own app context, test client and database
connection) against the HTTP API. Runs on both databases; PostgreSQL is where it matters.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

from flask import Flask

from app.extensions import db
from app.ledger.verify import verify
from tests.conftest import run_sql
from tests.helpers import Caller
from tests.rewards.conftest import give, make_caller


def parallel(app: Flask, requests: list) -> list:
    """Send requests[i](client) from len(requests) threads released together."""
    barrier = threading.Barrier(len(requests))
    results: list = [None] * len(requests)

    def run(i: int) -> None:
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            try:
                results[i] = requests[i](client)
            except Exception as exc:  # noqa: BLE001 - recorded for the assertions
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    return results


def redeem_request(caller: Caller, reward_id: int, key: str | None = None):
    def send(client):
        return client.post(f"/api/v1/rewards/{reward_id}/redemptions",
                           headers={**caller.headers, "Idempotency-Key": key or uuid.uuid4().hex})
    return send


def outcome(resp) -> str:
    if isinstance(resp, Exception):
        return repr(resp)
    if resp.status_code == 201:
        return "ok"
    return resp.get_json()["type"].rsplit("/", 1)[-1]


def negative_balances(app) -> list:
    return run_sql(app, "SELECT code, balance FROM ledger_accounts WHERE balance < 0 "
                        "AND kind IN ('user_available', 'user_held')")


def test_64_clients_redeeming_stock_50_get_exactly_50(world, app):
    reward_id = world.reward(total_stock=50, points_price=100)
    citizens = [make_caller(app) for _ in range(64)]
    for c in citizens:
        give(app, c.id, 100)
    results = parallel(app, [redeem_request(c, reward_id) for c in citizens])
    outcomes = Counter(outcome(r) for r in results)
    assert outcomes == {"ok": 50, "out-of-stock": 14}, outcomes
    assert world.stock_left(reward_id) == 0
    assert run_sql(app, "SELECT count(*) FROM redemptions WHERE status = 'reserved'") == [(50,)]
    assert run_sql(app, "SELECT count(*) FROM ledger_holds WHERE status = 'open'") == [(50,)]
    assert negative_balances(app) == []
    held = sorted(world.balance(c.id)["held"] for c in citizens)
    assert held == [0] * 14 + [100] * 50
    with app.app_context():
        assert verify() == []


def test_one_user_with_points_for_3_sending_10_at_once_gets_exactly_3(world, app):
    reward_id = world.reward(total_stock=100, points_price=100)
    me = world.citizen(300)
    results = parallel(app, [redeem_request(me, reward_id) for _ in range(10)])
    outcomes = Counter(outcome(r) for r in results)
    assert outcomes == {"ok": 3, "insufficient-points": 7}, outcomes
    assert world.balance(me.id) == {"available": 0, "held": 300, "posted": 300}
    assert world.stock_left(reward_id) == 97
    assert run_sql(app, "SELECT count(*) FROM redemptions") == [(3,)]
    assert negative_balances(app) == []
    with app.app_context():
        assert verify() == []


def test_one_request_retried_in_parallel_makes_one_redemption(world, app):
    reward_id = world.reward(total_stock=100)
    me = world.citizen(1000)
    results = parallel(app, [redeem_request(me, reward_id, key="same") for _ in range(12)])
    statuses = Counter(r.status_code for r in results)
    assert set(statuses) <= {201, 409} and statuses[201] >= 1
    assert run_sql(app, "SELECT count(*) FROM redemptions") == [(1,)]
    assert world.stock_left(reward_id) == 99 and world.balance(me.id)["held"] == 100


def test_parallel_verifications_of_one_code_fulfil_it_once(world, app):
    reward_id = world.reward()
    me = world.citizen(100)
    code = world.redeem(me, reward_id).get_json()["code"]
    staff = [world.staff] + [make_caller(app) for _ in range(7)]
    for s in staff[1:]:
        world.api.put(f"/api/v1/admin/merchants/{world.merchant_id}/staff/{s.id}", world.admin)

    def verify_as(caller):
        return lambda client: client.post("/api/v1/merchant/redemptions/verify",
                                          json={"code": code}, headers=caller.headers)

    results = parallel(app, [verify_as(s) for s in staff])
    outcomes = Counter("ok" if r.status_code == 200 else outcome(r) for r in results)
    assert outcomes["ok"] == 1 and set(outcomes) <= {"ok", "already-used", "conflict"}, outcomes
    assert run_sql(app, "SELECT count(*) FROM ledger_transactions WHERE type = 'capture'") == [
        (1,)]
    assert world.settled() == 100
    with app.app_context():
        assert verify() == []


def test_cancel_racing_verification_ends_the_redemption_once(world, app):
    reward_id = world.reward()
    pairs = []
    for _ in range(6):
        me = world.citizen(100)
        body = world.redeem(me, reward_id).get_json()
        pairs.append((me, body))
    requests = []
    for me, body in pairs:
        requests.append(lambda client, b=body: client.post(
            "/api/v1/merchant/redemptions/verify", json={"code": b["code"]},
            headers=world.staff.headers))
        requests.append(lambda client, m=me, b=body: client.post(
            f"/api/v1/redemptions/{b['id']}/cancel", headers=m.headers))
    results = parallel(app, requests)
    for i in range(0, len(results), 2):
        verified, cancelled = results[i].status_code, results[i + 1].status_code
        assert sorted((verified, cancelled))[0] == 200 and 409 in (verified, cancelled), (
            results[i].get_json(), results[i + 1].get_json())
    fulfilled = run_sql(app, "SELECT count(*) FROM redemptions WHERE status = 'fulfilled'")[0][0]
    assert world.settled() == 100 * fulfilled
    assert world.stock_left(reward_id) == 10 - fulfilled
    with app.app_context():
        assert verify() == []


def test_an_edit_racing_the_approval_of_its_pending_change_neither_deadlocks(world, app,
                                                                             monkeypatch):
    """The edit locks the reward and then supersedes the pending revision; the approval
    must not claim that revision and then wait for the reward (PostgreSQL found the cycle
    and one of the two failed with a 503)."""
    import time

    from app.rewards import management
    from app.rewards.models import Reward

    reward_id = world.reward()
    path = f"/api/v1/merchant/rewards/{reward_id}"
    assert world.api.patch(path, world.staff, json={"points_price": 80}).status_code == 200
    [revision] = world.api.get("/api/v1/admin/rewards/revisions",
                               world.admin).get_json()["items"]
    claimed = threading.Event()
    real_claim, real_propose = management._claim_revision, management._propose

    def claim(*args, **kwargs):
        done = real_claim(*args, **kwargs)
        claimed.set()
        return done

    def propose(*args, **kwargs):
        # The edit holds the reward now: let the approval run up to it (if it can).
        claimed.wait(3)
        time.sleep(0.3)
        return real_propose(*args, **kwargs)

    monkeypatch.setattr(management, "_claim_revision", claim)
    monkeypatch.setattr(management, "_propose", propose)

    def edit_first(client):
        return client.patch(path, json={"points_price": 70}, headers=world.staff.headers)

    def approve_second(client):
        time.sleep(0.3)  # the edit takes the reward's lock first
        return client.post(f"/api/v1/admin/rewards/revisions/{revision['id']}/approve",
                           headers=world.admin.headers)

    edited, approved = parallel(app, [edit_first, approve_second])
    assert edited.status_code == 200, edited.get_json()
    assert approved.status_code in (200, 409), approved.get_json()
    if approved.status_code == 409:
        assert approved.get_json()["type"] == "/problems/revision-decided"
    with app.app_context():
        listed = db.session.get(Reward, reward_id)
        pending = listed.pending
        assert (listed.points_price, pending and pending.changes) in (
            (100, {"points_price": 70}), (80, {"points_price": 70}))
