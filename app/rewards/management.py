"""Rewards as merchants manage them and administrators review them.

A merchant creates and edits its rewards; what citizens are shown (REVIEWED_FIELDS) waits
in a revision until an administrator approves or rejects it. Functions flush; the caller's
unit of work commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import selectinload

from app.audit import service as audit
from app.db_types import utcnow
from app.extensions import db
from app.http.problems import ApiError
from app.merchants.models import Merchant
from app.rewards.models import (
    APPROVED,
    PENDING,
    REJECTED,
    REVIEWED_FIELDS,
    SUPERSEDED,
    Reward,
    RewardRevision,
)
from app.users.models import User


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def managed_rewards(*, merchant_id: int | None = None, listed: bool | None = None,
                    pending: bool | None = None) -> Select:
    stmt = select(Reward).options(selectinload(Reward.pending_revisions)).order_by(
        Reward.id.desc())
    if merchant_id is not None:
        stmt = stmt.where(Reward.merchant_id == merchant_id)
    if listed is not None:
        stmt = stmt.where(Reward.listed_at.is_not(None) if listed else Reward.listed_at.is_(None))
    if pending is not None:
        has = Reward.pending_revisions.any()
        stmt = stmt.where(has if pending else ~has)
    return stmt


def managed_reward(reward_id: int, merchant: Merchant | None = None) -> Reward:
    """A reward by id; with `merchant`, only one of that merchant's (others: 404)."""
    reward = db.session.get(Reward, reward_id)
    if reward is None or (merchant is not None and reward.merchant_id != merchant.id):
        raise ApiError.not_found("reward")
    return reward


def _reviewed_values(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) if isinstance(v, datetime) else v
            for k, v in data.items() if k in REVIEWED_FIELDS}


def _propose(reward: Reward, kind: str, changes: dict[str, Any], actor: User,
             now: datetime) -> RewardRevision | None:
    """Replace the pending revision (if any) by one with `changes` (none if empty).

    The proposer decides the superseded one: their new edit replaced it.
    """
    db.session.execute(update(RewardRevision).where(
        RewardRevision.reward_id == reward.id, RewardRevision.status == PENDING)
        .values(status=SUPERSEDED, decided_by=actor.id, decided_at=now))
    revision = None
    if changes:
        revision = RewardRevision(reward_id=reward.id, kind=kind, status=PENDING,
                                  changes=changes, proposed_by=actor.id, proposed_at=now)
        db.session.add(revision)
    db.session.flush()
    db.session.expire(reward, ["pending_revisions"])
    return revision


def create_reward(actor: User, merchant: Merchant, data: dict[str, Any],
                  now: datetime | None = None) -> Reward:
    """A new reward: unlisted until an administrator approves it."""
    now = now or utcnow()
    data = dict(data)
    data.setdefault("available_from", now)
    _check_window(data["available_from"], data.get("available_until"), now)
    reward = Reward(merchant_id=merchant.id, created_by=actor.id, created_at=now,
                    stock_left=data["total_stock"], **data)
    db.session.add(reward)
    db.session.flush()
    _propose(reward, "create", _reviewed_values(
        {k: getattr(reward, k) for k in REVIEWED_FIELDS}), actor, now)
    return reward


def _check_window(start: datetime, end: datetime | None, now: datetime) -> None:
    if end is not None and end <= start:
        raise ApiError(422, "available_until must be after available_from.",
                       slug="validation-error",
                       errors={"available_until": ["Must be after available_from."]})
    if end is not None and end <= now:
        raise ApiError(422, "The availability window is already over.",
                       slug="validation-error",
                       errors={"available_until": ["Must be in the future."]})


def _redeemed_count(reward: Reward) -> int:
    return reward.total_stock - reward.stock_left


def _apply_at_once(actor: User, reward: Reward, values: dict[str, Any]) -> None:
    """Set fields that need no approval. No revision records these, so the audit log does:
    who changed which fields, from what to what."""
    changed = {k: v for k, v in values.items() if getattr(reward, k) != v}
    if not changed:
        return
    previous = {k: getattr(reward, k) for k in changed}
    for key, value in changed.items():
        setattr(reward, key, value)
    audit.record(actor.id, "reward.updated", "reward", reward.id, changes=changed,
                 previous=previous)


