"""Merchant operations. They flush; the caller's unit of work commits."""

from __future__ import annotations

from sqlalchemy import delete, func, or_, select

from app.audit import service as audit
from app.db_types import utcnow
from app.extensions import db
from app.http.problems import ApiError
from app.merchants.models import ACTIVE, SUSPENDED, Merchant, MerchantStaff
from app.users import service as users
from app.users.models import User


def _name_taken(name: str, merchant_id: int | None = None) -> None:
    # Both sides folded by the database, one fold for both (see app.extensions on SQLite).
    stmt = select(Merchant.id).where(func.lower(Merchant.name) == func.lower(name))
    if merchant_id is not None:
        stmt = stmt.where(Merchant.id != merchant_id)
    if db.session.scalar(stmt) is not None:
        raise ApiError(409, "A merchant with this name already exists.",
                       slug="merchant-exists",
                       errors={"name": ["Already taken."]})


def create(actor: User, *, name: str, contact: str, status: str = ACTIVE) -> Merchant:
    _name_taken(name)
    merchant = Merchant(name=name, contact=contact, status=status,
                        suspended_at=utcnow() if status == SUSPENDED else None)
    db.session.add(merchant)
    db.session.flush()
    audit.record(actor.id, "merchant.created", "merchant", merchant.id, name=name,
                 status=status)
    return merchant


def get(merchant_id: int) -> Merchant:
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None:
        raise ApiError.not_found("merchant")
    return merchant


def search(*, q: str | None = None, status: str | None = None):
    stmt = select(Merchant).order_by(Merchant.id)
    if q:
        # ILIKE folds both sides in the database (on SQLite: lower() on each).
        stmt = stmt.where(or_(Merchant.name.ilike(f"%{q}%"), Merchant.contact.ilike(f"%{q}%")))
    if status:
        stmt = stmt.where(Merchant.status == status)
    return stmt


def update(actor: User, merchant: Merchant, **fields: str) -> Merchant:
    if "name" in fields:
        _name_taken(fields["name"], merchant.id)
    changed = {k: v for k, v in fields.items() if getattr(merchant, k) != v}
    for key, value in changed.items():
        setattr(merchant, key, value)
    if changed:
        audit.record(actor.id, "merchant.updated", "merchant", merchant.id, **changed)
        db.session.flush()
    return merchant


def suspend(actor: User, merchant: Merchant, reason: str | None = None) -> Merchant:
    """Hide the merchant's rewards and refuse its verifications until reinstated."""
    if merchant.status != SUSPENDED:
        merchant.status = SUSPENDED
        merchant.suspended_at = utcnow()
        audit.record(actor.id, "merchant.suspended", "merchant", merchant.id, reason=reason)
        db.session.flush()
    return merchant


def reinstate(actor: User, merchant: Merchant) -> Merchant:
    if merchant.status != ACTIVE:
        merchant.status = ACTIVE
        merchant.suspended_at = None
        audit.record(actor.id, "merchant.reinstated", "merchant", merchant.id)
        db.session.flush()
    return merchant


# -- staff ------------------------------------------------------------------------------

def staff(merchant: Merchant):
    return (select(MerchantStaff).where(MerchantStaff.merchant_id == merchant.id)
            .order_by(MerchantStaff.user_id))


def add_staff(actor: User, merchant: Merchant, user: User) -> MerchantStaff:
    """Link an account to the merchant and grant it the `merchant` role."""
    link = db.session.get(MerchantStaff, user.id)
    if link is not None and link.merchant_id != merchant.id:
        raise ApiError(409, "This account is already staff of another merchant; remove it "
                       "there first.", slug="staff-of-other-merchant")
    if link is None:
        link = MerchantStaff(user_id=user.id, merchant_id=merchant.id, added_by=actor.id)
        db.session.add(link)
        audit.record(actor.id, "merchant.staff_added", "merchant", merchant.id,
                     user_id=user.id)
    users.grant_role(actor, user, "merchant")
    db.session.flush()
    return link


def remove_staff(actor: User, merchant: Merchant, user: User) -> None:
    """Unlink an account from the merchant and revoke its `merchant` role."""
    link = db.session.get(MerchantStaff, user.id)
    if link is None or link.merchant_id != merchant.id:
        raise ApiError(404, "This account is not staff of this merchant.", slug="not-found")
    users.revoke_role(actor, user, "merchant")  # removes the link with the role (audited)


def forget_staff(user_id: int) -> None:
    """Erasure: the account leaves its merchant's staff (its roles go with the account)."""
    db.session.execute(delete(MerchantStaff).where(MerchantStaff.user_id == user_id))


def staff_link(user_id: int) -> MerchantStaff | None:
    return db.session.get(MerchantStaff, user_id)


def merchant_of(user_id: int) -> Merchant | None:
    return db.session.scalar(select(Merchant).join(
        MerchantStaff, MerchantStaff.merchant_id == Merchant.id)
        .where(MerchantStaff.user_id == user_id))


def for_staff(user: User, *, active: bool = False) -> Merchant:
    """The merchant a staff account acts for; with active=True it must not be suspended."""
    merchant = merchant_of(user.id)
    if merchant is None:
        raise ApiError(403, "This account is not staff of any merchant.",
                       slug="not-merchant-staff")
    if active and not merchant.active:
        raise ApiError(403, "Your merchant is suspended; this is not possible until an "
                       "administrator reinstates it.", slug="merchant-suspended")
    return merchant
