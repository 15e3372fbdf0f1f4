"""Reading behaviours: one by id, a citizen's list, the review queue and the administrators'
lists, and the behaviour a ledger credit was made for."""

from __future__ import annotations

from sqlalchemy import Select, select

from app.behaviours.models import Behaviour
from app.extensions import db
from app.http.problems import ApiError
from app.ledger.models import LedgerTransaction


def get(behaviour_id: int) -> Behaviour:
    behaviour = db.session.get(Behaviour, behaviour_id)
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
    """The behaviour whose credit is this ledger transaction, if one is."""
    tx = db.session.get(LedgerTransaction, tx_id)
    if tx is None or tx.cause_type != "behaviour" or not (tx.cause_id or "").isdigit():
        return None
    return db.session.scalar(select(Behaviour.id).where(
        Behaviour.id == int(tx.cause_id), Behaviour.ledger_tx_id == tx_id))
