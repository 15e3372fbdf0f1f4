"""Property-based: random sequences of ledger operations never break an invariant.

A simple model (plain integers per user) runs beside the real ledger; after every step
`verify()` must find nothing and the balances must match the model.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import select

from app import ledger
from app.db_types import utcnow
from app.extensions import db
from app.http.problems import ApiError
from app.ledger.models import Lot
from app.ledger.verify import verify
from app.uow import unit_of_work
from app.users import service as users
from tests.helpers import PASSWORD

_keys = itertools.count(1)
_emails = itertools.count(1)


class LedgerMachine(RuleBasedStateMachine):
    app: Flask  # set by the test before running

    @initialize()
    def setup(self):
        self.ctx = self.app.app_context()
        self.ctx.push()
        with unit_of_work():
            self.users = [users.register(email=f"prop{next(_emails)}@example.com",
                                         password=PASSWORD).id for _ in range(2)]
        self.model = {u: {"available": 0, "held": 0, "debt": 0} for u in self.users}
        self.holds: dict[int, tuple[int, int]] = {}  # hold id -> (user, amount)
        self.earns: list[tuple[int, int, int]] = []  # (tx id, user, points)
        self.clock_days = 0

    def teardown(self):
        if hasattr(self, "ctx"):
            self.ctx.pop()

    def key(self) -> str:
        return f"p{next(_keys)}"

    @rule(who=st.integers(0, 1), points=st.integers(1, 60), days=st.sampled_from([1, 3, 365]))
    def earn(self, who, points, days):
        u = self.users[who]
        self.app.config["POINTS_VALIDITY_DAYS"] = days
        with unit_of_work():
            tx = ledger.earn(u, points, key=self.key(), cause_type="behaviour")
        self.earns.append((tx.id, u, points))
        m = self.model[u]
        settle = min(points, m["debt"])
        m["debt"] -= settle
        m["available"] += points - settle

    @rule(who=st.integers(0, 1), points=st.integers(1, 80))
    def hold(self, who, points):
        u = self.users[who]
        m = self.model[u]
        try:
            with unit_of_work():
                h = ledger.hold(u, points, key=self.key(), cause_type="redemption")
        except ApiError as err:
            assert err.slug == "insufficient-points" and points > m["available"]
            return
        assert points <= m["available"]
        self.holds[h.id] = (u, points)
        m["available"] -= points
        m["held"] += points

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), partial=st.booleans())
    def capture(self, data, partial):
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        u, amount = self.holds.pop(hold_id)
        take = data.draw(st.integers(1, amount)) if partial else amount
        with unit_of_work():
            ledger.capture(hold_id, merchant_id=1, amount=take, key=self.key())
        self._unheld(u, amount, amount - take)

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def release(self, data):
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        u, amount = self.holds.pop(hold_id)
        with unit_of_work():
            ledger.release(hold_id, key=self.key())
        self._unheld(u, amount, amount)

    def _unheld(self, u, amount, back):
        """A hold of `amount` ends with `back` points unspent: they settle debt first."""
        m = self.model[u]
        settle = min(back, m["debt"])
        m["held"] -= amount
        m["debt"] -= settle
        m["available"] += back - settle

    @rule(days=st.integers(1, 4))
    def expire(self, days):
        self.clock_days += days
        now = utcnow() + timedelta(days=self.clock_days)
        for u in self.users:
            with unit_of_work():
                gone = ledger.expire_user_lots(u, now)
            self.model[u]["available"] -= gone
            assert self.model[u]["available"] >= 0

    @precondition(lambda self: self.earns)
    @rule(data=st.data())
    def reverse(self, data):
        earned = data.draw(st.sampled_from(self.earns))
        self.earns.remove(earned)
        tx_id, u, points = earned
        m = self.model[u]
        # The model does not track lots one by one; how much of this earn expired is read
        # from its lot (expiry's total is checked by the model at every `expire`).
        lapsed = db.session.scalar(select(Lot.expired_amount)
                                   .where(Lot.transaction_id == tx_id)) or 0
        with unit_of_work():
            rev = ledger.reverse(tx_id, key=self.key(), reason="property test", actor_id=None)
        # The expired part is gone already; what is still there is taken back; the spent
        # rest becomes debt.
        taken = min(points - lapsed, m["available"])
        assert rev.available_delta == -taken
        m["available"] -= taken
        m["debt"] += points - lapsed - taken

    @invariant()
    def ledger_is_consistent(self):
        if not hasattr(self, "users"):
            return
        assert verify() == []
        for u in self.users:
            s = ledger.summary(u)
            m = self.model[u]
            assert (s["available"], s["held"]) == (m["available"], m["held"]), (u, s, m)
            assert s["debt"] == m["debt"]
            assert s["available"] >= 0 and s["posted"] >= 0


def test_random_operation_sequences_keep_every_invariant(app):
    LedgerMachine.app = app
    LedgerMachine.TestCase.settings = settings(
        max_examples=25, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    LedgerMachine.TestCase().runTest()