def update_reward(actor: User, merchant: Merchant, reward_id: int, data: dict[str, Any],
                  now: datetime | None = None) -> Reward:
    """Edit a reward. Reviewed fields of a listed reward wait for approval; others apply now.

    An unlisted reward takes every edit at once and is (re)submitted for approval whole.
    """
    now = now or utcnow()
    reward = db.session.scalar(select(Reward).where(Reward.id == reward_id)
                            .with_for_update(key_share=True))
    if reward is None or reward.merchant_id != merchant.id:
        raise ApiError.not_found("reward")
    direct = {k: v for k, v in data.items() if k not in REVIEWED_FIELDS}
    reviewed = {k: v for k, v in data.items() if k in REVIEWED_FIELDS}
    if not reward.listed:
        start = reviewed.get("available_from", reward.available_from)
        end = reviewed.get("available_until", reward.available_until)
        _check_window(start, end, now)
        _apply_at_once(actor, reward, direct)
        for key, value in reviewed.items():  # recorded by the revision proposed below
            setattr(reward, key, value)
        reward.stock_left = reward.total_stock
        db.session.flush()
        _propose(reward, "create", _reviewed_values(
            {k: getattr(reward, k) for k in REVIEWED_FIELDS}), actor, now)
        return reward
    _apply_at_once(actor, reward, direct)
    if reviewed:
        pending = reward.pending
        merged = dict(pending.changes) if pending else {}
        merged.update(_reviewed_values(reviewed))
        listed = _reviewed_values({k: getattr(reward, k) for k in REVIEWED_FIELDS})
        merged = {k: v for k, v in merged.items() if _from_json(k, v) != _from_json(k, listed[k])}
        proposed = {k: _from_json(k, merged.get(k, listed[k])) for k in REVIEWED_FIELDS}
        if "available_from" in merged or "available_until" in merged:
            _check_window(proposed["available_from"], proposed["available_until"], now)
        if proposed["total_stock"] < _redeemed_count(reward):
            raise ApiError(422, f"{_redeemed_count(reward)} are already reserved or redeemed; "
                           "the stock cannot be lower.", slug="validation-error",
                           errors={"total_stock": ["Below what is already redeemed."]})
        _propose(reward, "change", merged, actor, now)
    db.session.flush()
    return reward


def _from_json(key: str, value: Any) -> Any:
    return _from_iso(value) if key in ("available_from", "available_until") else value


def revisions(*, status: str | None = None, merchant_id: int | None = None,
              reward_id: int | None = None) -> Select:
    stmt = select(RewardRevision).order_by(RewardRevision.id)
    if status:
        stmt = stmt.where(RewardRevision.status == status)
    if reward_id is not None:
        stmt = stmt.where(RewardRevision.reward_id == reward_id).order_by(None).order_by(
            RewardRevision.id.desc())
    if merchant_id is not None:
        stmt = stmt.join(RewardRevision.reward).where(Reward.merchant_id == merchant_id)
    return stmt


def user_revisions(user_id: int) -> Select:
    """Revisions the user proposed or decided, in id order: their part in the review of
    rewards, for the copy of what the platform holds on them."""
    return select(RewardRevision).where(or_(
        RewardRevision.proposed_by == user_id, RewardRevision.decided_by == user_id)
    ).order_by(RewardRevision.id)


def _claim_revision(actor: User, revision_id: int, status: str, now: datetime,
                    reason: str | None = None) -> RewardRevision:
    revision = db.session.get(RewardRevision, revision_id)
    if revision is None:
        raise ApiError.not_found("revision")
    # The reward's row before the revision's, the order of an edit (which supersedes the
    # pending revision under it): the other order deadlocked with an edit of the reward.
    db.session.execute(select(Reward.id).where(Reward.id == revision.reward_id)
                       .with_for_update(key_share=True))
    claimed = db.session.execute(update(RewardRevision).where(
        RewardRevision.id == revision_id, RewardRevision.status == PENDING)
        .values(status=status, decided_by=actor.id, decided_at=now, reason=reason))
    if claimed.rowcount != 1:
        db.session.refresh(revision)
        raise ApiError(409, f"This revision was already {revision.status}.",
                       slug="revision-decided")
    db.session.refresh(revision)
    return revision


def approve(actor: User, revision_id: int, now: datetime | None = None) -> RewardRevision:
    """Apply a pending revision to the reward; a new reward is listed by its first approval."""
    now = now or utcnow()
    revision = _claim_revision(actor, revision_id, APPROVED, now)
    reward = revision.reward
    changes = {k: _from_json(k, v) for k, v in revision.changes.items()}
    start = changes.get("available_from", reward.available_from)
    end = changes.get("available_until", reward.available_until)
    if end is not None and end <= start:
        raise ApiError(409, "The proposed window ends before it starts.", slug="invalid-window")
    values: dict[str, Any] = {k: v for k, v in changes.items() if k != "total_stock"}
    stmt = update(Reward).where(Reward.id == reward.id)
    if "total_stock" in changes:
        # Stock moves by the difference, and never below what is already taken.
        new_total = changes["total_stock"]
        left = Reward.stock_left + (new_total - Reward.total_stock)
        values.update(total_stock=new_total, stock_left=left)
        stmt = stmt.where(left >= 0)
    values["listed_at"] = reward.listed_at or now
    values["updated_at"] = now
    if db.session.execute(stmt.values(**values)).rowcount != 1:
        raise ApiError(409, "More are already reserved or redeemed than the proposed stock.",
                       slug="stock-below-redeemed")
    db.session.refresh(reward)
    audit.record(actor.id, "reward.revision_approved", "reward", reward.id,
                 revision_id=revision.id, changes=revision.changes)
    db.session.flush()
    return revision


def reject(actor: User, revision_id: int, reason: str,
           now: datetime | None = None) -> RewardRevision:
    """Refuse a revision: the listed version (if any) stays as it is."""
    now = now or utcnow()
    revision = _claim_revision(actor, revision_id, REJECTED, now, reason)
    audit.record(actor.id, "reward.revision_rejected", "reward", revision.reward_id,
                 revision_id=revision.id, reason=reason)
    db.session.flush()
    return revision
