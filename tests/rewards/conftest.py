"""Fixtures for rewards: an admin, a merchant with staff, listed rewards, funded citizens."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import ledger
from app.auth import service as auth
from app.auth.passwords import hash_password
from app.extensions import db
from app.ledger.models import Hold, LedgerTransaction
from app.rewards.models import Redemption, Reward
from app.uow import unit_of_work
from app.users import service as users
from tests.helpers import PASSWORD, Api, Caller

_seq = itertools.count(1)
_HASH = hash_password(PASSWORD)


def make_caller(app: Flask, *roles: str) -> Caller:
    """An account and its tokens without the password round trips (argon2 is slow)."""
    email = f"rw{next(_seq)}-{uuid.uuid4().hex[:6]}@example.com"
    with app.app_context(), unit_of_work():
        user = users.register(email=email, password=PASSWORD, roles=roles or ("citizen",))
        user_id = user.id
        tokens = auth.issue_tokens(user)
    return Caller(user_id, email, tokens["access_token"], tokens["refresh_token"])


@pytest.fixture(autouse=True)
def _fast_hash(monkeypatch):
    monkeypatch.setattr(users, "hash_password", lambda _password: _HASH)


def give(app: Flask, user_id: int, points: int) -> None:
    with app.app_context(), unit_of_work():
        ledger.earn(user_id, points, key=f"seed-{uuid.uuid4().hex}", cause_type="behaviour")


def when(days: float = 0, hours: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(days=days, hours=hours)).isoformat()


REWARD = {"title_zh": "环保购物袋", "title_en": "Reusable shopping bag", "category": "shopping",
          "description": "帆布袋一个", "image_url": "https://img.example.com/bag.png",
          "points_price": 100, "total_stock": 10}


@dataclass
class World:
    app: Flask
    api: Api
    admin: Caller
    merchant_id: int
    staff: Caller

    def citizen(self, points: int = 0) -> Caller:
        caller = make_caller(self.app)
        if points:
            give(self.app, caller.id, points)
        return caller

    def merchant(self, name: str | None = None) -> tuple[int, Caller]:
        """Another merchant with one staff account."""
        resp = self.api.post("/api/v1/admin/merchants", self.admin,
                             json={"name": name or f"商户 {uuid.uuid4().hex[:6]}",
                                   "contact": "021-5555 0000"})
        assert resp.status_code == 201, resp.get_json()
        merchant_id = resp.get_json()["id"]
        staff = make_caller(self.app)
        resp = self.api.put(f"/api/v1/admin/merchants/{merchant_id}/staff/{staff.id}", self.admin)
        assert resp.status_code == 200, resp.get_json()
        return merchant_id, staff

    def propose(self, staff: Caller | None = None, **fields: Any) -> dict:
        resp = self.api.post("/api/v1/merchant/rewards", staff or self.staff,
                             json={**REWARD, **fields})
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()

    def approve(self, reward_id: int) -> dict:
        queue = self.api.get("/api/v1/admin/rewards/revisions?per_page=100", self.admin)
        [revision] = [r for r in queue.get_json()["items"] if r["reward_id"] == reward_id]
        resp = self.api.post(f"/api/v1/admin/rewards/revisions/{revision['id']}/approve",
                             self.admin)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def reward(self, staff: Caller | None = None, **fields: Any) -> int:
        """A listed reward (proposed by staff, approved by the admin)."""
        reward_id = self.propose(staff, **fields)["id"]
        self.approve(reward_id)
        return reward_id

    def redeem(self, caller: Caller, reward_id: int, key: str | None = None):
        return self.api.post(f"/api/v1/rewards/{reward_id}/redemptions", caller,
                             headers={"Idempotency-Key": key or uuid.uuid4().hex})

    def verify(self, code: str, staff: Caller | None = None, **headers: str):
        return self.api.post("/api/v1/merchant/redemptions/verify", staff or self.staff,
                             json={"code": code}, headers=headers)

    def snapshot(self, reward_id: int, *user_ids: int) -> dict:
        """Everything a refusal must leave alone."""
        with self.app.app_context():
            reward = db.session.get(Reward, reward_id)
            return {
                "stock_left": reward.stock_left if reward else None,
                "redemptions": db.session.execute(
                    select(Redemption.id, Redemption.status).order_by(Redemption.id)).all(),
                "holds": db.session.execute(select(Hold.id, Hold.status).order_by(Hold.id)).all(),
                "journal": db.session.scalar(select(func.count(LedgerTransaction.id))),
                "balances": {u: ledger.summary(u) for u in user_ids},
            }

    def balance(self, user_id: int) -> dict:
        with self.app.app_context():
            s = ledger.summary(user_id)
            return {k: s[k] for k in ("available", "held", "posted")}

    def stock_left(self, reward_id: int) -> int:
        with self.app.app_context():
            return db.session.get(Reward, reward_id).stock_left

    def settled(self, merchant_id: int | None = None) -> int:
        """Points captured to the merchant's settlement account."""
        with self.app.app_context():
            account = ledger.merchant_settlement_account_id(merchant_id or self.merchant_id)
            points = ledger.account_balance(account)
            db.session.commit()
            return points


@pytest.fixture
def world(app: Flask, api: Api) -> World:
    admin = make_caller(app, "citizen", "admin")
    w = World(app, api, admin, 0, admin)
    w.merchant_id, w.staff = w.merchant("绿色超市 Green Mart")
    return w


@pytest.fixture
def at(monkeypatch) -> Callable[[datetime], None]:
    """Move the clock of every rewards module that reads it (the expiry job's too)."""
    from app.rewards import (
        jobs,
        listing,
        management,
        redemption,
        release,
        settlements,
        verification,
    )

    def move(moment: datetime) -> None:
        for module in (listing, management, redemption, release, settlements, jobs,
                       verification):
            monkeypatch.setattr(module, "utcnow", lambda: moment)

    return move
