"""A citizen's behaviours when their account is erased: kept for the accounting, reduced to
what identifies no one. The account's erasure (app/privacy) calls this under the user's
ledger lock."""

from __future__ import annotations

from sqlalchemy import select, update

from app.behaviours.models import Behaviour
from app.extensions import db
from app.methodology import service as methodology

ERASED_BEFORE_REVIEW = "account erased before review"
# review.reject and review.reverse copy the reviewer's free text into the reasons after these.
_REVIEW_TEXT = ("rejected on review: ", "reversed: ")


def forget_user(user_id: int) -> None:
    """Each behaviour keeps what the accounting needs, as its methodology decides.

    The data is reduced by `Methodology.anonymise` (what is kept still recomputes to the
    stored reduction); evidence, the partner's record id (which the partner maps to its own
    user), the reference of a claim made elsewhere (the other mechanism's id, which may lead
    to the person there) and the reviewer's free text go; the span shrinks to the moment
    the behaviour is dated to, which is all the day's caps and the version in force need.
    A self-report still queued for review is rejected: a deleted account can earn nothing.
    """
    registry = methodology.registry()
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
