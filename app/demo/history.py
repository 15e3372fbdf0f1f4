"""The demo's history: a linked data partner, and citizens who already have points.

A newcomer logs in as a demo citizen and finds credited trips and meals, a self-report
waiting for review, points of which one lot expires within days, and (Li Lei) a reserved
reward whose code the demo staff can verify. Everything goes through the domains' service
functions, with times relative to now. Each citizen's history is written once: a reseed
keeps it (the ledger is append-only) and only issues a new partner key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app import behaviours, ledger, rewards
from app.db_types import utcnow
from app.extensions import db
from app.localtime import local_date, local_midnight
from app.partners import service as partners
from app.partners.models import Partner
from app.uow import unit_of_work
from app.users.models import User

DEMO_PARTNER = "城市地铁与食堂 City Metro & Canteens (demo)"
PARTNER_METHODOLOGIES = ["green_travel", "clean_plate", "recycling", "paperless"]
CARRIED_OVER_POINTS = 300
CARRIED_OVER_DAYS_LEFT = 5


@dataclass
class DemoPartner:
    name: str
    key_id: str
    secret: str


def partner_with_fresh_key(admin_email: str) -> DemoPartner:
    """The demo partner, with a new key whose secret is printed; older keys are revoked, as
    demo passwords are replaced on every run."""
    with unit_of_work():
        admin = _user(admin_email)
        partner = db.session.scalar(select(Partner).where(Partner.name == DEMO_PARTNER))
        if partner is None:
            partner, key, secret = partners.create(admin, name=DEMO_PARTNER,
                                                   methodologies=PARTNER_METHODOLOGIES)
        else:
            key, secret, _ = partners.rotate_key(admin, partner)
            for old in [k for k in partner.keys if k.key_id != key.key_id]:
                partners.revoke_key(admin, partner, old.key_id)
        return DemoPartner(partner.name, key.key_id, secret)


def user_ref(email: str) -> str:
    """The demo partner's own id for a demo citizen (its card number, say)."""
    return "demo-card-" + email.split("@", 1)[0].replace(".", "-")


def seed_citizen(email: str, *, admin_email: str, reward_id: int | None = None
                 ) -> str | None:
    """Link the citizen to the demo partner and, the first time, give them a history.
    Returns the code of the reward reserved for them, if any."""
    with unit_of_work():
        admin, citizen = _user(admin_email), _user(email)
        partner = db.session.scalar(select(Partner).where(Partner.name == DEMO_PARTNER))
        ref = user_ref(email)
        if partners.resolve_user(partner.id, ref) != citizen.id:
            code, _ = partners.new_link_code(citizen)
            partners.bind(partner, code, ref)
        if db.session.scalar(behaviours.list_for(citizen.id).limit(1)) is not None:
            return None  # the history is there already
        now = utcnow()
        partners.submit_batch(partner, _partner_records(ref, now))
        behaviours.submit(user_id=citizen.id, methodology="paperless",
                          occurred_at=now - timedelta(hours=5),
                          data={"kind": "e_invoice", "sheets": 2},
                          evidence={"note": "电子发票 e-invoice for a bookshop purchase (demo)"},
                          source="self_report")  # a self-report: it waits for review
        expires = local_midnight(local_date(now) + timedelta(days=CARRIED_OVER_DAYS_LEFT))
        ledger.adjust(citizen.id, CARRIED_OVER_POINTS, key="demo-carried-over",
                      reason="Points carried over from the city's pilot scheme (demo)",
                      actor_id=admin.id, lot_expires_at=expires)
        if reward_id is None:
            return None
        return rewards.redeem(citizen.id, reward_id, request_key="demo-reserved").code


def _partner_records(ref: str, now: datetime) -> list[dict[str, Any]]:
    """Metro trips over the last three days and two finished canteen meals."""
    def at(hours_ago: float) -> str:
        return (now - timedelta(hours=hours_ago)).isoformat()

    trips = [{"external_id": f"{ref}-trip-{n}", "user_ref": ref, "methodology": "green_travel",
              "occurred_at": at(24 * n + 2), "data": {"mode": "metro", "distance_km": km}}
             for n, km in ((1, "12.4"), (2, "8.7"), (3, "15.1"))]
    meal = {"external_id": f"{ref}-meal-1", "user_ref": ref, "methodology": "clean_plate",
            "occurred_at": at(20), "data": {"meals": 2, "canteen_id": "demo-canteen-1"}}
    return [*trips, meal]


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))
