"""Real parallel clients (threads, each with its own connection) against one user.

Runs on both databases; PostgreSQL is where it matters (row locks, READ COMMITTED).
"""

from __future__ import annotations

import threading
from collections import Counter

from flask import Flask
from sqlalchemy import func, select

from app import ledger
from app.extensions import db
from app.http.problems import ApiError
from app.ledger.models import LedgerTransaction
from app.ledger.verify import verify
from app.uow import unit_of_work
from app.users import service as users
from tests.helpers import PASSWORD

CLIENTS = 20


def parallel(app: Flask, n: int, work) -> list:
    """Run work(i) in n threads released together; each gets its own app context."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                with unit_of_work():
                    results[i] = work(i)
            except Exception as exc:  # noqa: BLE001 - recorded for the assertions
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def make_user(app: Flask, points: int) -> int:
    with app.app_context(), unit_of_work():
        user_id = users.register(email=f"busy{points}@example.com", password=PASSWORD).id
    with app.app_context(), unit_of_work():
        ledger.earn(user_id, points, key="seed", cause_type="behaviour")
    return user_id


def test_parallel_spends_never_overdraw_and_use_exactly_the_balance(app):
    user_id = make_user(app, 100)
    results = parallel(app, CLIENTS, lambda i: ledger.hold(
        user_id, 7, key=f"spend-{i}", cause_type="redemption", cause_id=str(i)).amount)
    outcomes = Counter("ok" if r == 7 else getattr(r, "slug", repr(r)) for r in results)
    assert outcomes == {"ok": 14, "insufficient-points": CLIENTS - 14}, outcomes
    with app.app_context():
        s = ledger.summary(user_id)
        assert (s["available"], s["held"], s["posted"]) == (2, 98, 100)
        assert verify() == []


def test_parallel_captures_and_releases_of_one_hold_end_it_once(app):
    user_id = make_user(app, 50)
    with app.app_context(), unit_of_work():
        hold_id = ledger.hold(user_id, 50, key="h", cause_type="redemption").id

    def end(i):
        if i % 2:
            return ledger.release(hold_id, key=f"end-{i}").type
        return ledger.capture(hold_id, merchant_id=9, key=f"end-{i}").type

    results = parallel(app, CLIENTS, end)
    done = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, ApiError)]
    assert len(done) == 1 and len(refused) == CLIENTS - 1
    assert {r.slug for r in refused} == {"hold-ended"}
    with app.app_context():
        assert verify() == []


def test_same_key_from_many_clients_makes_one_transaction(app):
    user_id = make_user(app, 1)
    results = parallel(app, CLIENTS, lambda i: ledger.earn(
        user_id, 25, key="partner-batch-7:rec-1", cause_type="behaviour", cause_id="b1").id)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(LedgerTransaction).where(
            LedgerTransaction.idempotency_key == "partner-batch-7:rec-1"))
        assert count == 1
        assert ledger.summary(user_id)["posted"] == 26
        assert verify() == []


def test_first_use_from_many_clients_creates_one_set_of_accounts(app):
    with app.app_context(), unit_of_work():
        user_id = users.register(email="fresh@example.com", password=PASSWORD).id
    results = parallel(app, CLIENTS, lambda i: ledger.earn(
        user_id, 1, key=f"k{i}", cause_type="behaviour").id)
    assert all(isinstance(r, int) for r in results), results
    with app.app_context():
        assert ledger.summary(user_id)["posted"] == CLIENTS
        assert verify() == []
