"""PIPL rights of the citizen: a copy of everything held on them, and erasure.

Erasure anonymises instead of deleting rows: the ledger must stay balanced and
verifiable, and merchants' settlements and the carbon statistics keep their history.
What identifies the person (login, name, evidence, partner pseudonyms, cached responses,
where and when they were) goes; the user id remains as an anonymous key of that history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from app import behaviours, ledger, rewards
from app.audit import service as audit
from app.audit.models import AuditEvent
from app.auth import service as auth
from app.auth.passwords import verify_password
from app.db_types import utcnow
from app.extensions import db
from app.http import idempotency
from app.http.problems import ApiError
from app.merchants import service as merchants
from app.partners import service as partners
from app.sharding import fan_out
from app.sql import on_postgresql
from app.users import service as users
from app.users.models import User


def export(user: User) -> dict[str, Any]:
    """Everything the platform holds on the user (dumped by ExportSchema)."""
    def all_of(stmt) -> list:
        return db.session.scalars(stmt).all()

    # What they did as staff: verifying another's redemption (their own cancellations end
    # theirs, listed with their redemptions), whichever user made it.
    with fan_out("staff-export"):
        verified = all_of(rewards.verified_redemptions(user.id))
    return {
        "exported_at": utcnow(),
        "profile": user,
        "account": ledger.summary(user.id),
        "ledger_entries": all_of(ledger.entries(user.id)),
        "behaviours": all_of(behaviours.list_for(user.id)),
        "redemptions": all_of(rewards.user_redemptions(user.id)),
        "partner_links": all_of(partners.my_links(user)),
        "partner_link_codes": all_of(partners.my_link_codes(user)),
        "merchant_staff": [link] if (link := merchants.staff_link(user.id)) else [],
        "verified_redemptions": verified,
        "reward_revisions": [
            {"id": r.id, "reward_id": r.reward_id, "kind": r.kind, "status": r.status,
             "changes": r.changes, "proposed_at": r.proposed_at,
             "proposed_by_you": r.proposed_by == user.id, "decided_at": r.decided_at,
             "decided_by_you": r.decided_by == user.id, "reason": r.reason}
            for r in all_of(rewards.user_revisions(user.id))],
        "audit_events": [
            {"action": e.action, "target_type": e.target_type, "target_id": e.target_id,
             "details": e.details, "at": e.at, "by_you": e.actor_id == user.id}
            for e in all_of(select(AuditEvent).where(or_(
                AuditEvent.actor_id == user.id,
                (AuditEvent.target_type == "user") & (AuditEvent.target_id == str(user.id)),
                _names_user(user.id)))
                .order_by(AuditEvent.id))],
    }


def _names_user(user_id: int):
    """The audit event's details name this user (merchant.staff_added, staff_removed)."""
    named = AuditEvent.details["user_id"]
    # PostgreSQL's ->> gives text, which a cast to integer would fail on for a non-number;
    # SQLite's json_extract gives the JSON number itself.
    if on_postgresql():
        return named.as_string() == str(user_id)
    return named.as_integer() == user_id


def erase(user: User, password: str) -> None:
    """Delete the account: personal data erased, history kept under the anonymous id."""
    if not verify_password(user.password_hash, password):
        raise ApiError(403, "The password is wrong.", slug="wrong-password",
                       errors={"password": ["Wrong password."]})
    users.refuse_last_admin(user)
    # The user's row first: a partner batch share-locks it (with the links) before it
    # takes the ledger lock, so taking them in the same order cannot deadlock with one.
    users.lock(user.id)
    # The user's ledger lock, which a review takes too: an approval waits and then finds
    # its queued behaviour rejected, or finishes first and its credit is anonymised below.
    ledger.lock_book(user.id)
    # Reserved redemptions are given back first, through the normal path: the holds are
    # released in the ledger and the stock restored.
    rewards.forget_user(user)
    behaviours.forget_user(user.id)
    # Each domain forgets what it holds on the person, through its own function.
    partners.forget_user(user.id)
    auth.forget_user(user.id)
    merchants.forget_staff(user.id)
    idempotency.forget_user(user.id)
    users.anonymise(user, utcnow())
    audit.record(user.id, "user.erased", "user", user.id)
    db.session.flush()

