"""A shop with a listed reward and citizens' reserved codes, made through the services
(as the API would): for console tests, browser journeys and the screenshot script."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

from flask import Flask

from app import ledger, rewards
from app.extensions import db
from app.merchants import service as merchants
from app.rewards.schemas import RewardCreateSchema
from app.uow import unit_of_work
from app.users import service as users
from app.users.models import User
from tests.helpers import PASSWORD

_seq = itertools.count(1)


@dataclass
class Shop:
    app: Flask
    merchant_id: int
    admin_id: int
    staff_email: str
    staff_id: int
    reward_id: int

    def code(self, points: int = 500) -> str:
        """A new citizen's reserved redemption of the shop's reward: its code."""
        with self.app.app_context(), unit_of_work():
            citizen = users.register(email=f"shopper{next(_seq)}-{uuid.uuid4().hex[:6]}"
                                     "@example.com", password=PASSWORD)
            ledger.earn(citizen.id, points, key=f"shop-{uuid.uuid4().hex}",
                        cause_type="behaviour")
            reservation = rewards.redeem(citizen.id, self.reward_id,
                                         request_key=uuid.uuid4().hex)
            return reservation.code

    def status_of(self, code: str) -> str:
        with self.app.app_context():
            merchant = merchants.get(self.merchant_id)
            return rewards.merchant_code(merchant, code).status


def open_shop(app: Flask, *, name: str | None = None, staff_email: str | None = None,
              title_zh: str = "低碳咖啡一杯", title_en: str = "A low-carbon coffee",
              points_price: int = 100) -> Shop:
    """A merchant with one staff account (password PASSWORD) and one listed reward."""
    n = next(_seq)
    with app.app_context(), unit_of_work():
        admin = db.session.scalar(db.select(User).where(User.roles.any(role="admin")))
        admin = admin or users.register(email=f"shop-admin{n}-{uuid.uuid4().hex[:6]}"
                                        "@example.com", password=PASSWORD, roles=("admin",))
        staff = users.register(email=staff_email or f"staff{n}-{uuid.uuid4().hex[:6]}"
                               "@example.com", password=PASSWORD, roles=("merchant",))
        merchant = merchants.create(admin, name=name or f"绿色咖啡 {n}-{uuid.uuid4().hex[:4]}",
                                    contact="025-8888 0000")
        merchants.add_staff(admin, merchant, staff)
        reward = rewards.create_reward(staff, merchant, RewardCreateSchema().load({
            "title_zh": title_zh, "title_en": title_en, "category": "food_drink",
            "points_price": points_price, "total_stock": 100}))
        for revision in db.session.scalars(rewards.revisions(status="pending",
                                                             reward_id=reward.id)):
            rewards.approve(admin, revision.id)
        return Shop(app, merchant.id, admin.id, staff.email, staff.id, reward.id)
