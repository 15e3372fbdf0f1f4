"""Account operations. They flush; the caller's unit of work commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select

from app import ledger
from app.audit import service as audit
from app.auth.passwords import hash_password, verify_password
from app.db_types import utcnow
from app.extensions import db
from app.http.problems import ApiError
from app.merchants.models import MerchantStaff
from app.users.models import ROLES, User, UserRole
from app.users.schemas import normalize_email, normalize_mobile

ERASED_NAME = "已注销用户"
UNUSABLE_PASSWORD = "!erased"  # not an Argon2 hash: no password can ever match it


def _check_unique(email: str | None, mobile: str | None) -> None:
    clauses = []
    if email:
        clauses.append(User.email == email)
    if mobile:
        clauses.append(User.mobile == mobile)
    taken = db.session.scalars(select(User).where(or_(*clauses))).all()
    errors = {}
    for user in taken:
        if email and user.email == email:
            errors["email"] = ["This email address is already registered."]
        if mobile and user.mobile == mobile:
            errors["mobile"] = ["This mobile number is already registered."]
    if errors:
        raise ApiError(409, "The account already exists.", slug="account-exists", errors=errors)


def register(*, password: str, email: str | None = None, mobile: str | None = None,
             display_name: str | None = None, roles: tuple[str, ...] = ("citizen",),
             granted_by: int | None = None) -> User:
    _check_unique(email, mobile)
    user = User(email=email, mobile=mobile, password_hash=hash_password(password),
                display_name=display_name or _default_display_name(email, mobile))
    user.roles = [UserRole(role=r, granted_by=granted_by) for r in roles]
    db.session.add(user)
    # A concurrent registration of the same login fails here with IntegrityError: 409.
    db.session.flush()
    if "citizen" in roles:
        ledger.open_books([user.id])  # points accounts now, not in the first earn's batch
    return user


def _default_display_name(email: str | None, mobile: str | None) -> str:
    if email:
        return email.split("@")[0][:64]
    return f"用户{mobile[-4:]}" if mobile else "user"


def find_by_login(identifier: str) -> User | None:
    identifier = identifier.strip()
    if "@" in identifier:
        return db.session.scalar(select(User).where(User.email == normalize_email(identifier)))
    return db.session.scalar(select(User).where(User.mobile == normalize_mobile(identifier)))


def get(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise ApiError.not_found("user")
    return user


def lock(user_id: int) -> None:
    """Hold the user's row (FOR UPDATE) until the unit of work ends."""
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update())


def rehash_password(user: User, password: str) -> None:
    """The same password under the current hashing parameters (after a login proved it)."""
    user.password_hash = hash_password(password)


def update_profile(user: User, *, display_name: str | None = None,
                   password: str | None = None, old_password: str | None = None) -> User:
    if display_name is not None:
        user.display_name = display_name
    if password is not None:
        if not verify_password(user.password_hash, old_password or ""):
            raise ApiError(403, "The current password is wrong.", slug="wrong-password",
                           errors={"old_password": ["Wrong password."]})
        user.password_hash = hash_password(password)
        user.token_epoch += 1
    db.session.flush()
    return user


def search(*, q: str | None = None, role: str | None = None, disabled: bool | None = None):
    stmt = select(User).order_by(User.id)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(or_(User.email.like(like), User.mobile.like(like),
                              User.display_name.ilike(like)))
    if role:
        stmt = stmt.where(User.roles.any(UserRole.role == role))
    if disabled is not None:
        stmt = stmt.where(User.disabled_at.is_not(None) if disabled else User.disabled_at.is_(None))
    return stmt


def _active_admin_count() -> int:
    return db.session.scalar(
        select(func.count(User.id)).where(User.roles.any(UserRole.role == "admin"),
                                          User.disabled_at.is_(None)))


def refuse_last_admin(user: User) -> None:
    if user.has_role("admin") and not user.disabled and _active_admin_count() <= 1:
        raise ApiError(409, "This is the last active administrator.", slug="last-admin")


def valid_role(role: str) -> str:
    if role not in ROLES:
        raise ApiError(404, f"No such role; roles are {', '.join(ROLES)}.", slug="not-found")
    return role


# The `merchant` role and a merchant_staff link come and go together: the role alone acts
# for no merchant, and a link without the role would keep the account on a staff list
# (and off every other merchant's) while it can do nothing there.

def _staff_link(user: User) -> MerchantStaff | None:
    # A query, not session.get: it flushes a link added in this unit of work first.
    return db.session.scalar(select(MerchantStaff).where(MerchantStaff.user_id == user.id))


def grant_role(actor: User, user: User, role: str) -> User:
    """Grant a role; `merchant` only to staff of a merchant (merchants.add_staff links them)."""
    if role == "merchant" and not user.has_role(role) and _staff_link(user) is None:
        raise ApiError(409, "The merchant role comes with a merchant: add the account to its "
                       "staff (PUT /api/v1/admin/merchants/{merchant_id}/staff/"
                       f"{user.id}).", slug="merchant-role-needs-staff")
    if not user.has_role(role):
        user.roles.append(UserRole(role=role, granted_by=actor.id))
        audit.record(actor.id, "user.role_granted", "user", user.id, role=role)
        db.session.flush()
    return user


def revoke_role(actor: User, user: User, role: str) -> User:
    """Revoke a role; revoking `merchant` also removes the account from its merchant's staff."""
    if role == "admin":
        refuse_last_admin(user)
    if role == "merchant" and (link := _staff_link(user)) is not None:
        db.session.delete(link)
        audit.record(actor.id, "merchant.staff_removed", "merchant", link.merchant_id,
                     user_id=user.id)
    kept = [r for r in user.roles if r.role != role]
    if len(kept) != len(user.roles):
        user.roles = kept
        audit.record(actor.id, "user.role_revoked", "user", user.id, role=role)
    db.session.flush()
    return user


def disable(actor: User, user: User) -> User:
    if user.disabled:
        return user
    refuse_last_admin(user)
    user.disabled_at = utcnow()
    # Every session and token ends for good (ASVS 7.4.2): enabling the account again does
    # not revive them; the user signs in anew.
    user.token_epoch += 1
    audit.record(actor.id, "user.disabled", "user", user.id)
    db.session.flush()
    return user


def enable(actor: User, user: User) -> User:
    if user.disabled:
        user.disabled_at = None
        audit.record(actor.id, "user.enabled", "user", user.id)
        db.session.flush()
    return user


def anonymise(user: User, now: datetime) -> None:
    """Erasure of the account itself: no login, name, password or role is left, and every
    token of it stops working; the row stays as the anonymous key of the user's history."""
    db.session.execute(delete(UserRole).where(UserRole.user_id == user.id))
    # A reserved-domain placeholder (RFC 2606) keeps the row's one-login rule.
    user.email, user.mobile = f"erased-{user.id}@example.invalid", None
    user.display_name = ERASED_NAME
    user.password_hash = UNUSABLE_PASSWORD
    user.token_epoch += 1
    user.disabled_at = user.disabled_at or now
    user.deleted_at = now
    db.session.flush()
    db.session.expire(user, ["roles"])
