"""Reading behaviours: one by id, a citizen's list, the review queue and the administrators'
lists, and the behaviour a ledger credit was made for."""

from __future__ import annotations

from sqlalchemy import Select, select

from app.behaviours.models import Behaviour
from app.extensions import db
from app.http.problems import ApiError
from app.ledger.models import LedgerTransaction
from app.sharding import fan_out


def owner(behaviour_id: int) -> int:
    """Whose behaviour this is, for a request that names it by id alone (an
    administrator's): one index probe per shard. 404 if there is none."""
    with fan_out("owner-probe"):
        user_id = db.session.scalar(select(Behaviour.user_id).where(Behaviour.id == behaviour_id))
    if user_id is None:
        raise ApiError.not_found("behaviour")
    return user_id


def get(behaviour_id: int, user_id: int | None = None) -> Behaviour:
    """The behaviour among `user_id`'s (404 if it is not theirs), or, without a user, among
    its owner's, found first (owner())."""
    if user_id is None:
        user_id = owner(behaviour_id)
    behaviour = db.session.scalar(select(Behaviour).where(
        Behaviour.user_id == user_id, Behaviour.id == behaviour_id))
    if behaviour is None:
        raise ApiError.not_found("behaviour")
    return behaviour


def list_for(user_id: int, *, status: str | None = None,
             methodology: str | None = None) -> Select:
    stmt = select(Behaviour).where(Behaviour.user_id == user_id).order_by(Behaviour.id.desc())
    if status:
        stmt = stmt.where(Behaviour.status == status)
    if methodology:
        stmt = stmt.where(Behaviour.methodology == methodology)
    return stmt


def review_queue(methodology: str | None = None) -> Select:
    stmt = (select(Behaviour).where(Behaviour.status == "pending_review")
            .order_by(Behaviour.id))
    if methodology:
        stmt = stmt.where(Behaviour.methodology == methodology)
    return stmt


def list_all(status: str, methodology: str | None = None) -> Select:
    stmt = select(Behaviour).where(Behaviour.status == status).order_by(Behaviour.id.desc())
    if methodology:
        stmt = stmt.where(Behaviour.methodology == methodology)
    return stmt


def earned_by(tx_id: int) -> int | None:
    """The behaviour whose credit is this ledger transaction, if one is.

    The transaction is named by id alone (an administrator's reversal): its row, read by
    an owner probe, says whose it is; the behaviour is then read among that user's."""
    with fan_out("owner-probe"):
        tx = db.session.execute(select(
            LedgerTransaction.user_id, LedgerTransaction.cause_type, LedgerTransaction.cause_id)
            .where(LedgerTransaction.id == tx_id)).first()
    if tx is None or tx.cause_type != "behaviour" or not (tx.cause_id or "").isdigit():
        return None
    return db.session.scalar(select(Behaviour.id).where(
        Behaviour.user_id == tx.user_id, Behaviour.id == int(tx.cause_id),
        Behaviour.ledger_tx_id == tx_id))
