"""PIPL rights of the citizen: a copy of everything held on them, and erasure.

Erasure anonymises instead of deleting rows: the ledger must stay balanced and
verifiable, and merchants' settlements and the carbon statistics keep their history.
What identifies the person (login, name, evidence, partner pseudonyms, cached responses,
where and when they were) goes; the user id remains as an anonymous key of that history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select, update

from app.audit import service as audit
from app.audit.models import AuditEvent
from app.auth.models import RevokedToken
from app.auth.passwords import verify_password
from app.behaviours import service as behaviours
from app.behaviours.models import Behaviour
from app.db_types import utcnow
from app.extensions import db
from app.http.idempotency import IdempotencyKey
from app.http.problems import ApiError
from app.ledger import service as ledger
from app.merchants.models import MerchantStaff
from app.methodology import service as methodologies
from app.partners import service as partners
from app.partners.models import PartnerLink, PartnerLinkCode
from app.rewards import service as rewards
from app.rewards.models import Redemption, RewardRevision
from app.sql import on_postgresql
from app.users.models import User, UserRole
from app.users.service import refuse_last_admin

ERASED_NAME = "已注销用户"
UNUSABLE_PASSWORD = "!erased"  # not an Argon2 hash: no password can ever match it
ERASED_BEFORE_REVIEW = "account erased before review"
# behaviours.reject and .reverse copy the reviewer's free text into the reasons after these.
_REVIEW_TEXT = ("rejected on review: ", "reversed: ")


def export(user: User) -> dict[str, Any]:
    """Everything the platform holds on the user (dumped by ExportSchema)."""
    def all_of(stmt) -> list:
        return db.session.scalars(stmt).all()

    return {
        "exported_at": utcnow(),
        "profile": user,
        "account": ledger.summary(user.id),
        "ledger_entries": all_of(ledger.entries(user.id)),
        "behaviours": all_of(behaviours.list_for(user.id)),
        "redemptions": all_of(rewards.user_redemptions(user.id)),
        "partner_links": all_of(partners.my_links(user)),
        "partner_link_codes": all_of(select(PartnerLinkCode)
                                     .where(PartnerLinkCode.user_id == user.id)
                                     .order_by(PartnerLinkCode.created_at)),
        "merchant_staff": all_of(select(MerchantStaff).where(MerchantStaff.user_id == user.id)),
        # What they did as staff: verifying another's redemption (their own cancellations
        # end theirs, listed above).
        "verified_redemptions": all_of(select(Redemption).where(
            Redemption.ended_by == user.id, Redemption.user_id != user.id)
            .order_by(Redemption.id)),
        "reward_revisions": [
            {"id": r.id, "reward_id": r.reward_id, "kind": r.kind, "status": r.status,
             "changes": r.changes, "proposed_at": r.proposed_at,
             "proposed_by_you": r.proposed_by == user.id, "decided_at": r.decided_at,
             "decided_by_you": r.decided_by == user.id, "reason": r.reason}
            for r in all_of(select(RewardRevision).where(or_(
                RewardRevision.proposed_by == user.id, RewardRevision.decided_by == user.id))
                .order_by(RewardRevision.id))],
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
    refuse_last_admin(user)
    # The user's row first: a partner batch share-locks it (with the links) before it
    # takes the ledger lock, so taking them in the same order cannot deadlock with one.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    # The user's ledger lock, which a review takes too: an approval waits and then finds
    # its queued behaviour rejected, or finishes first and its credit is anonymised below.
    ledger.lock_book(user.id)
    # Reserved redemptions are given back first, through the normal path: the holds are
    # released in the ledger and the stock restored.
    rewards.give_back_all(user)
    _anonymise_behaviours(user.id)
    for model in (PartnerLink, PartnerLinkCode, RevokedToken, MerchantStaff, IdempotencyKey,
                  UserRole):
        db.session.execute(delete(model).where(model.user_id == user.id))
    now = utcnow()
    # A reserved-domain placeholder (RFC 2606) keeps the row's one-login rule.
    user.email, user.mobile = f"erased-{user.id}@example.invalid", None
    user.display_name = ERASED_NAME
    user.password_hash = UNUSABLE_PASSWORD
    user.token_epoch += 1  # every token of the account stops working now
    user.disabled_at = user.disabled_at or now
    user.deleted_at = now
    audit.record(user.id, "user.erased", "user", user.id)
    db.session.flush()
    db.session.expire(user, ["roles"])


def _anonymise_behaviours(user_id: int) -> None:
    """Each behaviour keeps what the accounting needs, as its methodology decides.

    The data is reduced by `Methodology.anonymise` (what is kept still recomputes to the
    stored reduction); evidence, the partner's record id (which the partner maps to its own
    user), the reference of a claim made elsewhere (the other mechanism's id, which may lead
    to the person there) and the reviewer's free text go; the span shrinks to the moment
    the behaviour is dated to, which is all the day's caps and the version in force need.
    A self-report still queued for review is rejected: a deleted account can earn nothing.
    """
    registry = methodologies.registry()
    rows = db.session.execute(
        select(Behaviour.id, Behaviour.methodology, Behaviour.data, Behaviour.status,
               Behaviour.reasons, Behaviour.occurred_at, Behaviour.claimed_elsewhere)
        .where(Behaviour.user_id == user_id)).all()
    changes = []
    for id_, code, data, status, reasons, occurred_at, claim in rows:
        # A methodology no longer loaded cannot say what is safe to keep: nothing is.
        kept = registry.get(code).anonymise(data) if code in registry else {}
        reasons = [next((prefix.removesuffix(": ") for prefix in _REVIEW_TEXT
                         if reason.startswith(prefix)), reason) for reason in reasons]
        if status == "pending_review":
            status, reasons = "rejected", [*reasons, ERASED_BEFORE_REVIEW]
        changes.append({"user_id": user_id, "id": id_, "data": kept, "evidence": None,
                        "external_id": None, "review_note": None, "status": status,
                        "reasons": reasons, "window_start": occurred_at,
                        "window_end": occurred_at,
                        "claimed_elsewhere": claim and {"mechanism": claim["mechanism"]}})
    if changes:
        # One UPDATE by primary key, (user_id, id), for all rows (an executemany).
        db.session.execute(update(Behaviour), changes)
