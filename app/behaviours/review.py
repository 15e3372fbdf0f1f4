"""An administrator's decisions on a behaviour: approve or reject a self-report queued for
review, or reverse a credit. Each holds the user's ledger lock, as judging does."""

from __future__ import annotations

from sqlalchemy import select

from app import ledger
from app.behaviours import totals
from app.behaviours.crediting import credit, decide_credit, decided, span
from app.behaviours.models import Behaviour
from app.behaviours.nearby import Nearby
from app.behaviours.rates import rate_of
from app.behaviours.reading import owner
from app.db_types import utcnow
from app.extensions import db
from app.http.problems import ApiError
from app.methodology import service as methodology
from app.methodology.models import MethodologyVersion
from app.users.models import User


def _locked_for_review(behaviour_id: int, expected: str) -> tuple[Behaviour, ledger.Book]:
    """The behaviour, read under its owner's ledger lock. The request names it by id alone:
    the owner is found first (owner()), then the lock, then the row among the owner's,
    overwriting any copy the session read before the lock."""
    user_id = owner(behaviour_id)
    book = ledger.lock_book(user_id)
    behaviour = db.session.scalar(select(Behaviour).where(
        Behaviour.user_id == user_id, Behaviour.id == behaviour_id)
        .execution_options(populate_existing=True))
    if behaviour.status != expected:
        raise ApiError(409, f"This behaviour is {behaviour.status}, not {expected}.",
                       slug="behaviour-state")
    return behaviour, book


def _reviewed(behaviour: Behaviour, actor: User, note: str | None) -> None:
    behaviour.reviewed_by, behaviour.reviewed_at = actor.id, utcnow()
    behaviour.review_note = note


def _finish(behaviour: Behaviour, status: str, reasons: list[str]) -> Behaviour:
    decided(behaviour, status, reasons)
    db.session.flush()
    return behaviour


def approve(actor: User, behaviour_id: int, note: str | None) -> Behaviour:
    """Credit a self-report that was queued for review (caps apply as of now)."""
    behaviour, book = _locked_for_review(behaviour_id, "pending_review")
    _reviewed(behaviour, actor, note)
    version = db.session.get(MethodologyVersion, behaviour.methodology_version_id)
    cls = methodology.release(version)
    if version.status not in methodology.CREDITING:
        return _finish(behaviour, "rejected", [f"methodology version is now {version.status}"])
    nearby, _ = Nearby.read([span(behaviour)])
    decide_credit(cls, methodology.typed_values(cls, version), behaviour,
                  nearby.around(behaviour, cls))
    if behaviour.status == "credited":
        credit([behaviour], {behaviour.user_id: book})
    db.session.flush()
    return behaviour


def reject(actor: User, behaviour_id: int, reason: str) -> Behaviour:
    behaviour, _book = _locked_for_review(behaviour_id, "pending_review")
    _reviewed(behaviour, actor, reason)
    return _finish(behaviour, "rejected", [f"rejected on review: {reason}"])


def reverse(actor: User, behaviour_id: int, reason: str) -> Behaviour:
    """Take back a credited behaviour's points through a ledger reversal."""
    behaviour, book = _locked_for_review(behaviour_id, "credited")
    _reviewed(behaviour, actor, reason)
    if behaviour.ledger_tx_id is not None:
        # The reviewer's words go on the behaviour, which an erasure reduces; the ledger
        # is append-only and keeps its reason for good, so it only points there.
        ledger.reverse(behaviour.ledger_tx_id, key=f"behaviour:{behaviour.id}:reversal",
                       reason=f"behaviour {behaviour.id} reversed on review",
                       actor_id=actor.id, book=book)
    elif behaviour.credited_g:  # credited below a whole point: only the reduction counted
        ledger.count_reduction(book, -behaviour.credited_g)
    totals.take_back(behaviour.user_id, rate_of(behaviour), behaviour.credited_g,
                     behaviour.points)
    return _finish(behaviour, "reversed", [*behaviour.reasons, f"reversed: {reason}"])
