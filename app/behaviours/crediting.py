"""A behaviour's credit: the self-report policy and the daily caps decide the grams, the
user's running totals (totals.py) the points, and the ledger is posted in the same
transaction. Judging a new record and approving a queued one both end here."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import current_app

from app import ledger
from app.behaviours import rates, totals
from app.behaviours.drafts import Draft
from app.behaviours.models import Behaviour
from app.behaviours.nearby import Neighbours
from app.behaviours.reporting import Report
from methodologies.base import Methodology


def span(r: Report | Behaviour) -> tuple[int, date, datetime, datetime]:
    """Where the user's neighbouring behaviours are read (Nearby.read)."""
    return r.user_id, r.local_date, r.window_start, r.window_end


def decided(behaviour: Behaviour | Draft, status: str,
            reasons: list[str]) -> Behaviour | Draft:
    behaviour.status, behaviour.reasons = status, reasons
    return behaviour


def decide_credit(cls: type[Methodology], params: dict[str, Any],
                  behaviour: Behaviour | Draft, near: Neighbours) -> Behaviour | Draft:
    """Apply the self-report discount and both daily caps: credited (with points) or capped."""
    this_methodology, all_methodologies = near.credited_g_this, near.credited_g_all
    grams = cls.apply_policy(behaviour.reduction_g, params, source=behaviour.source,
                             credited_today_g=this_methodology)
    room = Decimal(current_app.config["DAILY_CAP_G"]) - all_methodologies
    grams = min(grams, max(room, Decimal(0)))
    reasons = []
    if behaviour.source == "self_report" and params["self_report_policy"] == "discount":
        reasons.append(f"self-report credited at {params['self_report_factor']} of the "
                       "reduction")
    if grams <= 0 < behaviour.reduction_g:
        return decided(behaviour, "capped", ["daily cap reached: recorded without points"])
    behaviour.conversion_rate_id = rates.conversion_rate(behaviour.occurred_at).id
    behaviour.credited_g = grams
    behaviour.points = 0  # set when it is posted (credit): it depends on the user's totals
    return decided(behaviour, "credited", reasons)


def credit(credited: list[Behaviour | Draft], books: dict[int, ledger.Book]) -> None:
    """Give the credited behaviours their points from the users' running totals (in the
    order given), post them to the ledger, and count the reduction of those earning none."""
    totals.award((b, rates.rate_of(b)) for b in credited)
    _earn([b for b in credited if b.points > 0], books)
    for b in credited:
        if b.points == 0 and b.credited_g > 0:
            ledger.count_reduction(books[b.user_id], b.credited_g)


def _earn(behaviours: list[Behaviour | Draft], books: dict[int, ledger.Book]) -> None:
    """Post the credited behaviours' points to the ledger (one write) and link each earn."""
    if not behaviours:
        return
    txs = ledger.earn_many([
        ledger.Earning(b.user_id, b.points, key=f"behaviour:{b.id}", cause_type="behaviour",
                       cause_id=str(b.id), reduction_g=b.credited_g) for b in behaviours],
        books)
    for behaviour, tx in zip(behaviours, txs, strict=True):
        behaviour.ledger_tx_id = tx.id
